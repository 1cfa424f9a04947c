// Review pages: keyboard shortcuts (queue: N; item: 1-4, N, R, E, +/-) and image zoom.
// Single-key shortcuts are ignored while typing in a field, so that notes can be written freely.
(function () {
  "use strict";

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return el.isContentEditable || tag === "TEXTAREA" || tag === "SELECT" ||
      (tag === "INPUT" && !/^(radio|checkbox|button|submit)$/.test(el.type));
  }

  function submitWith(button) {
    if (!button) return;
    var form = button.form;
    if (form.requestSubmit) form.requestSubmit(button); else button.click();
  }

  // Zoom: scale the image inside a scrolling frame.
  var image = document.getElementById("review-image");
  var level = 1;
  function zoom(how) {
    if (!image) return;
    if (how === "in") level = Math.min(level * 1.5, 8);
    else if (how === "out") level = Math.max(level / 1.5, 1);
    else level = 1;
    image.style.width = (level * 100) + "%";
    image.style.maxWidth = level === 1 ? "100%" : "none";
    var out = document.getElementById("zoom-level");
    if (out) out.textContent = Math.round(level * 100) + "%";
  }
  document.querySelectorAll("[data-zoom]").forEach(function (b) {
    b.addEventListener("click", function () { zoom(b.dataset.zoom); });
  });

  var decisionForm = document.getElementById("decision-form");
  var note = decisionForm && decisionForm.querySelector("textarea[name=note]");
  var radios = decisionForm ? decisionForm.querySelectorAll("input[name=decision]") : [];

  // The note is required for anything but authentic: say so to the browser (the server checks too).
  function syncNoteRequired() {
    if (!note) return;
    var chosen = decisionForm.querySelector("input[name=decision]:checked");
    note.required = !!chosen && chosen.value !== "authentic";
  }
  Array.prototype.forEach.call(radios, function (r) { r.addEventListener("change", syncNoteRequired); });

  // Focus stays on the chosen decision, never in the note: otherwise N ("decide and next") would type "n"
  // into it. A note the decision needs is marked required, and Tab reaches it from the decision.
  function choose(index) {
    var radio = radios[index];
    if (!radio) return;
    radio.checked = true;
    radio.focus();
    syncNoteRequired();
    var help = document.getElementById("note-help");
    if (help && note) {
      if (!help.dataset.text) help.dataset.text = help.textContent;
      help.textContent = note.required && !note.value.trim()
        ? radio.parentElement.textContent.trim().replace(/\s*\d$/, "") + " needs a note: press Tab to write it, then Ctrl+Enter to decide and go on."
        : help.dataset.text;
    }
  }

  if (note) {
    note.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        submitWith(document.getElementById("decide-next"));
      }
    });
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    var key = e.key.toLowerCase();
    var claimNext = document.getElementById("claim-next");
    if (key === "n" && claimNext) {
      e.preventDefault();
      submitWith(claimNext.querySelector("button[type=submit]"));
    } else if (key === "n" && decisionForm) {
      e.preventDefault();
      submitWith(document.getElementById("decide-next"));
    } else if (/^[1-4]$/.test(key) && decisionForm) {
      e.preventDefault();
      choose(Number(key) - 1);
    } else if (key === "r" && document.getElementById("release-form")) {
      e.preventDefault();
      submitWith(document.querySelector("#release-form button"));
    } else if (key === "e" && document.getElementById("escalate")) {
      e.preventDefault();
      var details = document.getElementById("escalate");
      details.open = true;
      details.querySelector("textarea").focus();
    } else if ((key === "+" || key === "=") && image) {
      zoom("in");
    } else if (key === "-" && image) {
      zoom("out");
    } else if (key === "0" && image) {
      zoom("fit");
    }
  });
  // Keys pressed before this script ran did nothing: say when they work (tests wait for it too).
  document.documentElement.dataset.shortcuts = "on";
})();
