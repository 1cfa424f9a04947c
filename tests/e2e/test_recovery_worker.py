"""Whole-worker crashes with real processes: celery beat's sweep gets every upload scored, exactly once."""
import os
import signal
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import transaction

import audit.services
from audit.models import AuditEvent
from detection import services
from detection.models import Detection, Submission
from tests.conftest import make_image_bytes
from tests.e2e.conftest import database_url, wait_for

pytestmark = pytest.mark.e2e

# A short recovery clock, so that the test sees the sweep act within seconds.
RECOVERY = {"VERITY_SWEEP_INTERVAL_SECONDS": "1", "VERITY_STUCK_AFTER_SECONDS": "3"}


@pytest.fixture
def beat(tmp_path, transactional_db):
    """`celery beat` as make run and docker-compose start it, with the short recovery clock."""
    env = dict(os.environ, DATABASE_URL=database_url(), CELERY_BROKER_URL=settings.CELERY_BROKER_URL, **RECOVERY)
    log = open(tmp_path / "beat.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info", "-s", str(tmp_path / "schedule")],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    yield proc
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def counts():
    return dict(
        scored=Submission.objects.filter(status="scored").count(),
        unfinished=Submission.objects.exclude(status__in=["scored", "failed"]).count(),
        detections=Detection.objects.count(),
    )


def test_uploads_held_by_a_worker_killed_whole_are_scored_once_by_the_next_worker(start_worker, beat, journalist, active_model):
    # Not warmed up: the first batch's model load keeps it busy long enough to be killed with work in hand.
    first = start_worker(VERITY_BATCH_SIZE="4", VERITY_WARM_UP_WORKERS="0", **RECOVERY)
    with transaction.atomic():  # all committed at once: the worker prefetches a batch's worth and more
        uploads = [
            services.submit(data=make_image_bytes(color=(200, 10, i)), name=f"{i}.jpg", uploader=journalist)
            for i in range(24)
        ]
    # Kill the whole worker (its process group, as a crashed container) as soon as it has taken work up: the
    # messages it prefetched stay unacknowledged in the broker, invisible to any other worker.
    wait_for(lambda: Submission.objects.exclude(status="queued").exists(), 90, "the first batch", first)
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait()
    assert counts()["unfinished"] > 0, "the worker finished everything before it was killed; nothing was tested"

    second = start_worker(**RECOVERY)
    wait_for(lambda: counts()["unfinished"] == 0, 120, "every upload to finish", second)
    assert counts() == {"scored": 24, "unfinished": 0, "detections": 24}
    assert set(Detection.objects.values_list("submission_id", flat=True)) == {u.pk for u in uploads}
    scored_events = AuditEvent.objects.filter(action="submission.scored").values_list("target_id", flat=True)
    assert sorted(scored_events) == sorted(str(u.pk) for u in uploads)  # one event each: never scored twice
    assert audit.services.verify() is None  # the hash chain is intact


def test_an_upload_whose_message_never_reached_a_worker_is_scored_by_the_sweep(start_worker, beat, journalist, active_model):
    worker = start_worker(**RECOVERY)
    lost = services.submit(data=make_image_bytes(color=(10, 200, 10)), name="lost.jpg", uploader=journalist, enqueue=False)
    wait_for(lambda: Submission.objects.get(pk=lost.pk).status == "scored", 90, "the sweep to send it again", worker)
    lost.refresh_from_db()
    assert lost.requeued_at is not None and Detection.objects.filter(submission=lost).count() == 1
    assert "detection.tasks.sweep" in worker.output()
