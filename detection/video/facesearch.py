"""Where a clip's faces are looked for: the whole frame now and then, near the faces found in between.

Searching a 720p frame whole with the cascade (on its DETECT_SIDE copy) took about 0.1 s on the shared
2-core machine, and a minute sampled twice a second has 120 frames. Faces move little between samples half
a second apart, so only every VERITY_VIDEO_FULL_SEARCH_EVERY-th sampled frame (and the last) is searched whole; a frame
between is searched only in windows around the faces that the whole searches before and after it found
(FOLLOW_MARGIN face sides around each box, faces of SIZE_RANGE times its size), on the same scale, never
across a cut (tracks.is_cut): there a frame is followed from its own shot's side only, or searched whole.

What this gives up, and when: a face that appears and leaves again between two whole searches (under
VERITY_VIDEO_FULL_SEARCH_EVERY samples, 1.5 s by default) is missed; one that enters is found from the next whole search
on, and by its windows in the frames just before; a frame between two whole searches that found no face is
taken to have none. bench/video.py measures the time, bench/video_clips.py the ROC AUC with this search.
"""
import numpy as np
from django.conf import settings

from detection.forensics import faces
from detection.inference import crops

from . import tracks
from .tracks import iou

FOLLOW_MARGIN = 1.0
SIZE_RANGE = (0.6, 1.7)
# Windows per frame at most (one per face found nearby): a crowd is searched around its largest faces.
MAX_WINDOWS = 16
# Two boxes overlapping this much are one face found from two windows.
SAME_FACE_IOU = 0.3


def full_search_every():
    return max(1, int(getattr(settings, "VERITY_VIDEO_FULL_SEARCH_EVERY", 3)))


def search(images, detect_side, map_=map, signatures=None):
    """Face boxes (x, y, w, h in each image's pixels, largest first) for consecutive sampled frames.

    `map_` runs the searches (a thread pool's map: OpenCV releases the GIL); the whole searches first,
    then the frames between them. A whole search on the far side of a cut says nothing about a frame (the
    shot changed): such a frame is followed from the near side only, or searched whole when cuts fall on
    both sides. `signatures`: the frames' tracks.frame_signature, where the caller has them already.
    """
    count = len(images)
    if signatures is None:
        signatures = list(map_(tracks.frame_signature, images))
    cut_before = [i > 0 and tracks.is_cut(signatures[i - 1], signatures[i]) for i in range(count)]
    planned = {*range(0, count, full_search_every()), count - 1} if count else set()
    references = {}
    for i in sorted(set(range(count)) - planned):
        before = max(j for j in planned if j < i)
        after = min(j for j in planned if j > i)
        near = [j for j in (before, after) if not any(cut_before[min(i, j) + 1: max(i, j) + 1])]
        references[i] = near
    whole = sorted(planned | {i for i, near in references.items() if not near})
    found = dict(zip(whole, map_(lambda i: crops.find_face_boxes(images[i], detect_side), whole)))
    between = [i for i in range(count) if i not in found]
    found.update(zip(between, map_(
        lambda i: follow(images[i], [box for j in references[i] for box in found[j]], detect_side), between
    )))
    return [found[i] for i in range(count)]


def follow(image, known, detect_side):
    """Faces of `image` near the `known` boxes of frames close to it (nothing when there are none).

    The windows are cut from the same equalised grey copy a whole search uses, so a face looks the same
    to the cascade in both; only where it looks, and for which sizes, differs.
    """
    if not known:
        return []
    scale, small = crops.search_copy(image, detect_side)
    grey = faces.search_grey(small)
    height, width = grey.shape
    boxes = []
    for x, y, w, h in sorted(known, key=lambda b: b[2] * b[3], reverse=True)[:MAX_WINDOWS]:
        side = max(w, h) * scale
        margin = FOLLOW_MARGIN * side
        left, top = max(0, round(x * scale - margin)), max(0, round(y * scale - margin))
        right, bottom = min(width, round((x + w) * scale + margin)), min(height, round((y + h) * scale + margin))
        low = max(faces.MIN_FACE_PX, round(side * SIZE_RANGE[0]))
        high = max(low + 1, round(side * SIZE_RANGE[1]))
        if min(right - left, bottom - top) < low:
            continue
        window = np.ascontiguousarray(grey[top:bottom, left:right])
        hits = faces.faces_in_grey(window, low, high) or crops.fallback_faces_in_grey(window, low, high)
        boxes += [tuple(round(v / scale) for v in (left + bx, top + by, bw, bh)) for bx, by, bw, bh in hits]
    kept = []
    for box in sorted(boxes, key=lambda b: b[2] * b[3], reverse=True):
        if all(iou(box, other) < SAME_FACE_IOU for other in kept):
            kept.append(box)
    return kept
