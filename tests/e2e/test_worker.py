"""An upload goes from the portal to a stored, shown verdict through a real Celery worker process."""
import os
import signal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection import services
from detection.models import Detection, Submission
from detection.presentation import describe
from tests.conftest import make_image_bytes
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


def status_of(pk):
    return Submission.objects.values_list("status", flat=True).get(pk=pk)


def test_a_portal_upload_is_scored_by_the_worker_and_shown(celery_worker_process, client, journalist, active_model):
    client.force_login(journalist)
    image = SimpleUploadedFile("red.jpg", make_image_bytes("JPEG", color=(230, 10, 10)), content_type="image/jpeg")
    response = client.post(reverse("detection:upload"), {"images": [image]})
    assert "Queued for scoring (1)" in response.content.decode()
    submission = Submission.objects.get()

    wait_for(lambda: status_of(submission.pk) == "scored", 60, "the verdict", celery_worker_process)

    detection = Detection.objects.get(submission=submission)
    assert detection.label == "fake" and detection.model_version == active_model
    html = client.get(reverse("detection:submission-detail", args=[submission.pk])).content.decode()
    assert "Likely fake" in html and f'id="probability">{describe(detection).score}<' in html
    assert "score_submission" in celery_worker_process.output()


def test_a_task_whose_worker_is_killed_is_redelivered_and_scored_once(start_worker, journalist, active_model):
    # Not warmed up at start (detection/warmup.py): the first task in a fresh child then spends seconds loading
    # Keras after marking the submission processing; kill the child in that window, as an out-of-memory kill or
    # a crash would.
    worker = start_worker(VERITY_WARM_UP_WORKERS="0")
    submission = services.submit(data=make_image_bytes(color=(10, 10, 230)), name="blue.jpg", uploader=journalist)
    wait_for(lambda: status_of(submission.pk) == "processing", 60, "processing", worker)
    children = worker.children()
    assert children, "the prefork worker has no child process"
    for pid in children:
        os.kill(pid, signal.SIGKILL)

    wait_for(lambda: status_of(submission.pk) == "scored", 90, "the redelivered task", worker)
    assert Detection.objects.filter(submission=submission).count() == 1
    assert worker.proc.poll() is None, "the worker itself must survive a lost child"
    assert "WorkerLostError" in worker.output() or "signal 9" in worker.output()


def test_a_starting_worker_loads_the_model_before_its_first_task(start_worker, journalist, active_model):
    worker = start_worker()
    wait_for(lambda: "ready before the first batch: tiny-test" in worker.output(), 90, "the warm-up", worker)
    submission = services.submit(data=make_image_bytes(color=(230, 10, 10)), name="red.jpg", uploader=journalist)
    wait_for(lambda: status_of(submission.pk) == "scored", 60, "the verdict", worker)
    # The child that scored it had loaded the model once, at start: the first batch found it loaded.
    assert worker.output().count("loaded tiny-test") == 1


def test_the_worker_scores_in_batches_no_larger_than_the_setting(start_worker, journalist, active_model):
    from django.db import transaction

    from audit.models import AuditEvent

    worker = start_worker(VERITY_BATCH_SIZE="4", VERITY_BATCH_WAIT_MS="500")
    with transaction.atomic():  # ten uploads committed at once: their tasks reach the worker together
        submissions = [
            services.submit(data=make_image_bytes(color=(200, 10, i)), name=f"{i}.jpg", uploader=journalist)
            for i in range(10)
        ]
    wait_for(
        lambda: Submission.objects.filter(status="scored").count() == 10, 120, "ten verdicts", worker
    )
    sizes = [e.data["batch_size"] for e in AuditEvent.objects.filter(action="submission.scored")]
    assert len(sizes) == 10 and max(sizes) <= 4 and max(sizes) > 1, sizes
    assert {s.pk for s in submissions} == set(Detection.objects.values_list("submission_id", flat=True))
