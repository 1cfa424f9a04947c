"""With a real Celery worker: scoring on the inference queue is followed by evidence on the default queue."""
import pytest

from detection import services
from detection.models import Evidence
from tests.e2e.conftest import celery_worker_process, start_worker, wait_for  # noqa: F401 (fixtures)

from .conftest import encode, face_image

pytestmark = [pytest.mark.e2e]


def test_a_worker_computes_the_evidence_after_scoring(celery_worker_process, journalist, active_model):  # noqa: F811
    submission = services.submit(data=encode(face_image()), name="portrait.jpg", uploader=journalist)

    evidence = wait_for(
        lambda: Evidence.objects.filter(submission=submission, status=Evidence.Status.DONE).first(),
        timeout=120,
        what="the evidence of the scored submission",
        worker=celery_worker_process,
    )

    assert evidence.faces["count"] == 1
    assert evidence.metadata["status"] == evidence.error_levels["status"] == "ok"
    assert "compute_evidence" in celery_worker_process.output()


def test_a_scored_batchs_evidence_goes_through_one_message_to_the_worker(celery_worker_process, journalist, active_model):  # noqa: F811
    batch = [services.submit(data=encode(face_image(background=(20 * i, 90, 120))), name=f"{i}.jpg", uploader=journalist,
                             enqueue=False) for i in range(3)]  # fmt: skip
    services.score_many([s.pk for s in batch])  # committed: its evidence message goes to the real broker

    wait_for(
        lambda: Evidence.objects.filter(submission__in=batch, status=Evidence.Status.DONE).count() == 3,
        timeout=120,
        what="the evidence of the three submissions scored together",
        worker=celery_worker_process,
    )
    log = celery_worker_process.output()
    assert log.count("detection.tasks.send_evidence_tasks") >= 1 and "compute_evidence" in log
