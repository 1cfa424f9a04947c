"""Frames kept from a clip (poster, sampled frames, face crops) as small JPEGs beside the stored upload.

Named by the clip's SHA-256 and the frame's time, so the same clip uploaded twice, or scored by another
model version, reuses them. They are made from bare pixels, so no metadata (and no location) follows.
"""
import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .. import storage
from .reader import small_copy

JPEG_QUALITY = 82
# A face shown on its own (driving faces, heatmaps) keeps this much of its box's size around it.
FACE_MARGIN = 0.35


def folder(sha256):
    return f"video/{sha256[:2]}/{sha256}"


def poster_name(sha256):
    return f"{folder(sha256)}/poster.jpg"


def frame_name(sha256, seconds):
    return f"{folder(sha256)}/frame-{round(seconds * 1000):08d}.jpg"


def face_name(sha256, seconds, number):
    return f"{folder(sha256)}/face-{round(seconds * 1000):08d}-{number}.jpg"


def jpeg_bytes(image):
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def save(name, image, small=True):
    """Store `image` as a JPEG under `name` unless already there; the name. Raises storage.StorageUnavailable."""
    try:
        if not default_storage.exists(name):
            saved = default_storage.save(name, ContentFile(jpeg_bytes(small_copy(image) if small else image)))
            if saved != name:  # another worker wrote it meanwhile
                default_storage.delete(saved)
    except (OSError, *storage.OBJECT_STORE_ERRORS) as exc:
        raise storage.StorageUnavailable(f"the file store could not store {name}: {exc}") from exc
    return name


def save_poster(validated):
    return save(poster_name(validated.sha256), validated.poster)


def face_region(box, size, margin=FACE_MARGIN):
    """Pixel box (l, t, r, b) of a face box given as fractions (x, y, w, h), with a margin, inside `size`."""
    x, y, w, h = box
    width, height = size
    dx, dy = w * margin, h * margin
    return (round(max(0, (x - dx) * width)), round(max(0, (y - dy) * height)),
            round(min(width, (x + w + dx) * width)), round(min(height, (y + h + dy) * height)))


def open_frame(name):
    from PIL import Image

    with default_storage.open(name, "rb") as fh:
        return Image.open(fh).convert("RGB")
