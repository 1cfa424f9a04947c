"""Worker processes get ready when they start, not on their first task.

Celery's `worker_process_init` runs in every pool process as it starts:

- a process that consumes the inference queue loads the active model version in a background thread (and,
  where an approved int8 export exists, measures which runtime is faster on this host, detection/inference/
  runtime.py), then runs it once on a whole batch. The first batch after a start or a restart waits for that
  thread instead of paying for it itself; `celery worker` is never held up by a slow load (the pool would kill a
  process that took over 4 s to start);
- a process that consumes the prepare queue loads the face cascades (a few milliseconds; OpenCV's import took
  63 ms on its first search).

A failure is logged and left to the first task, which loads (and reports) as it always did.
VERITY_WARM_UP_WORKERS=0 turns it off.
"""
import logging
import threading

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

INFERENCE_QUEUE, PREPARE_QUEUE = "inference", "prepare"


def connect():
    from celery import signals

    signals.worker_process_init.connect(warm_up, dispatch_uid="detection.warmup.warm_up")


def warm_up(**kwargs):
    """worker_process_init (a pool process, as it starts)."""
    if not getattr(settings, "VERITY_WARM_UP_WORKERS", True):
        return
    queues = consumed_queues()
    if PREPARE_QUEUE in queues:
        load_face_cascades()
    if INFERENCE_QUEUE in queues:
        threading.Thread(target=load_active_model, name="verity-warm-up", daemon=True).start()


def consumed_queues(app=None):
    """The queues this worker consumes (`-Q`, or every routed queue without it), set before the pool forked."""
    if app is None:
        from celery import current_app as app

    queues = app.amqp.queues
    return set(queues.consume_from or queues)


def load_face_cascades():
    """The cascades the prepare queue's face search uses, in this (the task-running) thread: they are per thread."""
    from .forensics.faces import CASCADE, cascade
    from .inference.crops import FALLBACK_CASCADES

    try:
        for name in (CASCADE, *FALLBACK_CASCADES):
            cascade(name)
    except Exception as exc:  # OpenCV missing a file: the first search raises it where it is reported
        logger.warning("could not load the face cascades at start (the first search will): %s", exc)


def load_active_model():
    """Load the active version as the first batch would, and run it once on a whole batch. Never raises."""
    import numpy as np

    from training import registry

    from .inference.runtime import get_detector

    try:
        version = registry.active_version()
        detector = get_detector(version)
        size = getattr(settings, "VERITY_BATCH_SIZE", 16)
        detector.predict(np.zeros((size, version.input_size, version.input_size, 3), dtype=np.float32))
        logger.info("ready before the first batch: %s (%s runtime)", version.name, detector.runtime)
        return detector
    except Exception as exc:  # no active version yet, a missing file, the database down: the first batch reports it
        logger.warning("could not load the model at start (the first batch will): %s", exc)
        return None
    finally:
        connections.close_all()  # this thread's own connection
