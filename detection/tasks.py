"""Celery tasks: small, take ids, re-read state, safe to run twice."""
from celery import shared_task
from celery.signals import worker_ready
from django import db

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def score_submission(submission_id):
    """Score one submission with the active model version (inference queue)."""
    detection = services.score(submission_id)
    return detection.pk if detection else None


@worker_ready.connect
def requeue_pending_submissions(sender=None, **kwargs):
    # Uploads made while the broker was down were stored but never enqueued; send them now.
    try:
        services.requeue_pending()
    finally:
        # This runs in the worker's parent process: never hand an open connection to forked children.
        db.connections.close_all()
