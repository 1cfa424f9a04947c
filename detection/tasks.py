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


class AdaptiveBatches(Batches):
    """celery-batches whose batches grow while the pool is busy, with a say in what a returned or lost batch's
    messages become (batch_returned, batch_lost).

    celery-batches flushes its buffer every flush_interval whether or not the pool can take the batch, so under
    a steady backlog the scoring child ran a queue of tiny batches (2 to 5 images at 30 uploads a second, each
    paying the batch's database round trips and audit append in full) while the model waited. Here the
    interval's flush waits while every pool process is busy: the buffer keeps filling (up to flush_every, which
    still flushes at once) and goes as one batch as soon as a process is free. An idle worker flushes on the
    interval as before, so latency at a low rate is unchanged.

    celery-batches acknowledges late requests when the batch returns; if the child is killed (out of memory, a
    crash) nothing would ever acknowledge or requeue them: batch_lost decides (by default they go back).
    """

    # A partial batch waits for a busy pool at most this long, then queues behind it as celery-batches would: a
    # count of batches in flight that ever went wrong can delay a batch, never strand it.
    max_hold_seconds = 2.0
    _in_flight = 0  # batches handed to the pool that have not returned (counted in the worker's main process)
    _held_since = None
    _timer = None

    def Strategy(self, task, app, consumer):
        self._timer = consumer.timer
        return super().Strategy(task, app, consumer)

    def _do_flush(self):
        if self._in_flight >= self._pool.num_processes and self._buffer.qsize() < self.flush_every:
            now = time.monotonic()
            self._held_since = self._held_since or now
            if now - self._held_since < self.max_hold_seconds:
                return  # the next free process takes everything buffered by then (the interval's timer keeps running)
        self._held_since = None
        super()._do_flush()

    def _batch_done(self):
        self._in_flight -= 1
        if self._buffer.qsize() and self._timer is not None:
            self._timer.call_after(0, self._do_flush)  # what waited for a free process goes now, not at the next tick

    def batch_returned(self, requests, result):
        for request in requests:
            request.acknowledge()

    def batch_lost(self, requests, batch):
        for request in requests:
            request.reject(requeue=True)

    def flush(self, requests):
        batch = [SimpleRequest.from_request(r) for r in requests]

        def on_return(result):
            self.batch_returned(requests, result)
            self._batch_done()

        def on_worker_lost(exc_info):
            self.batch_lost(requests, batch)
            self._batch_done()

        self._in_flight += 1
        try:
            return self._pool.apply_async(
                apply_batches_task, (self, (batch,), 0, None), callback=on_return, error_callback=on_worker_lost
            )
        except BaseException:
            self._in_flight -= 1
            raise


class ScoringBatches(AdaptiveBatches):
    """Scoring batches: one that met a transient error (it returns REQUEUE), or whose process died, goes back to
    the broker; a submission that keeps killing its worker fails after VERITY_MAX_SCORING_ATTEMPTS."""

    def batch_returned(self, requests, result):
        for request in requests:
            if result == REQUEUE:
                request.reject(requeue=True)
            else:
                request.acknowledge()


class PrepareBatches(AdaptiveBatches):
    """Face-search batches: one whose process died is not handed back (an image that kills the face search would
    kill prepare workers forever); its uploads go straight to scoring, where the worker looks itself and a poison
    image fails after VERITY_MAX_SCORING_ATTEMPTS. A message the broker refuses now is left to the sweep."""

    def batch_lost(self, requests, batch):
        for request, simple in zip(requests, batch):
            try:
                score_submission.delay(simple.args[0])
            except Exception as exc:
                logger.warning("could not send %s to scoring after its prepare batch died (the sweep will): %s",
                               simple.args[0], exc)  # fmt: skip
            request.acknowledge()


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


@shared_task(
    base=PrepareBatches,
    flush_every=settings.VERITY_BATCH_SIZE,
    flush_interval=settings.VERITY_PREPARE_WAIT_MS / 1000,
    acks_late=True,
    ignore_result=True,
)
def prepare_submission(requests):
    """Find new uploads' faces off the inference worker, then send them to scoring (prepare queue).

    Called as `prepare_submission.delay(submission_id)`; grouped like scoring's batches (PrepareBatches), so a
    batch costs one query to read and one to store, not two or three an image and a task's overhead each.
    """
    services.prepare_many([request.args[0] for request in requests])


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


@shared_task(acks_late=True, ignore_result=True)
def send_evidence_tasks(submission_ids):
    """One scored batch's evidence (default queue): a `compute_evidence` for each submission. Sent again after a
    crash, it asks twice for some, which is harmless: done evidence is not recomputed."""
    from .forensics.receivers import enqueue_evidence

    for submission_id in submission_ids:
        enqueue_evidence(submission_id)


@shared_task(acks_late=True)
def export_model_version(version_id):
    """Export a model version to ONNX for the CPU workers (default queue); nothing to do if already exported."""
    services.export_for_serving(version_id)


@shared_task(acks_late=False, ignore_result=True)
def sweep():
    """Periodic recovery (celery beat, every VERITY_SWEEP_INTERVAL_SECONDS): see detection/sweeper.py."""
    return sweeper.sweep()
