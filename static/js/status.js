// Live status: polls the status endpoint for unfinished submissions and updates the page in place.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;

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
      .then(function (data) { data.submissions.forEach(apply); })
      .catch(function () { /* network hiccup: try again next tick */ })
      .finally(function () { if (unfinished().length) window.setTimeout(poll, INTERVAL_MS); });
  }

  if (unfinished().length) window.setTimeout(poll, INTERVAL_MS);
})();
