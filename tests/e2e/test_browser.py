"""A journalist signs in, uploads and sees the verdict, in a real headless Chromium."""
import pytest

from tests.conftest import SCREENSHOTS, make_image_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_a_journalist_signs_in_uploads_and_sees_the_verdict(
    celery_worker_process, live_server, browser_page, journalist, active_model, tmp_path
):
    page = browser_page
    photo = tmp_path / "protest.jpg"
    photo.write_bytes(make_image_bytes("JPEG", size=(320, 240), color=(230, 15, 15)))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")

    page.goto(f"{live_server.url}/")
    page.get_by_label("Email address").fill("lois@planet.test")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Submissions").wait_for()

    page.get_by_role("link", name="Upload", exact=True).click()
    page.get_by_label("Images", exact=True).set_input_files([str(photo), str(empty)])
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("Queued for scoring (1)").wait_for()
    assert "the file is empty" in page.locator(".rejected").inner_text()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "upload.png"), full_page=True)

    page.get_by_role("link", name="Follow their status in your submissions").click()
    # The list updates itself: no reload until the worker's verdict shows up.
    row = page.locator("tr", has_text="protest.jpg")
    row.locator(".verdict.fake").wait_for(timeout=90_000)
    assert "Scored" in row.locator(".status").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "submissions.png"), full_page=True)

    row.get_by_role("link", name="protest.jpg").click()
    assert "Likely fake" in page.locator("#verdict").inner_text()
    assert page.locator("#model-version").inner_text() == "tiny-test"
    page.screenshot(path=str(SCREENSHOTS / "verdict.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.screenshot(path=str(SCREENSHOTS / "verdict-phone.png"), full_page=True)
