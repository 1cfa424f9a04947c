"""Content Credentials: a manifest signed offline with a test certificate is read, checked and explained."""
import numpy as np
from PIL import Image

from detection.forensics import content_credentials, summary

from .conftest import encode, signed_jpeg

CAMERA_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def test_a_signed_manifest_from_an_ai_generator_is_present_intact_and_says_ai():
    result = content_credentials.read(signed_jpeg(generator="Imaginary Diffusion"), "image/jpeg")

    assert result["present"] is True
    assert result["valid"] is True
    assert result["trusted"] is False  # our test CA is on nobody's trust list
    assert result["claim_generator"] == "Imaginary Diffusion 1.0"
    assert result["signed_by"].startswith("Verity Test Signer")
    assert result["ai_generated"] is True
    assert "states the image was made by an AI generator" in result["message"]


def test_a_manifest_without_an_ai_source_type_does_not_claim_ai():
    result = content_credentials.read(signed_jpeg(generator="Newsroom Camera App", source_type=CAMERA_CAPTURE), "image/jpeg")

    assert result["present"] and result["valid"]
    assert result["ai_generated"] is False


def test_pixels_changed_after_signing_make_the_credentials_invalid():
    signed = bytearray(signed_jpeg(Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))))
    # The scan data follows the last SOS marker; flip bytes in its middle (not the 0xFF markers).
    start = signed.rfind(b"\xff\xda") + 20
    for offset in range(start, start + 40, 4):
        signed[offset] = signed[offset] ^ 0x01 if signed[offset] not in (0xFF, 0xFE) else signed[offset]

    result = content_credentials.read(bytes(signed), "image/jpeg")

    assert result["present"] is True
    assert result["valid"] is False
    assert "do not match the file" in result["message"]
    assert any("mismatch" in f["code"] for f in result["failures"])


def test_a_file_without_a_manifest_has_no_content_credentials():
    result = content_credentials.read(encode(Image.new("RGB", (32, 32))), "image/jpeg")

    assert result == {"present": False, "message": "No Content Credentials: the file carries no C2PA manifest"}


def test_a_malformed_manifest_is_reported_as_damaged_not_raised():
    jpeg = encode(Image.new("RGB", (32, 32)))
    # An APP11 segment that announces a JUMBF "c2pa" box and then holds garbage.
    garbage = b"JP\x00\x00\x00\x00\x00\x01" + b"\x00\x00\x00\x40jumb" + b"\x00\x00\x00\x18jumdc2pa" + b"\xde\xad" * 20
    segment = b"\xff\xeb" + (len(garbage) + 2).to_bytes(2, "big") + garbage
    malformed = jpeg[:2] + segment + jpeg[2:]

    result = content_credentials.read(malformed, "image/jpeg")

    assert result["present"] is True and result["valid"] is False
    assert result["message"].startswith("Content Credentials are present but damaged")


def test_credentials_show_in_the_summary_and_the_page(active_model, scored, client, journalist):
    submission = scored(signed_jpeg(generator="Imaginary Diffusion"), name="made.jpg")
    client.force_login(journalist)

    credentials = summary(submission)["signals"]["content_credentials"]
    page = client.get(f"/submissions/{submission.pk}/").content.decode()

    assert credentials["ai_generated"] is True
    assert "Imaginary Diffusion 1.0" in page
    assert "states the image was made by an AI generator" in page
