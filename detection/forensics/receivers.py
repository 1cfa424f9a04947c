"""Start the evidence task when a submission is scored; connected in DetectionConfig.ready()."""
import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_evidence(submission_id, heatmap=None):
    """Send `compute_evidence`; a broker failure is logged, never raised (the verdict stands without evidence)."""
    from ..tasks import compute_evidence

    try:
        compute_evidence.delay(str(submission_id), heatmap)
    except Exception as exc:  # kombu raises OperationalError and friends when the broker is unreachable
        logger.warning("could not enqueue evidence for %s: %s", submission_id, exc)
        return False
    return True


def on_submissions_scored(sender, scored, **kwargs):
    ids = [submission.pk for submission, _ in scored]

    def enqueue_all():
        for submission_id in ids:
            enqueue_evidence(submission_id)

    transaction.on_commit(enqueue_all)
