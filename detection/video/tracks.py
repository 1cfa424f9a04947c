"""Face tracks: the same face followed from one sampled frame to the next.

Matching is greedy on box overlap (IoU) between a track's last box and the new frame's faces, allowing a
face to be missed for up to MAX_MISSED_SAMPLES samples (a blink, a turn of the head, motion blur). Sampled
frames are half a second apart by default, so faces move; a centre within one box width also matches.
"""
import numpy as np

# A cut: consecutive sampled frames whose 16x9 grey thumbnails differ by more than this (mean, 0..1). Faces
# are never followed across a cut: after one, the same place in the frame usually holds someone else.
CUT_DIFFERENCE = 0.12
SIGNATURE_SIZE = (16, 9)
MIN_IOU = 0.2
MAX_MISSED_SAMPLES = 3
# A track's score: the mean of its most suspicious half of frames (at least one). A face swap shows on most
# of its frames; one blurred frame of a real face should not decide, nor one missed detection excuse.
TOP_SHARE = 0.5


def frame_signature(image):
    """A tiny grey thumbnail of a frame (a list of 144 ints), enough to tell a cut from camera motion."""
    return [int(v) for v in np.asarray(image.convert("L").resize(SIGNATURE_SIZE)).ravel()]


def is_cut(previous, signature):
    """Whether two consecutive sampled frames' signatures differ enough to be a cut."""
    return bool(previous and signature and len(signature) == len(previous) and
                sum(abs(a - b) for a, b in zip(signature, previous)) / (255 * len(signature)) > CUT_DIFFERENCE)


def mark_cuts(timeline):
    """Set "cut": True on each frame of `timeline` (with "signature") that differs enough from the one before."""
    previous = None
    for frame in timeline:
        signature = frame.get("signature") or []
        frame["cut"] = is_cut(previous, signature)
        previous = signature or previous
    return timeline


def frames_with_faces(timeline, has_faces):
    """The frames where faces were found, each marked "cut" when a cut fell since the previous such frame."""
    kept, cut = [], False
    for frame in timeline:
        cut = cut or frame.get("cut", False)
        if has_faces(frame):
            frame["cut"], cut = cut, False
            kept.append(frame)
    return kept


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _near(a, b):
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    dx, dy = (ax + aw / 2) - (bx + bw / 2), (ay + ah / 2) - (by + bh / 2)
    return (dx * dx + dy * dy) ** 0.5 < max(aw, bw) and 0.5 < (aw * ah) / max(bw * bh, 1e-9) < 2


def track_score(probabilities):
    ranked = sorted(probabilities, reverse=True)
    top = ranked[: max(1, round(len(ranked) * TOP_SHARE))]
    return sum(top) / len(top)


def follow_faces(timeline):
    """Give each face of `timeline` (list of {"index", "t", "faces": [{"box", "probability"}]}) a "track" id.

    A frame marked "cut" (mark_cuts) ends every track: no face is followed across it.

    Returns the tracks, most suspicious first: {"id", "probability", "frames", "start", "end",
    "best": {"index", "t", "box", "probability"}}. Mutates the faces in place (adds "track").
    """
    tracks, active = {}, []  # active: (track id, last box, last sample position)
    for position, frame in enumerate(timeline):
        if frame.get("cut"):
            active = []
        candidates = []
        for face_number, face in enumerate(frame["faces"]):
            for slot, (track_id, box, seen) in enumerate(active):
                if position - seen > MAX_MISSED_SAMPLES + 1:
                    continue
                overlap = iou(face["box"], box)
                if overlap >= MIN_IOU or _near(face["box"], box):
                    candidates.append((overlap, face_number, slot))
        taken_faces, taken_slots = set(), set()
        for _, face_number, slot in sorted(candidates, reverse=True):
            if face_number in taken_faces or slot in taken_slots:
                continue
            taken_faces.add(face_number)
            taken_slots.add(slot)
            frame["faces"][face_number]["track"] = active[slot][0]
        for face_number, face in enumerate(frame["faces"]):
            if face_number not in taken_faces:
                face["track"] = len(tracks) + 1
                tracks[face["track"]] = []
                active.append((face["track"], face["box"], position))
                taken_slots.add(len(active) - 1)
            tracks[face["track"]].append((frame, face))
        for slot, (track_id, box, seen) in enumerate(active):
            for face in frame["faces"]:
                if face["track"] == track_id:
                    active[slot] = (track_id, face["box"], position)
    result = []
    for track_id, members in tracks.items():
        best_frame, best_face = max(members, key=lambda m: m[1]["probability"])
        result.append(
            {
                "id": track_id,
                "probability": round(track_score([face["probability"] for _, face in members]), 6),
                "frames": len(members),
                "start": members[0][0]["t"],
                "end": members[-1][0]["t"],
                "best": {"index": best_frame["index"], "t": best_frame["t"], "box": best_face["box"],
                         "probability": best_face["probability"]},
            }
        )
    return sorted(result, key=lambda track: -track["probability"])
