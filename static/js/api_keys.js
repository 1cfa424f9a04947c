// The API keys page: copy a new key to the clipboard (it is shown only once).
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.dataset.copy);
    var result = document.getElementById("copy-result");
    function done(ok) {
      button.textContent = ok ? "Copied" : "Copy key";
      if (result) result.textContent = ok ? "The key is on your clipboard." : "Copying did not work here: select the key and copy it yourself.";
    }
    button.addEventListener("click", function () {
      field.focus();
      field.select();
      // The clipboard API needs a secure context (https or localhost); older browsers copy the selection.
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { done(true); }, function () { done(document.execCommand("copy")); });
      } else {
        done(document.execCommand("copy"));
      }
    });
  });
})();
