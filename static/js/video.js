// The clip's page: selecting a point of the timeline, a segment, a face or a frame plays the clip from that moment.
// Delegated from the document, so it keeps working when status.js swaps in a fresh copy of the timeline.
(function () {
  "use strict";
  function seek(target) {
    var el = target.closest("[data-time]");
    var player = document.getElementById("video-player");
    if (!el || !player) return;
    player.currentTime = parseFloat(el.dataset.time);
    player.scrollIntoView({ block: "nearest" });
    var played = player.play();
    if (played && played.catch) played.catch(function () { /* autoplay refused: the frame is shown */ });
  }
  document.addEventListener("click", function (e) { if (e.target.closest("#video-result [data-time], #frame-strip [data-time]")) seek(e.target); });
  document.addEventListener("keydown", function (e) {
    if ((e.key === "Enter" || e.key === " ") && e.target.matches && e.target.matches("#timeline-chart [data-time]")) { e.preventDefault(); seek(e.target); }
  });
})();
