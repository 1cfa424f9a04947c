"""The upload page says what it accepts in the same words as its refusals, and points to earlier uploads."""
import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection.validation import ACCEPTED_FORMATS, FORMATS, InvalidImage, validate_image
from tests.conftest import make_image_bytes


def test_the_upload_help_names_exactly_the_formats_a_refusal_names(client, journalist):
    client.force_login(journalist)
    page = client.get(reverse("detection:upload")).content.decode()
    help_text = re.search(r'<p class="help" id="images-help">([^<]+)</p>', page).group(1)
    try:
        validate_image(b"GIF89a" + b"\0" * 64, "anim.gif")
    except InvalidImage as refusal:
        refused = str(refusal)
    assert help_text.startswith(f"{ACCEPTED_FORMATS}, up to 20 MB each")
    assert refused.endswith(f"upload a {ACCEPTED_FORMATS} image")
    assert len(FORMATS) == ACCEPTED_FORMATS.count(",") + 2  # one name per format validation accepts
    assert "WEBP" not in ACCEPTED_FORMATS and "WebP" in ACCEPTED_FORMATS


def upload(client, name, data, **extra):
    return client.post(reverse("detection:upload"), {"images": [SimpleUploadedFile(name, data, "image/jpeg")], **extra})


def test_uploading_the_same_file_again_says_it_was_already_submitted_and_links_the_earlier_one(
    client, journalist, colleague, active_model
):
    data = make_image_bytes(color=(10, 200, 10))
    client.force_login(colleague)
    upload(client, "harbour.jpg", data)
    client.force_login(journalist)
    page = upload(client, "harbour-copy.jpg", data).content.decode()
    earlier = journalist.organisation.submissions.order_by("created_at").first()
    assert "already submitted on" in page
    assert f'<a href="{reverse("detection:submission-detail", args=[earlier.pk])}">see the earlier result</a>' in page


def test_a_new_file_or_one_only_another_organisation_has_gets_no_such_note(client, journalist, stranger, active_model):
    data = make_image_bytes(color=(10, 10, 200))
    client.force_login(stranger)
    upload(client, "wire.jpg", data)
    client.force_login(journalist)
    assert "already submitted" not in upload(client, "wire.jpg", data).content.decode()
    assert "already submitted" not in upload(client, "other.jpg", make_image_bytes(color=(90, 90, 90))).content.decode()
