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


def enqueue_evidence_for(submission_ids):
    """Ask for the evidence of a scored batch in one message: the scoring worker publishes once, and a default
    worker sends each submission's `compute_evidence` (so each keeps its own time limit and redelivery). A broker
    failure is logged, never raised; the sweeper asks again for evidence that never came."""
    from ..tasks import send_evidence_tasks

    if len(submission_ids) == 1:
        return enqueue_evidence(submission_ids[0])
    try:
        send_evidence_tasks.delay([str(pk) for pk in submission_ids])
    except Exception as exc:  # kombu raises OperationalError and friends when the broker is unreachable
        logger.warning("could not enqueue evidence for %d submissions: %s", len(submission_ids), exc)
        return False
    return True


def on_submissions_scored(sender, scored, **kwargs):
    ids = [submission.pk for submission, _ in scored]
    if ids:
        transaction.on_commit(lambda: enqueue_evidence_for(ids))
