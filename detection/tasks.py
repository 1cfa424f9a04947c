"""Celery tasks: small, take ids, re-read state, safe to run twice."""
import logging
import time

from celery import shared_task
from celery.signals import worker_ready
from celery_batches import Batches, SimpleRequest, apply_batches_task
from django import db
from django.conf import settings

from . import services, sweeper
from .storage import StorageUnavailable

logger = logging.getLogger(__name__)


# A batch that meets one of these (the database restarting, the object store unreachable) is handed back to
# the broker instead of being acknowledged away; anything else is a verdict: scored, or failed with a reason.
TRANSIENT_ERRORS = (db.OperationalError, db.InterfaceError, StorageUnavailable)
REQUEUE = "requeue"
# Seconds a batch that met a transient error waits before its messages go back: a database that is
# restarting is not hammered by the same batch in a tight loop.
TRANSIENT_BACKOFF_SECONDS = 2.0


class ScoringBatches(Batches):
    """celery-batches, plus redelivery when the batch meets a transient error or the pool child running it dies.

    celery-batches acknowledges late requests when the batch returns; if the child is killed (out of
    memory, a crash) nothing would ever acknowledge or requeue them, so hand them back to the broker. A batch
    that returns REQUEUE (it met a transient error) is handed back too.
    """

    def flush(self, requests):
        batch = ([SimpleRequest.from_request(r) for r in requests],)

        def on_return(result):
            for request in requests:
                if result == REQUEUE:
                    request.reject(requeue=True)
                else:
                    request.acknowledge()

        def on_worker_lost(exc_info):
            for request in requests:
                request.reject(requeue=True)

        return self._pool.apply_async(
            apply_batches_task, (self, batch, 0, None), callback=on_return, error_callback=on_worker_lost
        )


@shared_task(
    base=ScoringBatches,
    flush_every=settings.VERITY_BATCH_SIZE,
    flush_interval=settings.VERITY_BATCH_WAIT_MS / 1000,
    acks_late=True,
)
def score_submission(requests):
    """Score submissions with the active model version (inference queue).

    Called as `score_submission.delay(submission_id)`; celery-batches groups the calls into batches of up
    to VERITY_BATCH_SIZE, or whatever arrived within VERITY_BATCH_WAIT_MS.
    """
    try:
        services.score_many([request.args[0] for request in requests])
    except TRANSIENT_ERRORS as exc:
        logger.warning("scoring batch of %d met a transient error, sending it back: %s", len(requests), exc)
        db.connections.close_all()  # a broken connection is not reused by the next batch
        time.sleep(TRANSIENT_BACKOFF_SECONDS)
        return REQUEUE
    except Exception as exc:
        # A defect, not an outage: the batch's submissions fail with the reason instead of staying "processing".
        logger.exception("scoring batch of %d failed", len(requests))
        services.fail_unfinished([request.args[0] for request in requests], f"scoring failed: {exc.__class__.__name__}: {exc}")
    return None


# Not handed back when its process dies (unlike the settings' default): an image that kills the face search would
# otherwise kill prepare workers forever. Its upload stays queued and the sweep sends it straight to scoring,
# where a poison image fails after VERITY_MAX_SCORING_ATTEMPTS.
@shared_task(acks_late=True, reject_on_worker_lost=False, ignore_result=True)
def prepare_submission(submission_id):
    """Find a new upload's faces off the inference worker, then send it to scoring (prepare queue)."""
    services.prepare(submission_id)


@worker_ready.connect
def requeue_pending_submissions(sender=None, **kwargs):
    # Uploads made while the broker was down were stored but never enqueued; send them now.
    try:
        services.requeue_pending()
    finally:
        # This runs in the worker's parent process: never hand an open connection to forked children.
        db.connections.close_all()


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=300, time_limit=360)
def compute_evidence(submission_id, heatmap=None):
    """Heatmap, faces, metadata, Content Credentials and error levels of one submission (default queue)."""
    from .forensics import run

    evidence = run.compute(submission_id, heatmap_requested=heatmap)
    return evidence.pk if evidence else None


@shared_task(acks_late=True)
def export_model_version(version_id):
    """Export a model version to ONNX for the CPU workers (default queue); nothing to do if already exported."""
    services.export_for_serving(version_id)


@shared_task(acks_late=False, ignore_result=True)
def sweep():
    """Periodic recovery (celery beat, every VERITY_SWEEP_INTERVAL_SECONDS): see detection/sweeper.py."""
    return sweeper.sweep()
