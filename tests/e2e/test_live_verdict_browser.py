"""The submission page shows the verdict by itself, with a real worker and a real Chromium, when the image goes
to a moderator: first the detector's verdict ("awaiting moderator review"), then the moderator's decision."""
import pytest
from playwright.sync_api import expect

from detection import services
from detection.models import Submission
from review import services as review_services
from tests.conftest import make_image_bytes
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SCORING_TIMEOUT_MS = 180_000  # a fresh worker child loads Keras before its first batch, on a busy machine too
DECISION_TIMEOUT_MS = 40_000  # the page polls less often while it waits for a moderator (up to every 30 s)


def sign_in(page, base_url, email):
    page.goto(f"{base_url}/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Submissions").wait_for()


def test_an_image_sent_to_review_shows_the_detectors_verdict_then_the_moderators_without_a_reload(
    celery_worker_process, live_server, browser_page, journalist, moderator, active_model
):
    # A confident real image whose uploader asked for a review: routed to the moderators once scored.
    submission = services.submit(
        data=make_image_bytes("JPEG", size=(320, 240), color=(20, 200, 20)), name="harbour.jpg",
        uploader=journalist, review_requested=True, enqueue=False,
    )  # fmt: skip
    page = browser_page
    sign_in(page, live_server.url, "lois@planet.test")
    page.goto(f"{live_server.url}/submissions/{submission.pk}/")
    expect(page.locator("#verdict")).to_contain_text("Queued")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    services.enqueue_scoring(submission.pk)  # published to the broker now, after the page shows "Queued"

    try:
        expect(page.locator("#verdict")).to_have_text("Likely real", timeout=SCORING_TIMEOUT_MS)
    except AssertionError as exc:
        status = Submission.objects.values_list("status", flat=True).get(pk=submission.pk)
        raise AssertionError(f"{exc}\nstatus in the database: {status}\nworker log:\n{celery_worker_process.output()[-4000:]}")
    expect(page.locator("#review-status")).to_contain_text("Awaiting moderator review")
    expect(page.locator("#probability")).to_have_text("under 1%")
    expect(page.locator("#verdict-card")).to_contain_text("this model flags at 50% and above")
    assert page.evaluate("window.loadedOnce") is True
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "verdict-awaiting-review.png"), full_page=True)

    item = review_services.claim(submission.review_item.pk, moderator)
    review_services.decide(item.pk, moderator, "authentic", "")

    expect(page.locator("#final-verdict")).to_contain_text("Moderator's verdict: Authentic", timeout=DECISION_TIMEOUT_MS)
    expect(page.locator("#review-status")).to_have_count(0)
    expect(page.locator("#verdict")).to_have_text("Likely real")  # the detector's advice stays beside it
    assert page.evaluate("window.loadedOnce") is True
    page.screenshot(path=str(SCREENSHOTS / "verdict-decided.png"), full_page=True)
