"""Decode an upload once for the pixel-level signals, and write derivative images that carry no metadata."""
import io
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageOps

from .limits import working_side

# Counting the frames of an animation means decoding through them: stop counting here.
MAX_FRAMES_COUNTED = 200
ORIENTATION_TAG = 0x0112


@dataclass
class WorkingImage:
    """The first frame as RGB, shrunk to the working size, and what was left out to get there."""

    image: Image.Image  # RGB, longest side <= working_side()
    original_size: tuple  # (width, height) after EXIF orientation
    format: str
    frames: int  # 1 for a still image; at least 2 (possibly a lower bound) for an animation
    frames_capped: bool = False
    notes: list = field(default_factory=list)

    @property
    def scale(self):
        """Working pixels per original pixel."""
        return self.image.width / self.original_size[0]


def open_working_image(data, max_side=None):
    """Decode the first frame of `data` (refusing decompression bombs), oriented and shrunk to `max_side`."""
    max_side = max_side or working_side()
    max_pixels = getattr(settings, "VERITY_MAX_IMAGE_PIXELS", 50_000_000)
    with Image.open(io.BytesIO(data)) as image:
        if image.width * image.height > max_pixels:
            raise ValueError(f"{image.width}×{image.height} px is more than the {max_pixels:,} px allowed")
        fmt = image.format or "unknown"
        frames, capped = _count_frames(image)
        image.seek(0)
        original_size = image.size
        if image.getexif().get(ORIENTATION_TAG) in (5, 6, 7, 8):  # exif_transpose turns these by 90°
            original_size = original_size[::-1]
        if fmt == "JPEG":
            image.draft("RGB", (max_side, max_side))  # let libjpeg decode at a reduced scale
        oriented = ImageOps.exif_transpose(image)
        rgb = oriented.convert("RGBA").convert("RGB") if "transparency" in oriented.info else oriented.convert("RGB")
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        rgb.load()
    working = WorkingImage(rgb, original_size, fmt, frames, capped)
    if frames > 1:
        many = f"at least {frames}" if capped else str(frames)
        working.notes.append(f"animated or multi-frame file ({many} frames): only the first frame was analysed")
    return working


def _count_frames(image):
    if not getattr(image, "is_animated", False):
        return 1, False
    count = 1
    try:
        while count < MAX_FRAMES_COUNTED:
            image.seek(count)
            count += 1
    except EOFError:
        return count, False
    return count, True


def to_array(image):
    return np.asarray(image, dtype=np.uint8)


def png_bytes(array_or_image):
    """PNG bytes of an array or image, with no EXIF, XMP or text chunks (so never a GPS position)."""
    # A fresh image made from bare pixels has no info dict, so nothing of the upload's metadata can follow.
    clean = Image.fromarray(np.asarray(array_or_image))
    buf = io.BytesIO()
    clean.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def save_derivative(submission_id, kind, array_or_image):
    """Store one derivative PNG for a submission under a stable name (replacing an older one); return the name."""
    name = f"evidence/{submission_id}/{kind}.png"
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(png_bytes(array_or_image)))
