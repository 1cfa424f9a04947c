"""Metadata: findings a person understands, and a GPS position that never leaves the file."""
import io
import json

import pytest
from django.core.files.storage import default_storage
from PIL import Image, PngImagePlugin

from detection.forensics import metadata, summary

from .conftest import GPS_LEAK_MARKERS, encode, exif_jpeg, face_image


def texts(result):
    return [f["text"] for f in result["findings"]]


def test_an_editor_in_the_software_field_reads_as_edited_with_it():
    result = metadata.read(exif_jpeg(make="Canon", model="Canon EOS R6", software="Adobe Photoshop 25.4 (Windows)"))

    assert "Edited with Adobe Photoshop" in texts(result)
    assert "Taken with Canon Canon EOS R6" in texts(result)


def test_a_generator_in_the_software_field_reads_as_made_with_an_image_generator():
    result = metadata.read(exif_jpeg(software="Midjourney v6"))

    assert "Made with an image generator: Midjourney" in texts(result)
    assert not any(t.startswith("Edited with") for t in texts(result))


def test_a_png_with_automatic1111_parameters_reads_as_generated():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat in a spacesuit, Steps: 20, Sampler: Euler a, Seed: 42")

    result = metadata.read(encode(Image.new("RGB", (64, 64)), "PNG", pnginfo=info))

    assert any("AUTOMATIC1111, an image generator" in t for t in texts(result))


def test_a_file_without_camera_data_says_so():
    result = metadata.read(encode(Image.new("RGB", (64, 64)), "PNG"))

    assert result["camera"] == {}
    assert any(t.startswith("No camera data") for t in texts(result))


def test_a_photo_modified_before_it_was_taken_has_inconsistent_dates():
    result = metadata.read(exif_jpeg(make="Nikon", taken="2024:06:01 12:00:00", modified="2023:01:01 08:00:00"))

    assert any(t.startswith("Dates inconsistent: modified (2023:01:01 08:00:00) before taken") for t in texts(result))


def test_a_photo_saved_again_after_it_was_taken_says_so():
    result = metadata.read(exif_jpeg(make="Nikon", taken="2024:06:01 12:00:00", modified="2024:06:03 09:30:00"))

    assert "Saved again after it was taken (2024:06:01 12:00:00 → 2024:06:03 09:30:00)" in texts(result)


def test_a_gps_position_is_reported_as_present_but_never_copied():
    result = metadata.read(exif_jpeg(make="Apple", model="iPhone 15", gps=True))

    assert result["gps_present"] is True
    assert any("GPS position is recorded" in t for t in texts(result))
    dumped = json.dumps(result)
    assert not [marker for marker in GPS_LEAK_MARKERS if marker in dumped]


def test_a_photo_without_gps_does_not_claim_one():
    assert metadata.read(exif_jpeg(make="Apple", model="iPhone 15"))["gps_present"] is False


def test_no_stored_copy_and_no_summary_carries_the_gps_position(active_model, scored):
    photo = exif_jpeg(face_image(background=(230, 20, 20)), make="Apple", model="iPhone 15", gps=True)
    position = Image.open(io.BytesIO(photo)).getexif().get_ifd(0x8825)
    assert float(position[2][2]) == pytest.approx(24.37)  # the upload really carries the position
    submission = scored(photo)
    evidence = submission.evidence

    stored = [evidence.image_name(kind) for kind in ("faces", "ela", "noise")]
    assert all(stored)
    for name in stored:
        with default_storage.open(name) as fh:
            data = fh.read()
        image = Image.open(io.BytesIO(data))
        assert not image.getexif(), f"{name} carries EXIF"
        assert "exif" not in image.info and b"GPS" not in data
    dumped = json.dumps(summary(submission))
    assert summary(submission)["signals"]["metadata"]["gps_present"] is True
    assert not [marker for marker in GPS_LEAK_MARKERS if marker in dumped]


@pytest.mark.parametrize("software", ["GIMP 2.10.36", "Snapseed 2.0"])
def test_common_editors_are_named(software):
    assert f"Edited with {software.split()[0]}" in texts(metadata.read(exif_jpeg(software=software)))
