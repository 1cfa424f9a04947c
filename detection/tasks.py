"""Celery tasks: small, take ids, re-read state, safe to run twice."""
from celery import shared_task
from celery.signals import worker_ready
from celery_batches import Batches, SimpleRequest, apply_batches_task
from django import db
from django.conf import settings

from . import services


class ScoringBatches(Batches):
    """celery-batches, plus redelivery when the pool child running a batch dies.

    celery-batches acknowledges late requests when the batch returns; if the child is killed (out of
    memory, a crash) nothing would ever acknowledge or requeue them, so hand them back to the broker.
    """

    def flush(self, requests):
        batch = ([SimpleRequest.from_request(r) for r in requests],)

        def on_return(result):
            for request in requests:
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
    services.score_many([request.args[0] for request in requests])


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
