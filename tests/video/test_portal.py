"""A clip in the portal: uploaded through the same form, its page with the player, progress, timeline and faces."""
import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection import services
from detection.forensics import run
from detection.models import Submission
from tests.video import clips


@pytest.fixture
def signed_in(client, journalist):
    client.force_login(journalist)
    return client


def upload(client, data, name="clip.mp4", content_type="video/mp4"):
    return client.post(reverse("detection:upload"), {"images": [SimpleUploadedFile(name, data, content_type)]})


def verdict_card_text(page):
    """The words of the submission page's verdict card, without its markup."""
    card = re.search(r'(?s)<section class="card verdict-card".*?</section>', page).group(0)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", card)).split())


def test_a_clip_goes_through_the_upload_form_and_a_bad_one_is_listed_with_its_reason(signed_in, active_model):
    page = upload(signed_in, clips.red_clip(count=10)).content.decode()
    submission = Submission.objects.get()
    assert submission.kind == "video" and submission.status == "queued"
    assert reverse("detection:submission-detail", args=[submission.pk]) in page
    page = upload(signed_in, clips.audio_only_mp4(), name="song.mp4").content.decode()
    assert "only an audio track" in page and Submission.objects.count() == 1


def test_the_page_of_a_queued_clip_shows_the_player_and_the_poster(signed_in, journalist):
    submission = services.submit(
        data=clips.red_clip(count=10), name="clip.mp4", uploader=journalist, review_requested=True, enqueue=False
    )
    page = signed_in.get(reverse("detection:submission-detail", args=[submission.pk])).content.decode()
    assert '<video id="video-player"' in page and reverse("detection:video-clip", args=[submission.pk]) in page
    assert "Waiting for a worker" in page and "The timeline appears once the clip is scored" in page
    card = verdict_card_text(page)
    assert "a moderator will see the clip once it is scored" in card and "image" not in card.lower()
    poster = signed_in.get(reverse("detection:video-poster", args=[submission.pk]))
    assert poster["Content-Type"] == "image/jpeg" and poster.status_code == 200


def test_progress_is_shown_while_a_clip_is_scored(signed_in, journalist):
    submission = services.submit(data=clips.red_clip(count=10), name="clip.mp4", uploader=journalist, enqueue=False)
    Submission.objects.filter(pk=submission.pk).update(status="processing", frames_to_score=600, frames_scored=240)
    page = signed_in.get(reverse("detection:submission-detail", args=[submission.pk])).content.decode()
    assert "Scoring frame 240 of 600" in page
    status = signed_in.get(reverse("detection:submission-status"), {"ids": str(submission.pk)}).json()["submissions"][0]
    assert status["progress"] == {"frames_scored": 240, "frames_to_score": 600}
    Submission.objects.filter(pk=submission.pk).update(frames_scored=256)
    later = signed_in.get(reverse("detection:submission-status"), {"ids": str(submission.pk)}).json()["submissions"][0]
    assert later["state"] != status["state"]  # the page refreshes its progress when a chunk is scored


def test_a_scored_clip_shows_its_timeline_with_the_threshold_and_its_frames(signed_in, journalist, active_model, settings):
    settings.VERITY_VIDEO_SAMPLE_RATE = 4.0
    submission = services.submit(data=clips.red_clip(count=20), name="clip.mp4", uploader=journalist)
    services.score(submission.pk)
    page = signed_in.get(reverse("detection:submission-detail", args=[submission.pk])).content.decode()
    assert 'id="timeline-chart"' in page and 'id="timeline-threshold"' in page
    card = verdict_card_text(page)
    assert "probability that the clip is fake" in card and "● this clip" in card
    assert re.search(r"rates this clip \S+ likely to be fake; this model flags clips at \S+ and above", card)
    assert "Reading and decoding the clip" in card and "image" not in card.lower()
    assert len(re.findall(r'<circle class="point fake"', page)) == 8
    frame_urls = re.findall(r'src="(/[^"]+/frames/\d+\.jpg)"', page)
    assert len(frame_urls) == 8
    frame = signed_in.get(frame_urls[0])
    assert frame.status_code == 200 and frame["Content-Type"] == "image/jpeg"


def test_a_clip_without_faces_is_called_a_clip_in_its_no_verdict_wording(signed_in, journalist, active_model, settings):
    settings.VERITY_SCORE_FACES = True
    submission = services.submit(data=clips.green_clip(count=10), name="field.mp4", uploader=journalist)
    services.score(submission.pk)
    page = signed_in.get(reverse("detection:submission-detail", args=[submission.pk])).content.decode()
    card = verdict_card_text(page)
    assert "The whole clip scores" in card and "its score of the whole clip is not a verdict" in card
    assert "image" not in card.lower()
    listed = signed_in.get(reverse("detection:submission-list")).content.decode()
    assert "gives no verdict on this clip (the whole clip scores" in listed
    status = signed_in.get(reverse("detection:submission-status"), {"ids": str(submission.pk)}).json()["submissions"][0]
    assert "on this clip" in status["verdict"]["sentence"] and "image" not in status["verdict_html"]


def test_the_clip_is_served_with_its_content_type_and_byte_ranges(signed_in, journalist):
    data = clips.red_clip(count=10)
    submission = services.submit(data=data, name="clip.mp4", uploader=journalist, enqueue=False)
    url = reverse("detection:video-clip", args=[submission.pk])
    whole = signed_in.get(url)
    assert whole["Content-Type"] == "video/mp4" and b"".join(whole.streaming_content) == data
    part = signed_in.get(url, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and part.content == data[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(data)}"
    assert signed_in.get(url, HTTP_RANGE=f"bytes={len(data) + 5}-").status_code == 416


def test_a_stranger_cannot_see_a_clip_or_its_frames(client, stranger, journalist):
    submission = services.submit(data=clips.red_clip(count=10), name="clip.mp4", uploader=journalist, enqueue=False)
    client.force_login(stranger)
    for name in ("detection:video-clip", "detection:video-poster", "detection:submission-detail"):
        assert client.get(reverse(name, args=[submission.pk])).status_code == 404


@pytest.fixture
def conv_model(db, tmp_path):
    """A tiny detector with a conv layer (Grad-CAM needs one), scoring red as fake like the usual tiny one."""
    from tests.forensics.test_heatmap import SIZE, flat_model
    from training import registry

    path = tmp_path / "conv.keras"
    flat_model().save(path)
    version = registry.register(name="tiny-conv", artifact=path, architecture="TinyConv", input_size=SIZE, is_trained=True)
    return registry.activate(version)


def test_the_driving_faces_and_their_heatmaps_show_on_the_page(signed_in, journalist, conv_model, settings):
    settings.VERITY_SCORE_FACES = True
    data = clips.encode(list(clips.face_frames(8, tint=(255, 0, 0))), fps=4)
    submission = services.submit(data=data, name="face.mp4", uploader=journalist)
    services.score(submission.pk)
    evidence = run.compute(submission.pk)
    assert evidence.heatmap["status"] == "ok" and evidence.heatmap["faces"]
    assert evidence.error_levels["status"] == "not_applicable"
    page = signed_in.get(reverse("detection:submission-detail", args=[submission.pk])).content.decode()
    assert 'id="driving-faces"' in page and "decides" in page
    face_url = re.search(r'src="(/[^"]+/faces/\d+\.jpg)"', page).group(1)
    heat_url = re.search(r'src="(/[^"]+/faces/\d+/heatmap\.png)"', page).group(1)
    assert signed_in.get(face_url)["Content-Type"] == "image/jpeg"
    assert signed_in.get(heat_url)["Content-Type"] == "image/png"


def test_the_list_shows_a_thumbnail_made_from_the_poster(signed_in, journalist):
    submission = services.submit(data=clips.red_clip(count=10), name="clip.mp4", uploader=journalist, enqueue=False)
    response = signed_in.get(reverse("detection:submission-thumbnail", args=[submission.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"


def test_the_verdict_report_of_a_clip_shows_its_first_frame(signed_in, journalist, active_model):
    submission = services.submit(data=clips.red_clip(count=10), name="clip.mp4", uploader=journalist)
    services.score(submission.pk)
    page = signed_in.get(reverse("detection:submission-report", args=[submission.pk])).content.decode()
    assert reverse("detection:video-poster", args=[submission.pk]) in page
    pdf = signed_in.get(reverse("detection:submission-report-pdf", args=[submission.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
