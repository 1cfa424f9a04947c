"""Scoring a clip: sampled frames through the active model version, progress, resuming, tracks and the verdict.

The tiny test detector scores red as fake and green as real (tests/conftest.py), so clips made of red or
green frames have known answers.
"""
import pytest
from django.core.files.storage import default_storage
from PIL import Image

from audit.models import AuditEvent
from detection import services
from detection.models import Detection, VideoFrame
from detection.video import reader, scoring, tracks, verdict
from tests.video import clips


def upload(data, name="clip.mp4", **kwargs):
    return services.submit(data=data, name=name, enqueue=False, **kwargs)


def scored(submission):
    services.score(submission.pk)
    submission.refresh_from_db()
    return submission


def test_a_red_clip_is_fake_and_a_green_one_real_with_a_timeline(active_model, settings):
    settings.VERITY_VIDEO_SAMPLE_RATE, settings.VERITY_VIDEO_MAX_FRAMES = 4.0, 120
    red = scored(upload(clips.red_clip(count=20)))  # 2 s at 10 fps: 8 samples
    green = scored(upload(clips.green_clip(count=20)))
    for submission, label in ((red, "fake"), (green, "real")):
        detection = Detection.objects.get(submission=submission)
        assert submission.status == "scored" and detection.label == label
        assert detection.scored_on == "frames"
        # Samples at 0.125, 0.375 ... 1.875 s: each is the frame on screen then (10 a second).
        assert [f["t"] for f in detection.timeline] == pytest.approx([0.1, 0.3, 0.6, 0.8, 1.1, 1.3, 1.6, 1.8])
        assert submission.frames_to_score == submission.frames_scored == 8
        assert all(default_storage.exists(f["image"]) for f in detection.timeline)
        assert detection.segments[0]["frames"] == 8
    assert Detection.objects.get(submission=red).probability > 0.9 > 0.1 > Detection.objects.get(submission=green).probability


def test_the_number_of_frames_sampled_comes_from_the_settings(active_model, settings):
    settings.VERITY_VIDEO_SAMPLE_RATE, settings.VERITY_VIDEO_MAX_FRAMES = 10.0, 5
    submission = scored(upload(clips.red_clip(count=30)))
    assert len(Detection.objects.get(submission=submission).timeline) == 5 == submission.frames_to_score


def test_scoring_twice_stores_one_verdict(active_model):
    submission = upload(clips.red_clip(count=10))
    scored(submission)
    scored(submission)
    assert Detection.objects.filter(submission=submission).count() == 1
    assert AuditEvent.objects.filter(action="submission.scored", target_id=str(submission.pk)).count() == 1


def test_a_resumed_clip_keeps_the_frames_already_scored_and_scores_only_the_rest(active_model, settings, monkeypatch):
    settings.VERITY_VIDEO_SAMPLE_RATE = 4.0
    submission = upload(clips.green_clip(count=20))
    times = scoring.planned_times(submission)
    # What a killed worker left behind: the first three frames, stored with a score the green frames never get.
    for index in range(3):
        VideoFrame.objects.create(submission=submission, model_version=active_model, index=index, time=times[index],
                                  probability=0.99, subject="image")
    asked = []
    original = reader.ContainerClip.frames_at

    def spy(self, wanted):
        asked.extend(wanted)
        return original(self, wanted)

    monkeypatch.setattr(reader.ContainerClip, "frames_at", spy)
    scored(submission)
    detection = Detection.objects.get(submission=submission)
    assert asked == pytest.approx(times[3:])  # only the frames still owed were decoded
    assert [f["probability"] for f in detection.timeline[:3]] == [0.99] * 3
    assert all(f["probability"] < 0.1 for f in detection.timeline[3:])
    assert VideoFrame.objects.filter(submission=submission).count() == len(times)


def test_a_fake_segment_in_the_middle_shows_on_the_timeline_and_in_the_segments(active_model, settings):
    settings.VERITY_VIDEO_SAMPLE_RATE = 2.0
    frames = list(clips.colour_frames(60, colour=(30, 170, 40)))
    frames[20:40] = list(clips.colour_frames(20, colour=(200, 30, 30)))  # seconds 2 to 4 of a 6-second clip
    submission = scored(upload(clips.encode(frames, fps=10)))
    detection = Detection.objects.get(submission=submission)
    high = [f["t"] for f in detection.timeline if f["probability"] > 0.5]
    assert high and min(high) >= 2.0 and max(high) < 4.0
    assert detection.label == "fake"  # the top quarter of frames is the fake segment
    assert [s["start"] for s in detection.segments] == [0.0, 5.0]
    assert detection.segments[0]["probability"] > 0.9 and detection.segments[1]["probability"] < 0.1


def test_an_animated_gif_is_scored_like_a_clip(active_model):
    submission = scored(upload(clips.webp_animation(colour=(220, 20, 20)), name="loop.webp"))
    detection = Detection.objects.get(submission=submission)
    assert detection.label == "fake" and len(detection.timeline) >= 1


def test_a_rotated_clip_is_scored_upright(active_model):
    submission = scored(upload(clips.red_clip(count=10, rotation=90), name="phone.mp4"))
    frame = Detection.objects.get(submission=submission).timeline[0]
    with default_storage.open(frame["image"]) as fh:
        assert Image.open(fh).size == (48, 64)


def test_a_clip_that_no_longer_decodes_fails_with_its_reason(active_model):
    submission = upload(clips.red_clip(count=10))
    with default_storage.open(submission.file, "wb") as fh:  # the stored bytes damaged after upload
        fh.write(b"\x00" * 64)
    submission = scored(submission)
    assert submission.status == "failed" and "stored video could not be read" in submission.failure_reason


def test_faces_are_followed_across_frames_into_one_track(active_model, settings):
    settings.VERITY_SCORE_FACES = True
    settings.VERITY_VIDEO_SAMPLE_RATE = 2.0
    submission = scored(upload(clips.encode(list(clips.face_frames(12, tint=(255, 0, 0))), fps=4)))
    detection = Detection.objects.get(submission=submission)
    assert detection.scored_on == "tracks"
    assert len(detection.tracks) >= 1 and detection.tracks[0]["frames"] >= 4
    assert {face["track"] for f in detection.timeline for face in f["faces"]} >= {detection.tracks[0]["id"]}
    assert detection.probability == pytest.approx(detection.tracks[0]["probability"])


def test_a_clip_without_faces_says_so(active_model, settings):
    settings.VERITY_SCORE_FACES = True
    submission = scored(upload(clips.green_clip(count=10, ), name="field.mp4"))
    detection = Detection.objects.get(submission=submission)
    assert detection.label == "no_face" and detection.tracks == []


# The pieces ------------------------------------------------------------------------------------------

def test_sampling_spreads_the_maximum_over_the_whole_clip():
    assert reader.sample_times(60.0, 2.0, 120) == pytest.approx([0.25 + 0.5 * i for i in range(120)])
    assert reader.sample_times(600.0, 2.0, 120)[-1] == pytest.approx(597.5)
    assert reader.sample_times(0.2, 2.0, 120) == [0.1]


def test_decoding_seeks_to_keyframes_instead_of_decoding_the_whole_clip(tmp_path):
    data = clips.red_clip(count=200, fps=10, gop=10)  # 20 s, a keyframe every second
    with reader.ContainerClip(data) as clip:
        got = list(clip.frames_at([2.5, 7.5, 12.5, 17.5]))
        decoded = clip.decoded
    assert [round(t, 1) for t, _ in got] == [2.5, 7.5, 12.5, 17.5]
    assert decoded <= 4 * 7  # from the keyframe before each sample to the frame after it, not 176 frames


def test_variable_frame_rate_samples_by_timestamp():
    data = clips.encode(list(clips.colour_frames(6)), pts=[0, 40, 80, 400, 440, 900])
    with reader.ContainerClip(data) as clip:
        assert [round(t, 2) for t, _ in clip.frames_at([0.1, 0.45, 0.85])] == [0.08, 0.44, 0.44]  # what was on screen then


def test_tracks_follow_a_moving_face_and_keep_two_faces_apart():
    timeline = [
        {"index": i, "t": i * 0.5, "faces": [
            {"box": [0.1 + 0.02 * i, 0.2, 0.2, 0.3], "probability": 0.9},
            {"box": [0.7, 0.2, 0.2, 0.3], "probability": 0.1},
        ]}
        for i in range(6)
    ]
    del timeline[3]["faces"][0]  # missed once (a blink), still the same track
    found = tracks.follow_faces(timeline)
    assert [t["frames"] for t in found] == [5, 6]
    assert found[0]["probability"] == pytest.approx(0.9) and found[1]["probability"] == pytest.approx(0.1)


def test_the_verdict_rule_lets_the_most_suspicious_lasting_track_decide():
    track_list = [{"frames": 6, "probability": 0.8}, {"frames": 1, "probability": 0.99}, {"frames": 9, "probability": 0.1}]
    assert verdict.combine([0.1] * 10, track_list) == 0.8
    assert verdict.combine([0.1, 0.2, 0.9, 0.8], []) == pytest.approx(0.9)  # no track: the top quarter of frames
    assert verdict.combine([0.2, 0.4], [], rule="mean_frame") == pytest.approx(0.3)
    assert tracks.track_score([0.9, 0.8, 0.1, 0.2]) == pytest.approx(0.85)


def test_a_cut_ends_the_face_tracks():
    from PIL import Image

    still = tracks.frame_signature(Image.new("RGB", (64, 48), (30, 170, 40)))
    other = tracks.frame_signature(Image.new("RGB", (64, 48), (200, 30, 30)))
    timeline = [{"index": i, "t": i * 0.5, "signature": sig, "faces": [{"box": [0.4, 0.3, 0.2, 0.3], "probability": p}]}
                for i, (sig, p) in enumerate([(still, 0.1), (still, 0.1), (other, 0.9), (other, 0.9)])]
    tracks.mark_cuts(timeline)
    assert [f["cut"] for f in timeline] == [False, False, True, False]
    found = tracks.follow_faces(tracks.frames_with_faces(timeline, lambda f: True))
    assert [(t["frames"], t["probability"]) for t in found] == [(2, 0.9), (2, 0.1)]  # same place, two people


def test_the_timeline_marks_where_the_clip_cuts(active_model, settings):
    settings.VERITY_VIDEO_SAMPLE_RATE = 2.0
    frames = list(clips.colour_frames(20, colour=(30, 170, 40))) + list(clips.colour_frames(20, colour=(200, 30, 30)))
    detection = Detection.objects.get(submission=scored(upload(clips.encode(frames, fps=10))))
    assert [frame["t"] for frame in detection.timeline if frame["cut"]] == [2.2]  # the first red sample (at 2.25 s)
