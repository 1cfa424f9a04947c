"""Hostile files finish within their limits and say what could not be done; the verdict is never lost."""
import io
import time

import pytest
from PIL import Image, ImageDraw

from detection.forensics import summary
from detection.forensics.faces import max_scored
from detection.models import Submission

from .conftest import draw_face, encode, face_image

BUDGET_S = 30  # the default per-signal budget; these files must finish well inside it


def tiled_faces(side, per_row):
    image = Image.new("RGB", (side, side), (70, 90, 120))
    draw = ImageDraw.Draw(image)
    cell = side // per_row
    for i in range(per_row):
        for j in range(per_row):
            x0, y0 = i * cell + cell * 0.12, j * cell + cell * 0.15
            draw_face(draw, (x0, y0, x0 + cell * 0.76, y0 + cell * 0.8))
    return image


def timed(scored, data, name):
    started = time.monotonic()
    submission = scored(data, name=name)
    return submission, time.monotonic() - started


def test_hundreds_of_faces_are_found_but_only_the_largest_are_scored(active_model, scored):
    submission, elapsed = timed(scored, encode(tiled_faces(1024, 25), "PNG"), "crowd.png")

    faces = summary(submission)["signals"]["faces"]
    assert faces["status"] == "ok" and faces["count"] > max_scored()
    assert sum(face["probability"] is not None for face in faces["faces"]) == max_scored()
    assert f"{faces['count']} faces found: only the {max_scored()} largest were scored" in faces["limits"]
    assert elapsed < BUDGET_S


def test_thousands_of_tiny_faces_are_ignored_and_the_size_limit_is_stated(active_model, scored):
    submission, elapsed = timed(scored, encode(tiled_faces(1600, 40), "PNG"), "wallpaper.png")

    faces = summary(submission)["signals"]["faces"]
    assert faces["status"] == "not_applicable" and faces["count"] == 0
    assert any(limit.startswith("faces smaller than 39 px across are not looked for") for limit in faces["limits"])
    assert elapsed < BUDGET_S


def test_a_huge_exif_block_is_skipped_and_reported(active_model, scored):
    exif = Image.Exif()
    exif[0x010E] = "x" * (3 * 1024 * 1024)  # a 3 MiB ImageDescription in a PNG eXIf chunk
    exif[0x0131] = "Adobe Photoshop 25.0"
    submission, elapsed = timed(scored, encode(Image.new("RGB", (200, 150), (30, 90, 160)), "PNG", exif=exif), "big-exif.png")

    meta = summary(submission)["signals"]["metadata"]
    assert meta["status"] == "ok"
    assert any("the EXIF block is 3072 KiB" in limit and "skipped" in limit for limit in meta["limits"])
    assert summary(submission)["signals"]["error_levels"]["status"] == "ok"
    assert elapsed < BUDGET_S


def test_a_full_size_jpeg_exif_block_is_read_in_time(active_model, scored):
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0131] = "GIMP 2.10"
    exif[0x010E] = "y" * 60_000  # close to the 64 KiB a JPEG segment can hold
    submission, elapsed = timed(scored, encode(Image.new("RGB", (200, 150)), "JPEG", exif=exif), "full-exif.jpg")

    meta = summary(submission)["signals"]["metadata"]
    assert "Edited with GIMP" in [f["text"] for f in meta["findings"]]
    assert meta["duration_ms"] < 2000


def test_a_malformed_content_credentials_block_does_not_sink_the_other_signals(active_model, scored):
    jpeg = encode(face_image())
    garbage = b"JP\x00\x00\x00\x00\x00\x01" + b"\x00\x00\x00\x40jumb" + b"\x00\x00\x00\x18jumdc2pa" + b"\xde\xad" * 20
    malformed = jpeg[:2] + b"\xff\xeb" + (len(garbage) + 2).to_bytes(2, "big") + garbage + jpeg[2:]

    submission = scored(malformed, name="broken-c2pa.jpg")

    signals = summary(submission)["signals"]
    assert signals["content_credentials"]["message"].startswith("Content Credentials are present but damaged")
    assert signals["faces"]["count"] == 1
    assert signals["metadata"]["status"] == signals["error_levels"]["status"] == "ok"
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SCORED


def animation(fmt, frames):
    """An animated PNG (APNG) whose frames differ, so that the encoder merges none of them."""
    images = [Image.new("RGB", (120, 90), (frame % 256, 40, 255 - frame % 256)) for frame in range(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format=fmt, save_all=True, append_images=images[1:], duration=40, loop=0)
    return buf.getvalue()


def test_an_animation_is_analysed_on_its_first_frame_and_says_so(active_model, scored):
    submission = scored(animation("PNG", 5), name="loop.png")

    levels = summary(submission)["signals"]["error_levels"]
    assert levels["status"] == "ok"
    assert "animated or multi-frame file (5 frames): only the first frame was analysed" in levels["limits"]


def test_a_long_animation_stops_counting_frames(active_model, scored):
    submission, elapsed = timed(scored, animation("PNG", 600), "long.png")

    faces = summary(submission)["signals"]["faces"]
    assert faces["status"] == "not_applicable", faces
    assert "animated or multi-frame file (at least 200 frames): only the first frame was analysed" in faces["limits"]
    assert elapsed < BUDGET_S


def test_an_image_over_the_pixel_limit_is_not_decoded_and_each_pixel_signal_says_why(active_model, scored, settings):
    from detection import services
    from detection.forensics import run

    submission = services.submit(data=encode(Image.new("RGB", (400, 300), (30, 90, 160))), name="wide.jpg", enqueue=False)
    services.score(submission.pk)
    settings.VERITY_MAX_IMAGE_PIXELS = 50_000  # lowered after upload: the file is now too big to analyse
    run.compute(submission.pk)

    signals = summary(submission)["signals"]
    for name in ("heatmap", "faces", "error_levels"):
        assert signals[name]["status"] == "error"
        assert "400×300 px is more than the 50,000 px allowed" in signals[name]["error"]
    assert signals["metadata"]["status"] == "ok"
