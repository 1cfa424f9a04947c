"""A moderator works the queue with the keyboard only, in a real headless Chromium: claim → decide → next."""
import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from detection.models import Submission
from review.models import ReviewItem
from tests.conftest import SCREENSHOTS

from .conftest import DARK_RED, RED, scored

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def shortcuts_on(page):
    """Wait for review.js to listen: a key pressed while the page is still loading does nothing."""
    expect(page.locator("html")).to_have_attribute("data-shortcuts", "on")


def test_a_moderator_claims_and_decides_with_the_keyboard(live_server, browser_page, journalist, moderator, active_model):
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
    shortcuts_on(page)
    assert page.locator("table.queue tbody tr").count() == 2
    page.screenshot(path=str(SCREENSHOTS / "review-queue.png"), full_page=True)
    # On a desktop a short name stays on one line beside its thumbnail (its box is one line-height tall).
    lines = page.locator("td.image-cell .filename").evaluate_all(
        "(names) => names.map((n) => Math.round(n.getBoundingClientRect().height / parseFloat(getComputedStyle(n).lineHeight)))"
    )
    assert lines == [1, 1], f"file names over {lines} lines"
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.screenshot(path=str(SCREENSHOTS / "review-queue-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # N claims the top of the queue: the uncertain image comes first.
    page.keyboard.press("n")
    page.get_by_role("heading", name="crowd.jpg").wait_for()
    shortcuts_on(page)
    assert ReviewItem.objects.get(pk=uncertain.review_item.pk).claimed_by == moderator
    page.keyboard.press("+")
    expect(page.locator("#zoom-level")).to_have_text("150%")
    page.keyboard.press("0")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.screenshot(path=str(SCREENSHOTS / "review-decision-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # 2 picks "Manipulated" and leaves the focus on it: N does not type "n" into the note. Manipulated needs a
    # note, so N stops at the empty note instead of deciding; Tab goes there, and Ctrl+Enter decides and goes on.
    page.keyboard.press("2")
    expect(page.get_by_label("Manipulated")).to_be_checked()
    expect(page.get_by_label("Manipulated")).to_be_focused()
    expect(page.locator("#note-help")).to_contain_text("Manipulated needs a note")
    page.keyboard.press("n")
    expect(page.get_by_label("Note")).to_be_focused()  # the browser points at the required note
    expect(page.get_by_label("Note")).to_have_value("")
    assert Submission.objects.get(pk=uncertain.pk).decision == ""
    page.keyboard.press("3")  # typed into the note now: a digit, not a shortcut
    expect(page.get_by_label("Note")).to_have_value("3")
    page.get_by_label("Note").fill("")
    page.get_by_label("Manipulated").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Note")).to_be_focused()
    page.keyboard.type("Sky spliced in; the clone stamp repeats along the roofline.")
    page.screenshot(path=str(SCREENSHOTS / "review-decision.png"), full_page=True)
    page.keyboard.press("Control+Enter")
    page.get_by_role("heading", name="flood.jpg").wait_for()
    shortcuts_on(page)
    assert "decided Manipulated" in page.locator(".messages").inner_text()

    # 1 picks "Authentic" (no note needed) and N decides and asks for the next: the queue is empty.
    page.keyboard.press("1")
    expect(page.get_by_label("Authentic")).to_be_focused()
    page.keyboard.press("n")
    page.get_by_text("Nothing left to review.").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "review-queue-empty.png"), full_page=True)

    first, second = Submission.objects.get(pk=uncertain.pk), Submission.objects.get(pk=confident.pk)
    assert (first.decision, first.decided_by) == ("manipulated", moderator)
    assert (second.decision, second.decided_by) == ("authentic", moderator)

    # Every step is in the audit trail, and the trail's page lists it.
    actions = list(AuditEvent.objects.filter(action__startswith="review.").values_list("action", flat=True))
    assert actions.count("review.decided") == 2 and actions.count("review.claimed") == 2
    page.get_by_role("link", name="Audit trail").click()
    page.get_by_role("heading", name="Audit trail").wait_for()
    expect(page.locator("table.audit tbody tr").first).to_be_visible()
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
