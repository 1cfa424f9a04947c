"""Error levels and noise residual: a pasted patch stands out, and each image comes with a caption."""
import io

import numpy as np
from PIL import Image, ImageFilter

from detection.forensics import summary
from detection.forensics.ela import error_levels, noise_residual

from .conftest import encode

PATCH = (slice(64, 128), slice(64, 128))


def textured(seed, size=192):
    noise = np.random.default_rng(seed).integers(40, 215, (size, size, 3), dtype=np.uint8)
    return Image.fromarray(noise).filter(ImageFilter.GaussianBlur(1))


def spliced():
    """A photo-like texture saved as JPEG once, with a never-compressed patch pasted in afterwards."""
    once = Image.open(io.BytesIO(encode(textured(1), "JPEG", quality=75))).convert("RGB")
    pixels = np.asarray(once).copy()
    pixels[PATCH] = np.asarray(textured(2))[PATCH]
    return Image.fromarray(pixels)


def outside(array):
    mask = np.ones(array.shape[:2], dtype=bool)
    mask[PATCH] = False
    return array[mask]


def test_a_pasted_patch_is_brighter_in_the_error_levels():
    ela, _ = error_levels(spliced())

    assert ela[PATCH].mean() > 1.5 * outside(ela).mean()


def test_a_smoothed_patch_is_darker_in_the_noise_residual():
    grainy = np.asarray(textured(3)).copy()
    grainy[PATCH] = np.asarray(Image.fromarray(grainy).filter(ImageFilter.GaussianBlur(4)))[PATCH]

    residual, _ = noise_residual(Image.fromarray(grainy))

    assert residual[PATCH].mean() < 0.5 * outside(residual).mean()


def test_both_images_are_stored_with_captions_saying_what_to_look_for(active_model, scored, client, journalist):
    submission = scored(encode(spliced(), "JPEG", quality=95))
    client.force_login(journalist)

    levels = summary(submission)["signals"]["error_levels"]

    assert levels["status"] == "ok"
    assert "may have been pasted in or retouched" in levels["ela_caption"]
    assert "much smoother or grainier than its surroundings" in levels["noise_caption"]
    for url in (levels["ela_image_url"], levels["noise_image_url"]):
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(b"".join(response.streaming_content))).size == (192, 192)


def test_a_lossless_upload_gets_a_caption_saying_the_error_levels_are_weaker(active_model, scored):
    submission = scored(encode(spliced(), "PNG"), name="spliced.png")

    assert "not a JPEG" in summary(submission)["signals"]["error_levels"]["ela_caption"]
