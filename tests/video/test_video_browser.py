"""In a real Chromium with a real worker: upload a clip, watch its progress, see the timeline and the driving faces."""
import pytest
from playwright.sync_api import expect

from detection.models import Submission
from review import services as review_services
from tests.conftest import SCREENSHOTS
from tests.e2e.test_live_verdict_browser import sign_in
from tests.video import clips

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SCORING_TIMEOUT_MS = 240_000  # a fresh worker child loads Keras first, on a busy machine


def test_a_journalist_uploads_a_clip_and_watches_it_scored(
    start_worker, live_server, chromium, browser_page, journalist, moderator, active_model, tmp_path
):
    # 30 s of a face (tinted red: the tiny detector calls it fake), sampled 4 times a second: 120 frames to score.
    worker = start_worker(VERITY_SCORE_FACES="1", VERITY_VIDEO_SAMPLE_RATE="4")
    path = tmp_path / "interview.mp4"
    path.write_bytes(clips.encode(list(clips.face_frames(120, tint=(255, 0, 0), drift=1)), fps=4))

    page = browser_page
    sign_in(page, live_server.url, "lois@planet.test")
    page.goto(f"{live_server.url}/submissions/new/")
    page.locator("#id_images").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("link", name="interview.mp4").first.click()

    expect(page.locator("#video-player")).to_be_visible()
    try:
        expect(page.locator("#video-progress")).to_contain_text("Scoring frame", timeout=SCORING_TIMEOUT_MS)
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "video-progress.png"), full_page=True)
        expect(page.locator("#timeline-chart")).to_be_visible(timeout=SCORING_TIMEOUT_MS)
    except AssertionError as exc:
        submission = Submission.objects.get(original_name="interview.mp4")
        raise AssertionError(f"{exc}\nstatus: {submission.status} {submission.frames_scored}/{submission.frames_to_score}"
                             f"\nworker log:\n{worker.output()[-4000:]}")
    expect(page.locator("#verdict")).to_have_text("Likely fake")
    expect(page.locator("#video-progress")).to_contain_text("120 frames scored")
    expect(page.locator("#timeline-chart circle.point")).to_have_count(120)
    expect(page.locator("#timeline-threshold")).to_have_count(1)
    expect(page.locator("#driving-faces img").first).to_be_visible()
    expect(page.locator("#driving-faces")).to_contain_text("decides")
    expect(page.locator("#frame-strip img")).to_have_count(12)

    page.locator("#frame-strip button").nth(6).click()  # plays the clip from that frame's time
    page.wait_for_function("document.getElementById('video-player').currentTime > 10")
    page.screenshot(path=str(SCREENSHOTS / "video-detail.png"), full_page=True)

    # The clip went to review (the detector called it fake): the moderator sees the player and the frame strip.
    item = review_services.claim(Submission.objects.get(original_name="interview.mp4").review_item.pk, moderator)
    review = chromium.new_page(viewport={"width": 1280, "height": 900})
    sign_in(review, live_server.url, "mod@verity.test")
    review.goto(f"{live_server.url}/review/{item.pk}/")
    expect(review.locator("#frame-strip img")).to_have_count(12)
    expect(review.locator("#decision-form legend")).to_contain_text("on the whole clip")
    review.screenshot(path=str(SCREENSHOTS / "video-review.png"), full_page=True)
