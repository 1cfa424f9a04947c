"""Workers write their own heartbeat rows: at start, after every scoring batch and on a timer, with any broker."""
from unittest import mock

import pytest
from django.conf import settings
from django.db import DatabaseError

from detection import services
from detection.models import Submission
from ops import worker
from ops.models import WorkerHeartbeat
from tests.conftest import make_image_bytes
from tests.e2e.conftest import start_worker, wait_for  # noqa: F401 (start_worker is a fixture)


@pytest.mark.e2e
def test_a_real_worker_reports_its_start_its_batches_and_its_heartbeats(start_worker, journalist, active_model):
    proc = start_worker(VERITY_WORKER_HEARTBEAT_SECONDS="1")
    row = wait_for(lambda: WorkerHeartbeat.objects.filter(pid=proc.proc.pid).first(), 30, "the start row", proc)
    assert row.hostname.startswith("e2e-") and sorted(row.queues) == ["default", "inference", "prepare", "sweep"]
    assert row.batches == 0 and row.model_version == "" and row.last_batch_at is None

    # The timer in the main process: last_seen moves on with no task at all.
    first_seen = row.last_seen
    wait_for(lambda: WorkerHeartbeat.objects.get(pk=row.pk).last_seen > first_seen, 30, "a heartbeat", proc)

    # A scoring batch in the pool child: counted, with the version and the runtime that scored it.
    submission = services.submit(data=make_image_bytes(color=(230, 10, 10)), name="red.jpg", uploader=journalist)
    wait_for(lambda: Submission.objects.get(pk=submission.pk).status == "scored", 90, "the verdict", proc)
    row = wait_for(lambda: WorkerHeartbeat.objects.filter(pk=row.pk, batches__gte=1).first(), 30, "the batch", proc)
    assert row.batches == 1 and row.model_version == "tiny-test"
    assert row.runtime == "keras"  # no ONNX export of the tiny model exists: the worker falls back to Keras
    assert row.run_size == settings.VERITY_BATCH_SIZE  # Keras runs whole batches (ONNX ones are timed at load)
    assert row.last_batch_at is not None and row.pid == proc.proc.pid


def test_outside_a_worker_a_scored_batch_writes_nothing(journalist, active_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the upload's task runs eagerly, in this process
        services.submit(data=make_image_bytes(color=(230, 10, 10)), name="red.jpg", uploader=journalist)
    assert Submission.objects.get().status == "scored"
    assert not WorkerHeartbeat.objects.exists()


def test_a_failing_heartbeat_never_breaks_scoring(journalist, active_model, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(worker, "_identity", worker.WorkerIdentity("cpu@box", 12, ["inference"]))
    with mock.patch.object(worker, "_count_batch", side_effect=DatabaseError("table is locked")) as count:
        with django_capture_on_commit_callbacks(execute=True):
            services.submit(data=make_image_bytes(color=(230, 10, 10)), name="red.jpg", uploader=journalist)
    assert count.called  # the heartbeat was attempted, failed, and scoring went on
    assert Submission.objects.get().status == "scored"


def test_a_batch_writes_the_row_again_when_it_has_gone(db, monkeypatch):
    identity = worker.WorkerIdentity("cpu@box", 12, ["inference"])
    monkeypatch.setattr(worker, "_identity", identity)
    worker.record_batch("v1", "onnx")
    row = WorkerHeartbeat.objects.get()
    assert (row.hostname, row.pid, row.batches, row.model_version, row.runtime) == ("cpu@box", 12, 1, "v1", "onnx")
