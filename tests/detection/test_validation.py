"""Every kind of bad upload is refused with a clear message before anything is stored."""
import io

import pytest
from PIL import Image

from detection.validation import HEIF_SUPPORTED, InvalidImage, validate_image
from tests.conftest import make_image_bytes


@pytest.mark.parametrize(
    "fmt,name,content_type",
    [("JPEG", "photo.jpg", "image/jpeg"), ("PNG", "shot.png", "image/png"), ("WEBP", "pic.webp", "image/webp")],
)
def test_it_accepts_real_images(fmt, name, content_type):
    data = make_image_bytes(fmt, size=(120, 80))
    image = validate_image(data, name)
    assert (image.format, image.content_type, image.width, image.height) == (fmt, content_type, 120, 80)
    assert len(image.sha256) == 64


@pytest.mark.skipif(not HEIF_SUPPORTED, reason="pillow-heif is not installed")
def test_it_accepts_heic():
    data = make_image_bytes("HEIF", size=(64, 64))
    assert validate_image(data, "iphone.heic").content_type == "image/heic"


@pytest.mark.skipif(not HEIF_SUPPORTED, reason="pillow-heif is not installed")
def test_an_uploaded_heic_is_an_image_not_a_video():
    # A HEIC file starts with an ftyp box like an MP4's: its brand says it is a still image.
    from detection.services import validate_upload

    data = make_image_bytes("HEIF", size=(64, 64))
    assert data[4:8] == b"ftyp"
    assert validate_upload(data, "iphone.heic").content_type == "image/heic"


def test_it_rejects_an_empty_file():
    with pytest.raises(InvalidImage, match="empty"):
        validate_image(b"", "empty.jpg")


def test_it_rejects_a_file_over_the_size_limit(settings):
    settings.VERITY_MAX_UPLOAD_BYTES = 1000
    data = make_image_bytes("PNG", size=(300, 300), color=(1, 2, 3))
    data += b"\0" * 2000  # trailing bytes keep it a valid PNG but push it over the limit
    with pytest.raises(InvalidImage, match="limit is 0.0 MB|limit is"):
        validate_image(data, "big.png")


@pytest.mark.parametrize("fmt,name", [("JPEG", "cut.jpg"), ("PNG", "cut.png"), ("WEBP", "cut.webp")])
def test_it_rejects_a_truncated_image(fmt, name):
    noisy = Image.effect_noise((256, 256), 60).convert("RGB")
    buf = io.BytesIO()
    noisy.save(buf, format=fmt)
    data = buf.getvalue()
    with pytest.raises(InvalidImage, match="damaged or truncated|not an image"):
        validate_image(data[: len(data) // 2], name)


def photo_sized_jpeg(**save_kwargs):
    """A 1600x1200 colour-noise JPEG: large enough that validation decodes it at 1/8 scale."""
    noisy = Image.merge("RGB", [Image.effect_noise((1600, 1200), sigma) for sigma in (40, 60, 80)])
    buf = io.BytesIO()
    noisy.save(buf, format="JPEG", **save_kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("save_kwargs", [{}, {"progressive": True}], ids=["baseline", "progressive"])
@pytest.mark.parametrize("kept", [0.5, 0.99])
def test_it_rejects_a_truncated_photo_sized_jpeg_although_it_decodes_it_reduced(save_kwargs, kept):
    # The reduced decode skips most of the inverse DCT, never the reading of the data: a cut anywhere shows.
    data = photo_sized_jpeg(**save_kwargs)
    with pytest.raises(InvalidImage, match="damaged or truncated"):
        validate_image(data[: int(len(data) * kept)], "cut.jpg")


@pytest.mark.parametrize("save_kwargs", [{}, {"progressive": True}], ids=["baseline", "progressive"])
def test_it_accepts_a_whole_photo_sized_jpeg_with_its_full_size(save_kwargs):
    image = validate_image(photo_sized_jpeg(**save_kwargs), "photo.jpg")
    assert (image.format, image.width, image.height) == ("JPEG", 1600, 1200)  # not the 1/8 scale it decoded at


def test_it_rejects_text_renamed_as_jpeg():
    with pytest.raises(InvalidImage, match="not an image we can read"):
        validate_image(b"<html><script>alert(1)</script></html>", "innocent.jpg")


def test_it_rejects_a_png_renamed_as_jpeg():
    with pytest.raises(InvalidImage, match="really a PNG image; rename it .png"):
        validate_image(make_image_bytes("PNG"), "holiday.jpg")


@pytest.mark.parametrize("fmt,name", [("GIF", "anim.gif"), ("BMP", "old.bmp"), ("TIFF", "scan.tiff")])
def test_it_rejects_formats_it_does_not_accept(fmt, name):
    # A still GIF: animated ones are accepted as videos (tests/video/).
    with pytest.raises(InvalidImage, match="not accepted|accepted as animations only"):
        validate_image(make_image_bytes(fmt), name)


def test_it_rejects_another_format_disguised_with_an_accepted_extension():
    with pytest.raises(InvalidImage, match="is a GIF image"):
        validate_image(make_image_bytes("GIF"), "anim.png")


def test_it_rejects_an_image_over_the_pixel_limit(settings):
    settings.VERITY_MAX_IMAGE_PIXELS = 1_000_000
    data = make_image_bytes("PNG", size=(1200, 1000), color=(0, 0, 0))
    with pytest.raises(InvalidImage, match="1200x1000 pixels"):
        validate_image(data, "wide.png")


def test_it_rejects_a_decompression_bomb():
    # 30,000 x 30,000 one-bit pixels compress to a few hundred kilobytes; decoding would need gigabytes.
    buf = io.BytesIO()
    Image.new("1", (30_000, 30_000)).save(buf, format="PNG")
    assert len(buf.getvalue()) < 2 * 1024 * 1024
    with pytest.raises(InvalidImage, match="too many pixels|megapixels"):
        validate_image(buf.getvalue(), "bomb.png")


def test_it_keeps_only_the_base_name_of_the_upload():
    image = validate_image(make_image_bytes("PNG"), "../../etc/passwd.png")
    assert image.name == "passwd.png"
