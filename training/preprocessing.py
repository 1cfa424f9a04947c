"""The one preprocessing function shared by training and serving, so a model sees the same pixels in both.

Models take float32 RGB in [0, 255] of shape (size, size, 3); any scaling or normalisation is a layer
inside the model (EfficientNetV2's own rescaling, a Rescaling layer for the small CNN).
"""
import io

import numpy as np
from PIL import Image, ImageOps


def load_image(data, size):
    """Decode image bytes and return a float32 array of shape (size, size, 3), RGB in [0, 255]."""
    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            # Let libjpeg decode at a reduced scale (never below the target size): much faster for large photos.
            image.draft("RGB", (size, size))
        image = ImageOps.exif_transpose(image)
        return image_to_array(image, size)


def image_to_array(image, size):
    """Resize a PIL image to (size, size) and return float32 RGB in [0, 255]."""
    if image.mode != "RGB":
        image = image.convert("RGBA").convert("RGB") if "transparency" in image.info else image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32)
