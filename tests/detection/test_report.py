"""The verdict report: a page to print, a PDF to attach, the same PDF for API keys; only for the organisation."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from accounts.api_keys import create_api_key
from detection import services
from review import services as review
from tests.api.conftest import client_for
from tests.conftest import make_image_bytes

RESULTS = Path(__file__).resolve().parents[2] / "test-results"
RED = (200, 30, 30)  # the tiny detector says fake (see tests/conftest.py)
A4_POINTS = (596, 842)  # 210 × 297 mm is 595.3 × 841.9 points; pdftoppm rounds up


@pytest.fixture
def scored_fake(journalist, active_model, django_capture_on_commit_callbacks):
    """A red image the detector calls fake, with its evidence computed as the worker would."""
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submit(
            data=make_image_bytes(size=(320, 200), color=RED), name="rally <crowd> \"final\".jpg",
            uploader=journalist, enqueue=False,
        )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        services.score(submission.pk)
    submission.refresh_from_db()
    return submission


@pytest.fixture
def decided(scored_fake, moderator):
    item = scored_fake.review_item
    review.claim(item.pk, moderator)
    review.decide(item.pk, moderator, "ai_generated", note="Hands have seven fingers; the agency denies taking it.")
    scored_fake.refresh_from_db()
    return scored_fake


def test_the_report_page_shows_the_verdict_with_its_threshold_model_evidence_history_and_hash(client, journalist, scored_fake):
    client.force_login(journalist)
    response = client.get(reverse("detection:submission-report", args=[scored_fake.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Likely fake" in page
    assert "this model flags at 50% and above" in page and "uncertain between 35% and 65%" in page
    assert "tiny-test" in page
    assert scored_fake.sha256 in page
    assert "Image uploaded" in page and "Scored by the detector" in page  # the history, in words
    assert reverse("detection:evidence-image", args=[scored_fake.pk, "ela"]) in page  # the tiny model has no heatmap
    assert reverse("detection:submission-report-pdf", args=[scored_fake.pk]) in page
    assert 'href="/static/css/print.css" media="print"' in page


def test_a_moderators_decision_and_note_head_the_report(client, journalist, decided):
    client.force_login(journalist)
    page = client.get(reverse("detection:submission-report", args=[decided.pk])).content.decode()
    assert '<p class="big verdict fake" id="report-verdict">AI-generated</p>' in page
    assert "Hands have seven fingers" in page and "mod@verity.test" in page
    assert "Decided" in page


def test_another_organisation_cannot_see_the_report_or_its_pdf(client, stranger, scored_fake):
    client.force_login(stranger)
    assert client.get(reverse("detection:submission-report", args=[scored_fake.pk])).status_code == 404
    assert client.get(reverse("detection:submission-report-pdf", args=[scored_fake.pk])).status_code == 404


def test_signed_out_readers_are_sent_to_sign_in(client, scored_fake):
    response = client.get(reverse("detection:submission-report-pdf", args=[scored_fake.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_pdf_downloads_under_a_safe_name(client, journalist, scored_fake):
    client.force_login(journalist)
    response = client.get(reverse("detection:submission-report-pdf", args=[scored_fake.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    disposition = response["Content-Disposition"]
    assert disposition == f'attachment; filename="verity-report-rally-crowd-final-{str(scored_fake.pk)[:8]}.pdf"'


def render_first_page(pdf_bytes, tmp_path, name):
    """The PDF's first page as an image, drawn by poppler's pdftoppm at 72 dpi (one pixel per point)."""
    if not shutil.which("pdftoppm"):
        if os.environ.get("CI"):
            pytest.fail("pdftoppm is missing: CI must install Debian's poppler-utils package")
        pytest.skip("no pdftoppm (apt-get install poppler-utils)")
    pdf = tmp_path / f"{name}.pdf"
    pdf.write_bytes(pdf_bytes)
    command = ["pdftoppm", "-f", "1", "-l", "1", "-r", "72", "-png", "-singlefile", str(pdf), str(tmp_path / name)]
    subprocess.run(command, check=True)
    RESULTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / f"{name}.png", RESULTS / f"{name}.png")
    return Image.open(tmp_path / f"{name}.png").convert("RGB")


def test_the_pdf_renders_an_a4_page_with_the_image_on_it(client, journalist, decided, tmp_path):
    client.force_login(journalist)
    pdf = client.get(reverse("detection:submission-report-pdf", args=[decided.pk])).content
    page = render_first_page(pdf, tmp_path, "report-page-1")
    assert page.size == A4_POINTS
    pixels = list(page.get_flattened_data())
    inked = sum(1 for p in pixels if p != (255, 255, 255))
    assert inked > 0.05 * len(pixels), "the page is (almost) blank"
    red = sum(1 for r, g, b in pixels if r > 170 and g < 70 and b < 70)
    assert red > 100 * 60, "the uploaded (red) image is not on the first page"
    command = ["pdftotext", "-layout", str(tmp_path / "report-page-1.pdf"), "-"]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "AI-generated" in text and "Hands have seven fingers" in text and decided.sha256 in text
    assert "this model flags at 50% and above" in text and "tiny-test" in text
    assert "Claimed for review" in text and "Decided (ai-generated)" in text  # the history, to the end


def test_an_api_key_with_read_scope_gets_the_pdf_of_its_own_organisations_submissions(partner, active_model, db):
    organisation = partner.organisation
    submission = services.submit(
        data=make_image_bytes(color=RED), name="wire.jpg", organisation=organisation, source="api", enqueue=False
    )
    services.score(submission.pk)
    url = reverse("api:submission-report", args=[submission.pk])
    _, reader = create_api_key(organisation=organisation, name="reader", scopes=["read"])
    response = client_for(reader).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")

    _, submit_only = create_api_key(organisation=organisation, name="ingest", scopes=["submit"])
    assert client_for(submit_only).get(url).status_code == 403
    from accounts.models import Organisation

    rival = Organisation.objects.create(name="Squawker", slug="squawker", kind=Organisation.Kind.PARTNER)
    _, rival_key = create_api_key(organisation=rival, name="rival", scopes=["read"])
    assert client_for(rival_key).get(url).status_code == 404


def test_an_image_still_in_the_queue_has_a_report_that_says_so(client, journalist, active_model):
    submission = services.submit(data=make_image_bytes(), name="waiting.jpg", uploader=journalist, enqueue=False)
    client.force_login(journalist)
    page = client.get(reverse("detection:submission-report", args=[submission.pk])).content.decode()
    assert "Not scored yet" in page and submission.sha256 in page
    pdf = client.get(reverse("detection:submission-report-pdf", args=[submission.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
