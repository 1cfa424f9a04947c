// Live status: polls the status endpoint for unfinished submissions and updates the page in place.
// The list swaps in each row's verdict cell as the server words it. The submission page, whenever the
// endpoint reports a change (scored, sent to review, decided), fetches itself and swaps in the parts named
// in data-refresh: the detector's verdict shows as soon as it exists, and the moderator's when it arrives.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var MAX_INTERVAL_MS = 30000;  // an item waiting for a moderator may wait hours: poll less and less often
  var delay = INTERVAL_MS;

  function unfinished() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-id][data-finished='0']"));
  }

  function badge(s) {
    var el = document.createElement("span");
    el.className = "badge " + s.status;
    el.textContent = s.status_display;
    return el;
  }

  function refreshFromPage(el) {
    return fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var freshEl = fresh.querySelector("[data-id='" + el.dataset.id + "']");
        if (!freshEl) return;
        (el.dataset.refresh || "").split(/\s+/).forEach(function (id) {
          var current = document.getElementById(id);
          var replacement = fresh.getElementById(id);
          if (current && replacement) current.replaceWith(document.importNode(replacement, true));
        });
        el.dataset.state = freshEl.dataset.state;
        el.dataset.finished = freshEl.dataset.finished;
        document.dispatchEvent(new CustomEvent("verity:refreshed"));
      });
  }

  function apply(s) {
    var el = document.querySelector("[data-id='" + s.id + "']");
    if (!el) return null;
    if (el.dataset.refresh) {
      return s.state !== el.dataset.state ? refreshFromPage(el) : null;
    }
    var status = el.querySelector(".status");
    if (status) status.replaceChildren(badge(s));
    var verdict = el.querySelector(".verdict-cell");
    if (verdict) verdict.innerHTML = s.verdict_html;  // rendered by our own template, escaped there
    el.dataset.finished = s.finished ? "1" : "0";
    return null;
  }

  function poll() {
    var rows = unfinished();
    if (!rows.length) return;
    var url = rows[0].closest("[data-status-url]").dataset.statusUrl;
    var ids = rows.map(function (r) { return r.dataset.id; }).join(",");
    fetch(url + "?ids=" + encodeURIComponent(ids), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { submissions: [] }; })
      .then(function (data) {
        var waitingForWorker = data.submissions.some(function (s) { return s.status === "queued" || s.status === "processing"; });
        delay = waitingForWorker ? INTERVAL_MS : Math.min(delay * 1.25, MAX_INTERVAL_MS);
        return Promise.all(data.submissions.map(apply));
      })
      .catch(function () { /* network hiccup: try again next tick */ })
      .finally(function () { if (unfinished().length) window.setTimeout(poll, delay); });
  }

  if (unfinished().length) window.setTimeout(poll, INTERVAL_MS);
})();
