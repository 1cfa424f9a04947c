"""From frame and track scores to one probability for the clip: the rule, and the alternatives it was chosen over.

The rule (`RULE`, measured by bench/video_clips.py on clips made from the face dataset; the table is in the
model card): **the most suspicious face track decides**, a track scoring the mean of its most suspicious
half of frames (tracks.track_score). Tracks seen on a single sampled frame count only when no longer track
exists. A clip in which no face was found falls back to the mean of its top quarter of frame scores.

Why tracks rather than frames: one frame's score is noisy (blur, compression, a face half turned); a swap
shows on most frames of the swapped face's track, while a real face's occasional suspicious frame is outvoted
by the rest of its track. Why the most suspicious track: a clip with one swapped face among real ones is fake,
so averaging over faces would dilute exactly the case that matters.

Measured (40 clips, models/MODEL_CARD.md): frame-level ROC AUC 0.7925; video-level 0.8568 for this rule and
for the most suspicious frame, 0.8542 for the mean frame, 0.8385 for the top quarter of frames.
"""
import math

RULE = "top_track"
TOP_FRAME_SHARE = 0.25
SEGMENT_SECONDS = 5.0


def top_frames(scores, share=TOP_FRAME_SHARE):
    ranked = sorted(scores, reverse=True)
    top = ranked[: max(1, math.ceil(len(ranked) * share))]
    return sum(top) / len(top)


def combine(frame_scores, tracks, rule=RULE):
    """The clip's probability of being fake. `frame_scores`: each sampled frame's score; `tracks`: from follow_faces."""
    if not frame_scores:
        raise ValueError("no frame was scored")
    if rule == "max_frame":
        return max(frame_scores)
    if rule == "mean_frame":
        return sum(frame_scores) / len(frame_scores)
    if rule == "top_frames":
        return top_frames(frame_scores)
    if rule == "top_track":
        lasting = [t for t in tracks if t["frames"] > 1] or tracks
        if lasting:
            return max(t["probability"] for t in lasting)
        return top_frames(frame_scores)
    raise ValueError(f"unknown rule {rule!r}")


RULES = ("max_frame", "mean_frame", "top_frames", "top_track")


def segments(timeline, duration, length=SEGMENT_SECONDS):
    """The timeline cut into `length`-second windows: {"start", "end", "probability" (the highest), "mean", "frames"}."""
    count = max(1, math.ceil(duration / length - 1e-9))
    result = []
    for number in range(count):
        start, end = number * length, min(duration, (number + 1) * length)
        inside = [f["probability"] for f in timeline if start <= f["t"] < end or (number == count - 1 and f["t"] >= end)]
        if not inside:
            continue
        result.append(
            {"start": round(start, 3), "end": round(end, 3), "probability": round(max(inside), 6),
             "mean": round(sum(inside) / len(inside), 6), "frames": len(inside)}
        )
    return result
