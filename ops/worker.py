"""Worker heartbeats: each Celery worker writes its own WorkerHeartbeat row, whatever the broker.

- At start (`worker_init`, main process, before the pool forks): remember the node name and queues; the pool
  children inherit them.
- When ready (`worker_ready`, main process): write the row, then close the database connection, because the
  pool forks more children later and they must not share it; start the heartbeat thread.
- Every VERITY_WORKER_HEARTBEAT_SECONDS (daemon thread, main process): one UPDATE of `last_seen`.
- After every scoring batch (`detection.signals.submissions_scored`, pool child): one UPDATE counting the batch,
  with the model version and runtime that scored it, run after the batch's transaction commits.

A heartbeat that fails is logged and dropped: it never breaks scoring or stops the worker.
"""
import logging
import os
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_SECONDS = 15
# Rows of workers not seen for this long are removed when a worker starts (containers get new names).
FORGET_AFTER = timezone.timedelta(days=7)


@dataclass
class WorkerIdentity:
    hostname: str
    pid: int
    queues: list = field(default_factory=list)


_identity = None  # set in the worker's main process at start; None in web processes and eager tasks
_stop = threading.Event()


def connect():
    """Connect the Celery and detection signals (called from OpsConfig.ready)."""
    from celery import signals

    from detection.signals import submissions_scored

    signals.worker_init.connect(remember_identity, dispatch_uid="ops.worker.remember_identity")
    signals.worker_ready.connect(on_worker_ready, dispatch_uid="ops.worker.on_worker_ready")
    signals.worker_shutdown.connect(on_worker_shutdown, dispatch_uid="ops.worker.on_worker_shutdown")
    submissions_scored.connect(on_batch_scored, dispatch_uid="ops.worker.on_batch_scored")


def remember_identity(sender=None, **kwargs):
    """worker_init (main process): the node name and queues, inherited by the pool children forked next."""
    global _identity
    from detection.warmup import consumed_queues

    queues = sorted(consumed_queues(sender.app))
    _identity = WorkerIdentity(hostname=sender.hostname, pid=os.getpid(), queues=queues)


def on_worker_ready(sender=None, **kwargs):
    """worker_ready (main process): write the row and start beating."""
    if _identity is None:  # a worker started some other way than `celery worker`
        return
    try:
        write_start(_identity)
    except DatabaseError as exc:
        logger.warning("could not write the heartbeat of %s: %s", _identity.hostname, exc)
    finally:
        connections.close_all()  # never hand an open connection to children forked later
    _stop.clear()
    threading.Thread(target=_beat_forever, args=(_identity,), name="ops-heartbeat", daemon=True).start()


def on_worker_shutdown(**kwargs):
    _stop.set()


def heartbeat_seconds():
    return float(getattr(settings, "VERITY_WORKER_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS))


def write_start(identity, now=None):
    """The row of a worker that has just started: counters reset, old workers' rows forgotten."""
    from .models import WorkerHeartbeat

    now = now or timezone.now()
    WorkerHeartbeat.objects.filter(last_seen__lt=now - FORGET_AFTER).delete()
    WorkerHeartbeat.objects.update_or_create(
        hostname=identity.hostname,
        defaults=dict(
            pid=identity.pid, queues=identity.queues, model_version="", runtime="", started_at=now, last_seen=now,
            batches=0, last_batch_at=None,
        ),
    )  # fmt: skip


def beat(identity, now=None):
    """One heartbeat: `last_seen` is now (the row is written again if someone deleted it)."""
    from .models import WorkerHeartbeat

    now = now or timezone.now()
    if not WorkerHeartbeat.objects.filter(hostname=identity.hostname).update(last_seen=now):
        write_start(identity, now)


def _beat_forever(identity):
    while not _stop.wait(heartbeat_seconds()):
        try:
            beat(identity)
        except Exception as exc:  # the database is down or restarting: try again next time
            logger.warning("heartbeat of %s failed: %s", identity.hostname, exc)
        finally:
            connections.close_all()  # this thread's own connection; closed so a fork never inherits it open


def record_batch(version_name, runtime, now=None, run_size=None):
    """Count one scoring batch of this worker: one UPDATE. Does nothing outside a worker; never raises."""
    identity = _identity
    if identity is None:
        return
    now = now or timezone.now()
    try:
        if not _count_batch(identity, version_name, runtime, now, run_size):
            # The row written at start is gone (deleted, or the database was down then): write it again.
            write_start(identity, now)
            _count_batch(identity, version_name, runtime, now, run_size)
    except Exception as exc:
        logger.warning("could not record a scoring batch of %s: %s", identity.hostname, exc)


def _count_batch(identity, version_name, runtime, now, run_size=None):
    from .models import WorkerHeartbeat

    return WorkerHeartbeat.objects.filter(hostname=identity.hostname).update(
        batches=F("batches") + 1, last_batch_at=now, last_seen=now, model_version=version_name, runtime=runtime,
        run_size=run_size,
    )  # fmt: skip


def on_batch_scored(sender=None, scored=(), **kwargs):
    """submissions_scored (pool child, inside the batch's transaction): count the batch once it commits."""
    if _identity is None or not scored:
        return
    try:
        version = scored[0][1].model_version
        runtime = kwargs.get("runtime") or serving_runtime(version)
        from detection.inference.runtime import serving_run_size

        run_size = serving_run_size(version)
        transaction.on_commit(lambda: record_batch(version.name, runtime, run_size=run_size), robust=True)
    except Exception as exc:  # a receiver that raises would break the batch's transaction: never
        logger.warning("could not schedule the heartbeat of a scoring batch: %s", exc)


def serving_runtime(version):
    """The runtime this process chose for `version` by measuring (detection/inference/runtime.py); "" if unknown."""
    from detection.inference import runtime as inference_runtime

    return inference_runtime.runtime_choices().get(version.name, {}).get("chosen") or ""
