"""Faces: find them offline with OpenCV's bundled Haar cascade, score each crop, point at the most suspicious.

The detector was trained on face crops, so a face crop's score is the one to trust; with no face the
whole-image score is shown with a warning instead.
"""
import threading

import numpy as np
from PIL import ImageDraw

from .limits import setting

NO_FACE = "no face found: the detector's score is less reliable"
CASCADE = "haarcascade_frontalface_default.xml"
# A face smaller than this fraction of the image's short side is ignored: too small to judge, and an image
# tiled with thousands of tiny faces would otherwise cost thousands of crops.
MIN_FACE_FRACTION = 1 / 40
MIN_FACE_PX = 24
CROP_MARGIN = 0.2  # the training crops include some forehead, chin and background

_cascades = threading.local()


def max_scored():
    return int(setting("MAX_FACES_SCORED", 16))


def max_listed():
    return int(setting("MAX_FACES_LISTED", 50))


def cascade(name=CASCADE):
    """OpenCV's bundled cascade `name`, one per thread: a CascadeClassifier keeps the image it is searching
    inside itself, so two threads sharing one corrupt each other's results (measured: 26 of 60 frames
    searched in two threads found other faces than searched one after the other)."""
    loaded = getattr(_cascades, "by_name", None)
    if loaded is None:
        loaded = _cascades.by_name = {}
    if name not in loaded:
        import cv2

        classifier = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if classifier.empty():
            raise RuntimeError(f"OpenCV's {name} could not be loaded")
        loaded[name] = classifier
    return loaded[name]


def min_face_side(image):
    return max(MIN_FACE_PX, int(min(image.size) * MIN_FACE_FRACTION))


def find_faces(image):
    """Face boxes (x, y, w, h) in `image`'s pixels, largest first."""
    return faces_in_grey(search_grey(image), min_face_side(image))


def search_grey(image):
    """The copy of `image` the cascades search: grey, its histogram equalised."""
    import cv2

    return cv2.equalizeHist(cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY))


def faces_in_grey(grey, min_side, max_side=None, classifier=None, min_neighbours=5):
    """Face boxes (x, y, w, h) of `min_side` to `max_side` px in the array `grey` (search_grey), largest first."""
    sizes = {}
    if max_side:
        # Never larger than the array: OpenCV would plan scales it cannot evaluate and fail an assertion.
        max_side = min(max_side, *grey.shape[:2])
        if max_side < min_side:
            return []
        sizes = {"maxSize": (max_side, max_side)}
    boxes = (classifier or cascade()).detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=min_neighbours, minSize=(min_side, min_side), **sizes
    )
    boxes = [tuple(int(v) for v in box) for box in np.asarray(boxes).reshape(-1, 4)]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def crop(image, box, margin=CROP_MARGIN):
    x, y, w, h = box
    dx, dy = int(w * margin), int(h * margin)
    return image.crop((max(0, x - dx), max(0, y - dy), min(image.width, x + w + dx), min(image.height, y + h + dy)))


def compute(detector, working, submission_id, whole_image_probability=None):
    """Signal: faces found, each scored crop, the most suspicious one drawn on a derivative image."""
    from training.preprocessing import image_to_array

    from .imaging import save_derivative

    boxes = find_faces(working.image)
    result = {"count": len(boxes), "whole_image_probability": whole_image_probability, "limits": []}
    if not boxes:
        smallest = round(min_face_side(working.image) / working.scale)
        result["limits"].append(f"faces smaller than {smallest} px across are not looked for")
        result.update(status="not_applicable", message=NO_FACE, faces=[])
        return result
    scored = boxes[: max_scored()]
    if len(boxes) > len(scored):
        result["limits"].append(f"{len(boxes)} faces found: only the {len(scored)} largest were scored")
    batch = np.stack([image_to_array(crop(working.image, box), detector.input_size) for box in scored])
    probabilities = [float(p) for p in detector.predict(batch)]

    width, height = working.image.size
    faces = []
    for index, box in enumerate(boxes[: max_listed()]):
        x, y, w, h = box
        faces.append(
            {
                # Fractions of the image's width and height: independent of the size the image is shown at.
                "box": [round(x / width, 4), round(y / height, 4), round(w / width, 4), round(h / height, 4)],
                "probability": round(probabilities[index], 4) if index < len(probabilities) else None,
            }
        )
    if len(boxes) > len(faces):
        result["limits"].append(f"only the {len(faces)} largest of {len(boxes)} faces are listed")
    most = max(range(len(probabilities)), key=probabilities.__getitem__)
    result.update(faces=faces, most_suspicious=most, message=_message(len(boxes), faces[most]["probability"]))
    result["_faces_image"] = save_derivative(submission_id, "faces", _draw(working.image, boxes[: len(faces)], most))
    return result


def _message(count, probability):
    faces = "1 face" if count == 1 else f"{count} faces"
    return f"{faces} found; the most suspicious face scores {probability:.2f} on its own"


def _draw(image, boxes, most):
    drawn = image.copy()
    draw = ImageDraw.Draw(drawn)
    line = max(2, min(image.size) // 200)
    for index, (x, y, w, h) in enumerate(boxes):
        if index != most:
            draw.rectangle((x, y, x + w, y + h), outline=(255, 214, 0), width=line)
    x, y, w, h = boxes[most]
    draw.rectangle((x, y, x + w, y + h), outline=(230, 0, 40), width=line * 2)
    return drawn
