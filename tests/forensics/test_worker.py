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
