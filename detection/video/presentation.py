"""A scored clip as the pages show it: the timeline chart's geometry, the frame strip, the driving faces.

Computed here rather than in templates or JavaScript so that the chart is plain server-rendered SVG: it
reads without scripts, prints, and is swapped in whole when the page refreshes itself.
"""
from django.urls import reverse

from ..presentation import band, score_percent

WIDTH, HEIGHT = 720, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 12, 28
STRIP_FRAMES = 12
DRIVING_FACES = 3


def _x(t, duration):
    return PAD_LEFT + (WIDTH - PAD_LEFT - PAD_RIGHT) * (t / duration if duration else 0)


def _y(p):
    return PAD_TOP + (HEIGHT - PAD_TOP - PAD_BOTTOM) * (1 - p)


def _score(p, detection):
    version = detection.model_version
    return score_percent(p, detection.threshold, version.uncertain_band)


def chart(submission, detection):
    """Geometry of the per-frame score chart: the line, each point, the threshold and the uncertain band."""
    duration = submission.duration_seconds or max((f["t"] for f in detection.timeline), default=1.0) or 1.0
    half = detection.model_version.uncertain_band
    points = [
        {
            "x": round(_x(f["t"], duration), 1), "y": round(_y(f["probability"]), 1), "t": f["t"], "index": f["index"],
            "band": band(f["probability"], detection.threshold, half), "score": _score(f["probability"], detection),
        }
        for f in detection.timeline
    ]
    ticks = _time_ticks(duration)
    return {
        "width": WIDTH, "height": HEIGHT,
        "left": PAD_LEFT, "right": WIDTH - PAD_RIGHT, "top": PAD_TOP, "bottom": HEIGHT - PAD_BOTTOM,
        "plot_width": WIDTH - PAD_LEFT - PAD_RIGHT, "label_x": PAD_LEFT - 6, "tick_y": HEIGHT - 8,
        "line": " ".join(f"{p['x']},{p['y']}" for p in points),
        "points": points,
        "threshold_y": round(_y(detection.threshold), 1),
        "band_top": round(_y(min(1.0, detection.threshold + half)), 1),
        "band_height": round(_y(max(0.0, detection.threshold - half)) - _y(min(1.0, detection.threshold + half)), 1),
        "threshold": score_percent(detection.threshold, detection.threshold, half),
        "x_ticks": [{"x": round(_x(t, duration), 1), "label": _clock(t)} for t in ticks],
        "y_ticks": [{"y": round(_y(p), 1), "label": f"{int(p * 100)}%"} for p in (0, 0.5, 1)],
        "duration": duration,
    }


def _time_ticks(duration):
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300) if duration / s <= 8), 600)
    ticks, t = [], 0.0
    while t <= duration + 1e-9:
        ticks.append(round(t, 3))
        t += step
    return ticks


def _clock(seconds):
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}" if seconds % 1 else f"{int(minutes)}:{int(secs):02d}"


def strip(submission, detection, count=STRIP_FRAMES):
    """Up to `count` sampled frames spread over the clip, each with its score and time."""
    timeline = detection.timeline
    if len(timeline) > count:
        timeline = [timeline[round(i * (len(timeline) - 1) / (count - 1))] for i in range(count)]
    half = detection.model_version.uncertain_band
    return [
        {
            "url": reverse("detection:video-frame", args=[submission.pk, f["index"]]), "t": f["t"], "clock": _clock(f["t"]),
            "score": _score(f["probability"], detection), "band": band(f["probability"], detection.threshold, half),
            "faces": len(f["faces"]),
        }
        for f in timeline
    ]


def driving_faces(submission, detection, heatmaps=(), count=DRIVING_FACES):
    """The most suspicious tracks: each with its best face's crop, heatmap (when computed), time and scores."""
    half = detection.model_version.uncertain_band
    with_heatmap = {f.get("track") for f in heatmaps}
    result = []
    for track in detection.tracks[:count]:
        best = track["best"]
        result.append({
            "id": track["id"], "frames": track["frames"], "start": _clock(track["start"]), "end": _clock(track["end"]),
            "t": best["t"], "clock": _clock(best["t"]),
            "score": _score(track["probability"], detection), "band": band(track["probability"], detection.threshold, half),
            "best_score": _score(best["probability"], detection),
            "face_url": reverse("detection:video-face", args=[submission.pk, track["id"]]),
            "frame_url": reverse("detection:video-frame", args=[submission.pk, best["index"]]),
            "heatmap_url": reverse("detection:video-face-heatmap", args=[submission.pk, track["id"]])
            if track["id"] in with_heatmap else None,
        })
    return result


def page(submission, detection):
    """Everything the video parts of the submission and review pages show."""
    evidence = getattr(submission, "evidence", None)
    heatmaps = (evidence.heatmap.get("faces") or []) if evidence is not None and evidence.heatmap else []
    result = {"poster_url": reverse("detection:video-poster", args=[submission.pk]),
              "clip_url": reverse("detection:video-clip", args=[submission.pk])}
    if detection is not None and detection.timeline:
        half = detection.model_version.uncertain_band
        result.update(
            chart=chart(submission, detection),
            strip=strip(submission, detection),
            driving=driving_faces(submission, detection, heatmaps),
            tracks=[{**t, "score": _score(t["probability"], detection), "band": band(t["probability"], detection.threshold, half),
                     "start_clock": _clock(t["start"]), "end_clock": _clock(t["end"])} for t in detection.tracks],
            segments=[{**s, "score": _score(s["probability"], detection), "mean_score": _score(s["mean"], detection),
                       "band": band(s["probability"], detection.threshold, half),
                       "label": f"{_clock(s['start'])}–{_clock(s['end'])}"} for s in detection.segments],
        )
    return result
