"""A journalist sees the evidence beside the verdict in a real headless Chromium, and adjusts the overlay."""
import pytest
from playwright.sync_api import expect
from PIL import ImageDraw

from tests.conftest import SCREENSHOTS

from .conftest import encode, face_image

pytestmark = [pytest.mark.browser]


def test_a_journalist_sees_the_heatmap_face_box_and_findings_and_adjusts_the_overlay(
    live_server, browser_page, journalist, active_conv_model, scored
):
    photo = face_image(size=(640, 400), boxes=((60, 50, 240, 310), (400, 50, 580, 310)), skins={0: (255, 60, 60)})
    ImageDraw.Draw(photo).rectangle((0, 330, 640, 400), fill=(235, 25, 25))  # a red band the model finds "fake"
    submission = scored(encode(photo, "JPEG", quality=92), name="two-faces.jpg")
    assert submission.latest_detection.label == "fake"
    page = browser_page

    page.goto(f"{live_server.url}/")
    page.get_by_label("Email address").fill("lois@planet.test")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Submissions").wait_for()
    page.goto(f"{live_server.url}/submissions/{submission.pk}/")

    overlay = page.locator("#heatmap-overlay")
    overlay.wait_for()
    page.wait_for_function("document.getElementById('heatmap-overlay').naturalWidth > 0")
    assert page.locator(".face-box.most-suspicious").count() == 1
    assert "most suspicious face" in page.locator(".face-box.most-suspicious").inner_text()
    assert "band-fake" in page.locator(".face-box.most-suspicious").get_attribute("class")
    assert "No camera data" in page.locator("#evidence-metadata").inner_text()
    assert "No Content Credentials" in page.locator("#evidence-credentials").inner_text()
    for image in ("Error-level analysis of the image", "Noise residual of the image"):
        page.wait_for_function(f"[...document.images].some(i => i.alt === {image!r} && i.naturalWidth > 0)")

    page.locator("#heatmap-opacity").fill("85")
    assert overlay.evaluate("el => getComputedStyle(el).opacity") == "0.85"
    assert page.locator("#heatmap-opacity-value").inner_text() == "85%"

    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "evidence.png"), full_page=True)

    page.locator("#show-faces").uncheck()
    assert not page.locator(".face-box.most-suspicious").is_visible()


def sign_in(page, base_url):
    page.goto(f"{base_url}/")
    page.get_by_label("Email address").fill("lois@planet.test")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Submissions").wait_for()


def test_a_confident_real_face_is_not_drawn_as_an_alarm_and_the_heatmap_comes_on_request_without_a_reload(
    live_server, browser_page, journalist, active_conv_model, scored
):
    portrait = face_image(size=(640, 400), boxes=((60, 50, 240, 310),), background=(40, 120, 200))
    submission = scored(encode(portrait, "JPEG", quality=92), name="portrait.jpg")
    detection = submission.latest_detection
    assert detection.label == "real" and not detection.uncertain
    page = browser_page
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/submissions/{submission.pk}/")

    box = page.locator(".face-box")
    expect(box).to_have_count(1)
    assert "band-real" in box.get_attribute("class")
    assert box.evaluate("el => getComputedStyle(el).borderTopColor") == "rgb(30, 122, 60)"  # green, not red
    expect(box.locator("span")).to_have_text(f"face {round(detection.probability * 100)}%, likely real")
    expect(page.locator("#evidence-faces")).to_contain_text("likely real")
    expect(page.locator("#evidence")).not_to_contain_text("ask for it on the submission page")
    expect(page.locator("#heatmap-caption")).to_contain_text("the detector found this image likely real")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "evidence-real.png"), full_page=True)

    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    page.get_by_role("button", name="Compute the heatmap").click()
    expect(page.locator("#heatmap-request-status")).to_contain_text("the heatmap will appear here")
    expect(page.locator("#heatmap-request button")).to_be_disabled()
    expect(page.locator("#heatmap-overlay")).to_be_visible(timeout=30_000)
    page.wait_for_function("document.getElementById('heatmap-overlay').naturalWidth > 0")
    assert page.evaluate("window.loadedOnce") is True
    expect(page.get_by_role("button", name="Compute the heatmap")).to_have_count(0)
    # The swapped-in card works like a loaded one.
    page.locator("#heatmap-opacity").fill("30")
    expect(page.locator("#heatmap-opacity-value")).to_have_text("30%")
