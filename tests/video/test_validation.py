"""Every kind of bad clip is refused with its own reason, and nothing is stored; good clips are accepted."""
import io

import av
import pytest
from django.core.files.storage import default_storage

from audit.models import AuditEvent
from detection import services
from detection.models import Submission
from detection.validation import InvalidImage
from detection.video.probe import validate_video
from tests.conftest import make_image_bytes
from tests.video import clips


def refused(data, name):
    """The reason services.submit gives; asserts nothing was stored and the rejection was audited."""
    with pytest.raises(InvalidImage) as caught:
        services.submit(data=data, name=name, enqueue=False)
    assert Submission.objects.count() == 0
    assert not default_storage.exists("uploads") or not any(default_storage.listdir("uploads")[0])
    assert not default_storage.exists("video")
    assert AuditEvent.objects.filter(action="submission.rejected").exists()
    return str(caught.value)


# Accepted --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "codec,fmt,name,content_type",
    [
        ("h264", "mp4", "clip.mp4", "video/mp4"),
        ("hevc", "mp4", "clip.mp4", "video/mp4"),
        ("h264", "mov", "clip.mov", "video/quicktime"),
        ("vp8", "webm", "clip.webm", "video/webm"),
        ("vp9", "webm", "clip.webm", "video/webm"),
    ],
)
def test_it_accepts_each_listed_container_and_codec(db, codec, fmt, name, content_type):
    submission = services.submit(data=clips.red_clip(count=10, codec=codec, fmt=fmt), name=name, enqueue=False)
    assert submission.kind == "video" and submission.content_type == content_type
    assert (submission.width, submission.height, submission.frame_count) == (64, 48, 10)
    assert submission.duration_seconds == pytest.approx(1.0, abs=0.01)
    assert default_storage.exists(submission.file) and default_storage.exists(submission.video_info["poster"])


def test_an_animated_gif_and_webp_are_videos_and_a_still_webp_stays_an_image(db):
    gif = services.submit(data=clips.gif_animation(frames=4), name="loop.gif", enqueue=False)
    assert gif.kind == "video" and gif.frame_count == 4 and gif.duration_seconds == pytest.approx(0.4)
    webp = services.submit(data=clips.webp_animation(), name="loop.webp", enqueue=False)
    assert webp.kind == "video" and webp.frame_count == 4 and webp.duration_seconds == pytest.approx(0.7)
    assert webp.video_info["variable_frame_rate"] is True
    still = services.submit(data=make_image_bytes("WEBP"), name="still.webp", enqueue=False)
    assert still.kind == "image"


def test_variable_frame_rate_is_accepted_and_said(db):
    data = clips.red_clip(count=6, pts=[0, 40, 80, 400, 440, 900])
    video = validate_video(data, "vfr.mp4")
    assert video.variable_frame_rate and video.frame_count == 6
    assert video.duration == pytest.approx(0.94, abs=0.05)


def test_a_quarter_turn_is_applied_to_the_frames(db):
    video = validate_video(clips.red_clip(count=4, rotation=90), "phone.mp4")
    assert video.rotation == 90 and (video.width, video.height) == (48, 64)  # shown upright: portrait
    submission = services.submit(data=clips.red_clip(count=4, rotation=90), name="phone.mp4", enqueue=False)
    assert (submission.width, submission.height) == (48, 64)
    assert any("turned by 90" in f["text"] for f in submission.video_info["metadata"]["findings"])


def test_location_metadata_is_never_kept(db):
    data = clips.red_clip(count=4, metadata={"location": "+48.8584+002.2945/", "encoder": "TestCam 1.0"})
    submission = services.submit(data=data, name="paris.mp4", enqueue=False)
    meta = submission.video_info["metadata"]
    assert meta["location_present"] is True
    assert "48.85" not in str(submission.video_info)
    assert any("a location is recorded" in f["text"] for f in meta["findings"])


# Refused, each with its own reason ---------------------------------------------------------------------

def test_a_truncated_container_is_refused(db):
    data = clips.red_clip(count=30)
    assert "damaged or truncated" in refused(data[: len(data) // 2], "cut.mp4")


def test_a_truncated_clip_whose_index_comes_first_is_refused(db, tmp_path):
    data = clips.red_clip(count=60, path=tmp_path / "fast.mp4", options={"movflags": "faststart"})
    assert "truncated" in refused(data[: len(data) * 2 // 3], "cut.mp4")


def test_a_corrupt_container_is_refused(db):
    data = bytearray(clips.red_clip(count=10))
    data[8:400] = bytes(range(256)) + bytes(136)  # the boxes after ftyp overwritten
    assert "damaged" in refused(bytes(data), "corrupt.mp4")


def test_a_file_with_a_video_track_but_no_frames_is_refused(db):
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    reason = refused(buffer.getvalue(), "empty.webm")
    assert "no frames" in reason or "no video track" in reason


def test_an_audio_only_file_is_refused(db):
    assert "only an audio track" in refused(clips.audio_only_mp4(), "song.mp4")


def test_a_header_claiming_hours_is_refused(db):
    reason = refused(clips.claiming_hours(clips.red_clip(count=10)), "long.mp4")
    assert "says the video lasts 10:00:00" in reason and "limit is 10 min" in reason


def test_a_clip_over_the_duration_limit_is_refused(db, settings):
    settings.VERITY_MAX_VIDEO_SECONDS = 0.5
    assert "limit is 0 s" in refused(clips.red_clip(count=10), "long.mp4")


def test_an_unknown_codec_is_refused(db):
    data = clips.red_clip(count=4)
    at = data.find(b"avc1", 100)
    reason = refused(data[:at] + b"xyz1" + data[at + 4:], "odd.mp4")
    assert "codec we cannot decode" in reason


def test_a_codec_outside_the_list_is_refused(db):
    reason = refused(clips.red_clip(count=4, codec="mpeg4"), "old.mp4")
    assert "MPEG-4 part 2" in reason and "H.264, H.265" in reason


def test_a_video_renamed_jpg_is_refused_with_its_real_kind(db):
    reason = refused(clips.red_clip(count=4), "holiday.jpg")
    assert reason == "the file is named '.jpg' but is really an MP4 video; rename it .mp4 and try again"


def test_an_image_renamed_mp4_is_refused_with_its_real_kind(db):
    reason = refused(make_image_bytes("JPEG"), "clip.mp4")
    assert reason == "the file is named '.mp4' but is really a JPEG image; rename it .jpg and try again"


def test_a_bomb_like_header_is_refused_before_decoding(db):
    reason = refused(clips.gif_animation(screen=(65535, 65535)), "bomb.gif")
    assert "too large to decode safely" in reason or "megapixels" in reason


def test_a_frame_size_over_the_limit_is_refused(db, settings):
    settings.VERITY_MAX_VIDEO_PIXELS = 64 * 40
    reason = refused(clips.red_clip(count=4), "big.mp4")
    assert "64x48 pixels" in reason and "megapixels a frame" in reason


def test_a_video_over_the_size_limit_is_refused(db, settings):
    settings.VERITY_MAX_VIDEO_BYTES = 1000
    assert "the limit for videos is" in refused(clips.red_clip(count=20), "big.mp4")


def test_garbage_named_mp4_is_refused(db):
    assert "damaged" in refused(b"\x00\x01garbage" * 100, "noise.mp4")


def test_a_rotation_that_is_not_a_quarter_turn_is_refused(db):
    assert "only quarter turns" in refused(clips.red_clip(count=4, rotation=45), "tilted.mp4")
