"""Error-level analysis and noise residual: two images that make local inconsistencies visible to a person."""
import io

import numpy as np
from PIL import Image, ImageFilter

ELA_QUALITY = 90
# Re-saving differences are a few grey levels: stretch so that the strongest 0.5 % of pixels reach white.
STRETCH_PERCENTILE = 99.5

ELA_CAPTION = (
    "Error levels: the image was saved again as a JPEG and the difference is shown brightened. "
    "Similar surfaces should look similarly bright. A patch that is much brighter or darker than "
    "comparable areas around it may have been pasted in or retouched. Edges and fine texture are always brighter."
)
ELA_CAPTION_LOSSLESS = (
    " The upload is not a JPEG, so error levels mostly trace edges and texture here: weaker evidence."
)
NOISE_CAPTION = (
    "Noise residual: the fine grain left after smoothing is removed. A camera leaves an even grain over a "
    "photo; a region that is much smoother or grainier than its surroundings may have been pasted in, "
    "retouched or generated."
)


def _stretch(difference):
    top = float(np.percentile(difference, STRETCH_PERCENTILE))
    scale = 255.0 / top if top > 0 else 1.0
    return np.clip(difference * scale, 0, 255).astype(np.uint8), top


def error_levels(image):
    """(ELA image as uint8 RGB, mean error in grey levels) for a PIL RGB image."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=ELA_QUALITY)
    buf.seek(0)
    with Image.open(buf) as resaved:
        difference = np.abs(np.asarray(image, dtype=np.int16) - np.asarray(resaved.convert("RGB"), dtype=np.int16))
    stretched, _ = _stretch(difference.astype(np.float32))
    return stretched, float(difference.mean())


def noise_residual(image):
    """(residual image as uint8 grey, mean residual) : the grey image minus its 3×3 median."""
    grey = image.convert("L")
    smooth = grey.filter(ImageFilter.MedianFilter(3))
    residual = np.abs(np.asarray(grey, dtype=np.int16) - np.asarray(smooth, dtype=np.int16)).astype(np.float32)
    stretched, _ = _stretch(residual)
    return stretched, float(residual.mean())


def compute(working, submission_id):
    """Signal: both images, stored as PNG derivatives of the working image, with captions."""
    from .imaging import save_derivative

    ela, ela_mean = error_levels(working.image)
    noise, noise_mean = noise_residual(working.image)
    caption = ELA_CAPTION + ("" if working.format == "JPEG" else ELA_CAPTION_LOSSLESS)
    return {
        "ela_caption": caption,
        "noise_caption": NOISE_CAPTION,
        "ela_mean": round(ela_mean, 3),
        "noise_mean": round(noise_mean, 3),
        "_ela_image": save_derivative(submission_id, "ela", ela),
        "_noise_image": save_derivative(submission_id, "noise", noise),
    }
