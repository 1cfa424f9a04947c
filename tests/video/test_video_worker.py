"""A clip scored end to end by a real Celery worker process: once, and again after its worker is killed mid-clip."""
import os
import re
import signal

import pytest

from detection import services
from detection.models import Detection, Submission, VideoFrame
from tests.e2e.conftest import wait_for
from tests.video import clips

pytestmark = pytest.mark.e2e


def test_the_worker_scores_a_clip_with_its_faces_tracked(start_worker, settings, journalist, active_model):
    worker = start_worker(VERITY_SCORE_FACES="1", VERITY_VIDEO_SAMPLE_RATE="2")
    data = clips.encode(list(clips.face_frames(16, tint=(255, 0, 0))), fps=4)  # 4 s
    submission = services.submit(data=data, name="face.mp4", uploader=journalist)
    wait_for(lambda: Submission.objects.get(pk=submission.pk).status == "scored", 180, "the clip's verdict", worker)
    submission.refresh_from_db()
    detection = Detection.objects.get(submission=submission)
    assert detection.scored_on == "tracks" and detection.label == "fake"
    assert len(detection.timeline) == 8 == submission.frames_scored == submission.frames_to_score
    assert detection.tracks and detection.tracks[0]["frames"] >= 4
    assert worker.proc.poll() is None  # the worker is still alive


def test_a_clip_whose_worker_is_killed_mid_way_is_resumed_and_scored_once(start_worker, settings, journalist, active_model):
    # Enough frames that the worker is still in the middle when it is killed (each chunk of 16 is stored first).
    worker = start_worker(VERITY_VIDEO_SAMPLE_RATE="20", VERITY_VIDEO_MAX_FRAMES="400")
    data = clips.encode(list(clips.colour_frames(400, size=(640, 360))), fps=20, gop=20)  # 20 s
    submission = services.submit(data=data, name="long.mp4", uploader=journalist)

    def part_way():
        s = Submission.objects.get(pk=submission.pk)
        return s.status == "scored" or 16 <= s.frames_scored < 400
    wait_for(part_way, 180, "the first frames of the clip to be scored", worker)
    done_before = VideoFrame.objects.filter(submission=submission).count()
    assert Submission.objects.get(pk=submission.pk).status != "scored", "scored before it could be interrupted"
    for child in worker.children():
        os.kill(child, signal.SIGKILL)  # the pool process scoring the clip dies; the batch is handed back

    wait_for(lambda: Submission.objects.get(pk=submission.pk).status == "scored", 240, "the resumed clip's verdict", worker)
    assert Detection.objects.filter(submission=submission).count() == 1
    assert VideoFrame.objects.filter(submission=submission).count() == 400
    resumed = re.search(r"resuming: (\d+) of 400 frames already scored", worker.output())
    assert resumed and done_before <= int(resumed.group(1)) < 400  # the frames scored before the kill were kept
