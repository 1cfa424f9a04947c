"""Upload validation: the bytes must really be one of ACCEPTED_FORMATS (HEIC with pillow-heif), within limits.

Everything here runs before anything is stored. Each failure raises `InvalidImage` with a message a
journalist can act on.
"""
import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from django.conf import settings
from PIL import Image, UnidentifiedImageError

try:  # HEIC/HEIF support is optional: only when pillow-heif installs on the platform.
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the platform
    HEIF_SUPPORTED = False

# Pillow format name -> (MIME type, extensions that may carry it)
FORMATS = {
    "JPEG": ("image/jpeg", {".jpg", ".jpeg", ".jpe", ".jfif"}),
    "PNG": ("image/png", {".png"}),
    "WEBP": ("image/webp", {".webp"}),
}
if HEIF_SUPPORTED:
    FORMATS["HEIF"] = ("image/heic", {".heic", ".heif"})

EXTENSION_FOR_FORMAT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "HEIF": ".heic"}
# How people call each format (Pillow's HEIF is the iPhone's HEIC).
FORMAT_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC"}
# The one list of accepted formats, in words: the upload help and every rejection say the same thing.
_names = [FORMAT_NAMES[f] for f in FORMATS]
ACCEPTED_FORMATS = ", ".join(_names[:-1]) + " or " + _names[-1]


# Names of video and animation files: an image named so is decoded anyway, to say what it really is.
MEDIA_EXTENSIONS = {".mp4", ".m4v", ".mov", ".webm", ".gif"}


class InvalidImage(ValueError):
    """The upload is not an image we accept; the message says why."""


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes
    name: str
    format: str
    content_type: str
    width: int
    height: int
    sha256: str

    @property
    def size(self):
        return len(self.data)

    @property
    def extension(self):
        return EXTENSION_FOR_FORMAT[self.format]


def allowed_extensions():
    return sorted(ext for _, exts in FORMATS.values() for ext in exts)


def read_upload(upload):
    """The bytes of an upload (bytes, or a file object with .size), refusing an oversized one unread.

    Unread, nobody knows yet whether it is an image or a video: the larger limit applies here, and each
    kind's own limit once its validation knows which it is.
    """
    if isinstance(upload, (bytes, bytearray)):
        return bytes(upload)
    check_size(upload.size, max(settings.VERITY_MAX_UPLOAD_BYTES, getattr(settings, "VERITY_MAX_VIDEO_BYTES", 0)))
    return upload.read()


def check_size(size, limit=None):
    limit = limit or settings.VERITY_MAX_UPLOAD_BYTES
    if size > limit:
        raise InvalidImage(f"the file is {_mb(size)}; the limit is {_mb(limit)}")


def validate_image(data, name):
    """Check `data` (bytes) uploaded as `name`; return a ValidatedImage or raise InvalidImage."""
    max_pixels = settings.VERITY_MAX_IMAGE_PIXELS
    name = PurePath(name or "upload").name[:255] or "upload"
    ext = PurePath(name).suffix.lower()
    accepted = ACCEPTED_FORMATS

    if len(data) == 0:
        raise InvalidImage("the file is empty (0 bytes)")
    check_size(len(data))
    if ext not in allowed_extensions() and ext not in MEDIA_EXTENSIONS:
        raise InvalidImage(f"'{ext or 'no extension'}' files are not accepted; upload a {accepted} image")

    try:
        with warnings.catch_warnings():
            # Pillow warns before it refuses; treat its decompression-bomb warning as the refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format
                width, height = image.size
                if fmt == "GIF":  # an animated one is a video (detection/video/): this one is still
                    raise InvalidImage(f"the file is a GIF image, and a still one (GIFs are accepted as animations only); upload a {accepted} image")
                if fmt not in FORMATS:
                    raise InvalidImage(f"the file is a {fmt} image; upload a {accepted} image")
                if width * height > max_pixels:
                    raise InvalidImage(
                        f"the image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
                        f"the limit is {max_pixels / 1e6:.0f} megapixels"
                    )
                if fmt == "JPEG":
                    reduce_jpeg_decode(image)
                # Decode all of the data (a JPEG at 1/8 scale): a truncated or corrupt file fails here, not in the worker.
                image.load()
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(f"the image has too many pixels (limit {max_pixels / 1e6:.0f} megapixels)") from None
    except UnidentifiedImageError:
        raise InvalidImage(f"the file is not an image we can read; upload a {accepted} image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated and corrupt data as OSError ("image file is truncated", "broken data stream").
        raise InvalidImage(f"the image is damaged or truncated and cannot be decoded ({exc})") from None

    content_type, extensions = FORMATS[fmt]
    if ext not in extensions:
        raise InvalidImage(
            f"the file is named '{ext}' but is really a {fmt} image; rename it {EXTENSION_FOR_FORMAT[fmt]} and try again"
        )
    return ValidatedImage(
        data=data,
        name=name,
        format=fmt,
        content_type=content_type,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def reduce_jpeg_decode(image):
    """Have an opened JPEG decode at 1/8 scale: every byte of entropy-coded data is still read and Huffman-
    decoded (a truncated or corrupt file fails as before), but the inverse DCT, upsampling and colour conversion
    run on an eighth of the width and height. The worker decodes the full image anyway; validation only needs
    to know that it can. Halves validation of a 1.6-megapixel photo (bench/profile_upload.py).

    PNG, WebP and HEIC have no reduced decode that still reads all the data, so they are decoded in full.
    """
    width, height = image.size
    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))


def _mb(n):
    return f"{n / (1024 * 1024):.1f} MB"
