"""Clips through the partner API: the same endpoints, per-frame, per-segment and per-track scores, frame URLs."""
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection.models import Submission
from tests.api.conftest import _api_settings, api, partner_key, partner_org  # noqa: F401  (the API's fixtures)
from tests.conftest import make_image_bytes
from tests.video import clips

LIST = reverse("api:submission-list")
BATCH = reverse("api:submission-batch")


def clip_file(data, name="clip.mp4"):
    return SimpleUploadedFile(name, data, content_type="video/mp4")


def test_a_clip_is_accepted_scored_and_read_with_its_timeline_tracks_and_frames(
    api, active_model, settings, django_capture_on_commit_callbacks
):
    settings.VERITY_VIDEO_SAMPLE_RATE = 4.0
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(LIST, {"image": clip_file(clips.red_clip(count=20))}, format="multipart")
    assert response.status_code == 201, response.json()
    result = api.get(response.json()["status_url"]).json()
    assert result["kind"] == "video" and result["status"] == "scored"
    assert result["video"]["frames_scored"] == result["video"]["frames_to_score"] == 8
    assert result["video"]["duration_seconds"] == 2.0 and result["video"]["codec"] == "h264"
    detection = result["detection"]
    assert detection["label"] == "fake" and len(detection["timeline"]) == 8
    assert detection["segments"] == [
        {"start": 0.0, "end": 2.0, "probability": detection["segments"][0]["probability"],
         "mean": detection["segments"][0]["mean"], "frames": 8}
    ]
    frame = api.get(detection["timeline"][3]["frame_url"])
    assert frame.status_code == 200 and frame["Content-Type"] == "image/jpeg"
    assert api.get(result["video"]["poster_url"])["Content-Type"] == "image/jpeg"


def test_the_face_tracks_come_with_the_result(api, active_model, settings, django_capture_on_commit_callbacks):
    settings.VERITY_SCORE_FACES = True
    data = clips.encode(list(clips.face_frames(8, tint=(255, 0, 0))), fps=4)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(LIST, {"image": clip_file(data)}, format="multipart").json()
    detection = api.get(created["status_url"]).json()["detection"]
    assert detection["scored_on"] == "tracks" and detection["tracks"]
    track = detection["tracks"][0]
    assert set(track) == {"id", "probability", "frames", "start", "end", "best"}
    assert any(face.get("track") == track["id"] for frame in detection["timeline"] for face in frame["faces"])


def test_a_bad_clip_is_refused_with_its_reason_and_nothing_is_stored(api, active_model):
    response = api.post(LIST, {"image": clip_file(clips.audio_only_mp4(), "song.mp4")}, format="multipart")
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "invalid_image" and "only an audio track" in error["detail"]
    assert Submission.objects.count() == 0


def test_a_batch_mixes_images_and_clips_with_a_rejection_per_bad_file(api, active_model):
    files = [
        SimpleUploadedFile("a.jpg", make_image_bytes(), content_type="image/jpeg"),
        clip_file(clips.red_clip(count=10)),
        clip_file(clips.red_clip(count=10), name="renamed.jpg"),
    ]
    response = api.post(BATCH, {"images": files}, format="multipart")
    body = response.json()
    assert [s["kind"] for s in body["accepted"]] == ["image", "video"]
    assert body["rejected"][0]["index"] == 2 and "really an MP4 video" in body["rejected"][0]["detail"]


def test_an_image_result_has_no_video_part(api, active_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(LIST, {"image": SimpleUploadedFile("a.jpg", make_image_bytes())}, format="multipart").json()
    result = api.get(created["status_url"]).json()
    assert result["kind"] == "image" and result["video"] is None and result["detection"]["timeline"] == []
