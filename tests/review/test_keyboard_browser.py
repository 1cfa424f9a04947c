"""A moderator works the queue with the keyboard only, in a real headless Chromium: claim → decide → next."""
import pytest

from detection.models import Submission
from review.models import ReviewItem
from tests.e2e.test_browser import SCREENSHOTS, browser_page  # noqa: F401  (fixture)

from .conftest import DARK_RED, RED, scored

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_a_moderator_claims_and_decides_with_the_keyboard(live_server, browser_page, journalist, moderator, active_model):  # noqa: F811
    uncertain = scored(journalist, DARK_RED, "crowd.jpg")
    confident = scored(journalist, RED, "flood.jpg")
    page = browser_page
    SCREENSHOTS.mkdir(exist_ok=True)

    page.goto(f"{live_server.url}/")
    page.get_by_label("Email address").fill("mod@verity.test")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("Password").press("Enter")
    page.get_by_role("link", name="Review queue").click()
    page.get_by_role("heading", name="Review queue").wait_for()
    assert page.locator("table.queue tbody tr").count() == 2
    page.screenshot(path=str(SCREENSHOTS / "review-queue.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.screenshot(path=str(SCREENSHOTS / "review-queue-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # N claims the top of the queue: the uncertain image comes first.
    page.keyboard.press("n")
    page.get_by_role("heading", name="crowd.jpg").wait_for()
    assert ReviewItem.objects.get(pk=uncertain.review_item.pk).claimed_by == moderator
    page.keyboard.press("+")
    assert page.locator("#zoom-level").inner_text() == "150%"
    page.keyboard.press("0")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.screenshot(path=str(SCREENSHOTS / "review-decision-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # 2 picks "Manipulated" and moves to the note, which that decision requires; Ctrl+Enter decides and goes on.
    page.keyboard.press("2")
    assert page.get_by_label("Manipulated").is_checked()
    assert page.evaluate("document.activeElement.name") == "note"
    page.keyboard.type("Sky spliced in; the clone stamp repeats along the roofline.")
    page.screenshot(path=str(SCREENSHOTS / "review-decision.png"), full_page=True)
    page.keyboard.press("Control+Enter")
    page.get_by_role("heading", name="flood.jpg").wait_for()
    assert "decided Manipulated" in page.locator(".messages").inner_text()

    # 1 picks "Authentic" (no note needed) and N decides and asks for the next: the queue is empty.
    page.keyboard.press("1")
    page.keyboard.press("n")
    page.get_by_text("Nothing left to review.").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "review-queue-empty.png"), full_page=True)

    first, second = Submission.objects.get(pk=uncertain.pk), Submission.objects.get(pk=confident.pk)
    assert (first.decision, first.decided_by) == ("manipulated", moderator)
    assert (second.decision, second.decided_by) == ("authentic", moderator)

    # Every step is in the audit trail.
    page.get_by_role("link", name="Audit trail").click()
    page.get_by_label("Action").fill("review.")
    page.get_by_label("Action").press("Enter")
    page.get_by_role("heading", name="Audit trail").wait_for()
    actions = page.locator("table.audit tbody td:nth-child(4)").all_inner_texts()
    assert actions.count("review.decided") == 2 and actions.count("review.claimed") == 2
    page.screenshot(path=str(SCREENSHOTS / "audit-trail.png"), full_page=True)

    # The journalist sees the moderator's verdict, who gave it and when.
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email address").fill("lois@planet.test")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("Password").press("Enter")
    page.goto(f"{live_server.url}/submissions/{first.pk}/")
    assert "Moderator's verdict: Manipulated" in page.locator("#final-verdict").inner_text()
    assert "Decided by mod@verity.test" in page.locator("#final-verdict").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "final-verdict.png"), full_page=True)
