// Live status: polls the status endpoint for unfinished submissions and updates the page in place.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var MAX_INTERVAL_MS = 30000;  // an item waiting for a moderator may wait hours: poll less and less often
  var delay = INTERVAL_MS;

  function unfinished() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-id][data-finished='0']"));
  }

  function text(tag, cls, value) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = value;
    return el;
  }

  function verdictNodes(s) {
    var frag = document.createDocumentFragment();
    if (s.status === "scored") {
      var label = s.label === "fake" ? "Fake" : "Real";
      frag.appendChild(text("span", "verdict " + s.label + (s.uncertain ? " uncertain" : ""), label + (s.uncertain ? " (uncertain)" : "")));
      frag.appendChild(document.createTextNode(" "));
      frag.appendChild(text("span", "prob", s.probability.toFixed(3)));
      if (!s.model_trained) {
        frag.appendChild(document.createTextNode(" "));
        frag.appendChild(text("span", "tag warning", "untrained model"));
      }
    } else if (s.status === "failed") {
      var failed = text("span", "verdict failed", "Failed");
      failed.title = s.failure_reason;
      frag.appendChild(failed);
    } else {
      frag.appendChild(text("span", "muted", "—"));
    }
    if (s.decision_display) {
      frag.appendChild(document.createElement("br"));
      var decided = text("span", "verdict decision-" + s.final_verdict, "Moderator: " + s.decision_display);
      decided.title = "decided by " + (s.decided_by || "a moderator");
      frag.appendChild(decided);
    } else if (s.under_review) {
      frag.appendChild(document.createTextNode(" "));
      frag.appendChild(text("span", "badge under-review", "under review"));
    }
    return frag;
  }

  function apply(s) {
    var el = document.querySelector("[data-id='" + s.id + "']");
    if (!el) return;
    if (el.dataset.reload && s.finished) {
      window.location.reload();
      return;
    }
    var status = el.querySelector(".status");
    if (status) {
      status.replaceChildren(text("span", "badge " + s.status, s.status_display));
    }
    var verdict = el.querySelector(".verdict-cell");
    if (verdict) verdict.replaceChildren(verdictNodes(s));
    el.dataset.finished = s.finished ? "1" : "0";
  }

  function poll() {
    var rows = unfinished();
    if (!rows.length) return;
    var url = rows[0].closest("[data-status-url]").dataset.statusUrl;
    var ids = rows.map(function (r) { return r.dataset.id; }).join(",");
    fetch(url + "?ids=" + encodeURIComponent(ids), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { submissions: [] }; })
      .then(function (data) {
        data.submissions.forEach(apply);
        var waitingForWorker = data.submissions.some(function (s) { return s.status === "queued" || s.status === "processing"; });
        delay = waitingForWorker ? INTERVAL_MS : Math.min(delay * 1.25, MAX_INTERVAL_MS);
      })
      .catch(function () { /* network hiccup: try again next tick */ })
      .finally(function () { if (unfinished().length) window.setTimeout(poll, delay); });
  }

  if (unfinished().length) window.setTimeout(poll, INTERVAL_MS);
})();
