// Evidence card: heatmap opacity slider, face boxes on and off, and a reload while evidence is being computed.
(function () {
  "use strict";
  var POLL_MS = 3000;
  var MAX_POLLS = 60;

  var slider = document.getElementById("heatmap-opacity");
  var overlay = document.getElementById("heatmap-overlay");
  var shown = document.getElementById("heatmap-opacity-value");
  if (slider && overlay) {
    var apply = function () {
      overlay.style.opacity = slider.value / 100;
      if (shown) shown.textContent = slider.value + "%";
    };
    slider.addEventListener("input", apply);
    apply();
  }

  var faces = document.getElementById("show-faces");
  var stage = document.getElementById("evidence-stage");
  if (faces && stage) {
    faces.addEventListener("change", function () {
      stage.classList.toggle("hide-faces", !faces.checked);
    });
  }

  var card = document.getElementById("evidence");
  if (card && card.dataset.evidencePending === "1") {
    var key = "evidence-polls:" + window.location.pathname;
    var polls = Number(window.sessionStorage.getItem(key) || 0);
    if (polls < MAX_POLLS) {
      window.sessionStorage.setItem(key, String(polls + 1));
      window.setTimeout(function () { window.location.reload(); }, POLL_MS);
    }
  } else if (card) {
    window.sessionStorage.removeItem("evidence-polls:" + window.location.pathname);
  }
})();
