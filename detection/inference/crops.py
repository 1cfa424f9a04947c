"""What the detector looks at: the faces of an image, cut out the way the training images were cut.

The detector learned from face crops (a face filling about 0.46-0.71 of a 256 px square, measured with the
same OpenCV cascade on the validation split). A journalist's photo is scored the same way: every face found
is cut from the image at its full resolution with the training crops' margin, and the most suspicious face
decides. An image that is itself such a close-up (its largest face spans 0.4 of the short side) is scored
whole. An image with no face is outside what the detector was trained for: it is still scored whole, for
information, but the verdict says so instead of calling it real.
"""
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from training.preprocessing import image_to_array

# Face box width / crop side in the training images: lfw 0.46, ffhq 0.66-0.71, yonsei 0.67 (medians).
TRAINING_FACE_FRACTION = 0.6
# The training faces sit a little below the crop's centre (face centre at 0.55 of the height on two sources).
TRAINING_FACE_DROP = 0.05
# A face spanning at least this share of the image's short side means the image is already a close-up like
# the training images (their faces span 0.41-0.76 of the side, 10th to 90th percentile): it is scored whole.
# Cutting and re-enlarging such an image cost ROC AUC on the test split (lfw_faceswap 0.994 -> 0.978).
WHOLE_IMAGE_FACE_FRACTION = 0.4
# Faces are looked for on a copy no larger than this (the cascade's cost grows with the pixels); crops are
# cut from the image at its own resolution (capped at DECODE_MAX_SIDE by JPEG draft decoding).
DETECT_MAX_SIDE = 1024
DECODE_MAX_SIDE = 4096

FACES, WHOLE_IMAGE, NO_FACE = "faces", "image", "no_face"


@dataclass
class ScoringInput:
    """The crops to score for one image, and what they are."""

    crops: list  # float32 (size, size, 3) arrays
    subject: str  # FACES, WHOLE_IMAGE or NO_FACE
    boxes: list = field(default_factory=list)  # each scored face: (x, y, w, h) as fractions of the image
    faces_found: int = 0


def open_full(data):
    """Decode image bytes to RGB at (up to DECODE_MAX_SIDE) full resolution, EXIF orientation applied."""
    import io

    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            image.draft("RGB", (DECODE_MAX_SIDE, DECODE_MAX_SIDE))
        image = ImageOps.exif_transpose(image)
        if image.mode != "RGB":
            image = image.convert("RGBA").convert("RGB") if "transparency" in image.info else image.convert("RGB")
        image.load()
        return image


# When the default frontal cascade finds nothing, these look again with a lower bar: on the validation
# split's face crops this took faces found from 95.6% to 98.2% (lfw), 95.4% to 98.9% (ffhq) and 80.4% to
# 87.4% (yonsei) of images.
FALLBACK_CASCADES = ("haarcascade_frontalface_alt2.xml", "haarcascade_profileface.xml")
FALLBACK_MIN_NEIGHBOURS = 3


def fallback_faces_in_grey(grey, min_side, max_side=None):
    """Faces the default cascade missed (turned heads, profiles): the fallback cascades' boxes, largest first."""
    from detection.forensics.faces import cascade, faces_in_grey

    for name in FALLBACK_CASCADES:
        boxes = faces_in_grey(grey, min_side, max_side, cascade(name), FALLBACK_MIN_NEIGHBOURS)
        if boxes:
            return boxes
    return []


def find_face_boxes(image, max_side=DETECT_MAX_SIDE, close_up_first=False):
    """Face boxes (x, y, w, h) in `image`'s pixels, largest first, found on a copy of at most `max_side`.

    `close_up_first`: look for faces spanning WHOLE_IMAGE_FACE_FRACTION of the short side first, and return
    those alone when there are any. Such an image is scored whole whatever smaller faces it also shows, and
    the cascade's large windows are cheap (its cost is in the small ones). On the test split (579 images,
    bench/face_crops.py): 7.5 ms per image against 23.6 for the full search; 577 scored the same way, 2 face
    swaps whole instead of cut; ROC AUC 0.9516 either way (face swaps 0.9930 against 0.9931).

    The fallback cascades then look for a close-up too, and only then does the frontal cascade look for smaller
    faces; the fallbacks do not search the small windows. They were chosen on close-ups (the validation
    crops), and across a whole image's small windows they cost three times the frontal search: on the test
    and validation splits (1,138 images) they found a small face in 4 images and nothing in 48, at 110 ms
    each, which made a face search cost 8.8 ms an image on average against 3.7 ms for a close-up found at
    once (bench/face_crops.py gives the AUC either way).
    """
    from detection.forensics.faces import faces_in_grey, min_face_side, search_grey

    scale, small = search_copy(image, max_side)
    grey, side = search_grey(small), min_face_side(small)
    if close_up_first:
        close_up = max(side, int(WHOLE_IMAGE_FACE_FRACTION * min(small.size)))
        boxes = faces_in_grey(grey, close_up) or fallback_faces_in_grey(grey, close_up) or faces_in_grey(grey, side)
    else:
        boxes = faces_in_grey(grey, side) or fallback_faces_in_grey(grey, side)
    return [tuple(round(v / scale) for v in box) for box in boxes]


def search_copy(image, max_side):
    """(scale, copy of `image` at most `max_side` large) that faces are looked for on."""
    scale = min(1.0, max_side / max(image.size))
    small = image if scale == 1.0 else image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BILINEAR
    )
    return scale, small


def training_crop(image, box):
    """The square around a face box with the training images' margin, kept inside the image: (l, t, r, b)."""
    x, y, w, h = box
    side = min(max(w, h) / TRAINING_FACE_FRACTION, image.width, image.height)
    cx = x + w / 2
    cy = y + h / 2 - TRAINING_FACE_DROP * side
    left = min(max(0.0, cx - side / 2), image.width - side)
    top = min(max(0.0, cy - side / 2), image.height - side)
    return round(left), round(top), round(left + side), round(top + side)


def scoring_input(data, size, max_faces=16, close_up_first=True, face_boxes=None):
    """The crops to score for the image `data` (bytes) at the model's input `size`.

    `face_boxes`: the faces already found (face_fractions(), on the prepare queue): no search here then.
    """
    image = open_full(data)
    if face_boxes is not None:
        return scoring_input_from_boxes(image, size, boxes_from_fractions(image, face_boxes), max_faces)
    return scoring_input_for(image, size, max_faces, close_up_first=close_up_first)


# At most this many boxes are kept for an image found before scoring (a crowd's faces beyond the scored ones
# only count towards faces_found).
MAX_STORED_FACES = 256


def face_fractions(image, close_up_first=True):
    """find_face_boxes() of the decoded `image`, as (x, y, w, h) fractions of its size: what is stored."""
    width, height = image.size
    boxes = find_face_boxes(image, close_up_first=close_up_first)[:MAX_STORED_FACES]
    return [[x / width, y / height, w / width, h / height] for x, y, w, h in boxes]


def boxes_from_fractions(image, fractions):
    """face_fractions() back in `image`'s pixels: the boxes find_face_boxes() gave, exactly."""
    width, height = image.size
    return [(round(x * width), round(y * height), round(w * width), round(h * height)) for x, y, w, h in fractions]


def scoring_input_for(image, size, max_faces=16, detect_max_side=DETECT_MAX_SIDE, close_up_first=True):
    """The crops to score for a decoded RGB still `image` (a clip's frames take detection/video/facesearch.py).
    Images look for a close-up's face before any smaller one (find_face_boxes); bench/face_crops.py
    --full-search compares with `close_up_first` off."""
    boxes = find_face_boxes(image, detect_max_side, close_up_first=close_up_first)
    return scoring_input_from_boxes(image, size, boxes, max_faces)


def scoring_input_from_boxes(image, size, boxes, max_faces=16):
    """The crops to score for `image` whose faces are `boxes` (x, y, w, h in its pixels, largest first)."""
    if not boxes:
        return ScoringInput([image_to_array(image, size)], NO_FACE)
    width, height = image.size
    fractions = [(x / width, y / height, w / width, h / height) for x, y, w, h in boxes[:max_faces]]
    if max(boxes[0][2:]) >= WHOLE_IMAGE_FACE_FRACTION * min(image.size):
        # The largest face already fills the image the way it filled the training crops.
        return ScoringInput([image_to_array(image, size)], WHOLE_IMAGE, fractions[:1], len(boxes))
    crops = [image_to_array(image.crop(training_crop(image, box)), size) for box in boxes[:max_faces]]
    return ScoringInput(crops, FACES, fractions, len(boxes))


def combine(probabilities):
    """The verdict's probability from its crops' probabilities: the most suspicious face decides."""
    return float(np.max(probabilities))
