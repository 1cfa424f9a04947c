"""A real worker process using the bucket through the AWS_* variables, and riding out a restart of the store."""
import pytest

from audit.models import AuditEvent
from detection import services
from detection.models import Detection, Submission
from tests.conftest import make_image_bytes
from tests.e2e.conftest import start_worker, wait_for  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e


def status_of(pk):
    return Submission.objects.values_list("status", flat=True).get(pk=pk)


def test_a_worker_scores_an_upload_from_the_bucket(s3, start_worker, journalist, active_model):
    worker = start_worker(**s3.env)
    submission = services.submit(data=make_image_bytes(color=(230, 10, 10)), name="red.jpg", uploader=journalist)

    wait_for(lambda: status_of(submission.pk) == "scored", 90, "the verdict", worker)
    assert Detection.objects.get(submission=submission).label == "fake"


def test_a_worker_reading_while_the_store_restarts_scores_once_it_is_back(s3, object_store, start_worker, journalist, active_model):
    worker = start_worker(**s3.env)
    submission = services.submit(data=make_image_bytes(color=(230, 10, 10)), name="red.jpg", uploader=journalist, enqueue=False)
    object_store.stop()

    services.enqueue_scoring(submission.pk)
    # The worker tried (with its retries) and gave up on this batch for now: the store's log line says so.
    wait_for(lambda: "file store unavailable (read" in worker.output(), 90, "the worker to meet the stopped store", worker)
    assert status_of(submission.pk) != "failed", worker.output()[-3000:]

    object_store.start()
    services.enqueue_scoring(submission.pk)  # as the sweeper does for a submission left waiting
    wait_for(lambda: status_of(submission.pk) == "scored", 60, "the verdict once the store is back", worker)
    assert Detection.objects.filter(submission=submission).count() == 1
    assert not AuditEvent.objects.filter(action="submission.failed", target_id=str(submission.pk)).exists()
