// Evidence card: heatmap opacity slider, face boxes on and off, and in-place updates: while the evidence is
// being computed, and after "Compute the heatmap", the card fetches its page and swaps in the fresh card,
// so the heatmap appears without a reload (and nothing typed elsewhere on the page is lost).
(function () {
  "use strict";
  var POLL_MS = 2000;
  var MAX_POLLS = 90;

  function fetchCard() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) { return new DOMParser().parseFromString(html, "text/html").getElementById("evidence"); });
  }

  function swap(card, fresh) {
    var node = document.importNode(fresh, true);
    card.replaceWith(node);
    init(node);
  }

  // Poll until `done(freshCard)` says the card has what we wait for, then swap it in.
  function pollUntil(card, done, onGiveUp) {
    var polls = 0;
    function tick() {
      polls += 1;
      fetchCard()
        .then(function (fresh) {
          if (!document.body.contains(card)) return;  // replaced meanwhile (the verdict refresh swaps it too)
          if (fresh && done(fresh)) swap(card, fresh);
          else if (polls < MAX_POLLS) window.setTimeout(tick, POLL_MS);
          else if (onGiveUp) onGiveUp();
        })
        .catch(function () { if (polls < MAX_POLLS) window.setTimeout(tick, POLL_MS); });
    }
    window.setTimeout(tick, POLL_MS);
  }

  function init(card) {
    if (!card || card.dataset.ready) return;
    card.dataset.ready = "1";

    var slider = card.querySelector("#heatmap-opacity");
    var overlay = card.querySelector("#heatmap-overlay");
    var shown = card.querySelector("#heatmap-opacity-value");
    if (slider && overlay) {
      var apply = function () {
        overlay.style.opacity = slider.value / 100;
        if (shown) shown.textContent = slider.value + "%";
      };
      slider.addEventListener("input", apply);
      apply();
    }

    var faces = card.querySelector("#show-faces");
    var stage = card.querySelector("#evidence-stage");
    if (faces && stage) {
      faces.addEventListener("change", function () {
        stage.classList.toggle("hide-faces", !faces.checked);
      });
    }

    var request = card.querySelector("#heatmap-request");
    if (request) {
      request.addEventListener("submit", function (e) {
        e.preventDefault();
        var button = request.querySelector("button");
        var status = request.querySelector("#heatmap-request-status");
        button.disabled = true;
        button.textContent = "Computing the heatmap…";
        if (status) status.textContent = "This takes a few seconds; the heatmap will appear here.";
        card.setAttribute("aria-busy", "true");
        var failed = function () {
          button.disabled = false;
          button.textContent = "Compute the heatmap";
          card.removeAttribute("aria-busy");
          if (status) status.textContent = "The heatmap is not ready yet. Try again, or reload the page later.";
        };
        fetch(request.action, { method: "POST", body: new FormData(request), credentials: "same-origin" })
          .then(function (r) {
            if (!r.ok) throw new Error(String(r.status));
            pollUntil(card, function (fresh) { return fresh.dataset.heatmap !== "skipped"; }, failed);
          })
          .catch(failed);
      });
    }

    if (card.dataset.evidencePending === "1") {
      pollUntil(card, function (fresh) { return fresh.dataset.evidencePending !== "1"; });
    }
  }

  init(document.getElementById("evidence"));
  // The submission page swaps in a fresh evidence card when the verdict changes (status.js).
  document.addEventListener("verity:refreshed", function () { init(document.getElementById("evidence")); });
})();
