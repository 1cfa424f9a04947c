"""Celery tasks on the `training` queue: small, take ids, re-read state, safe to run twice."""
import logging
import traceback

from celery import shared_task
from django.utils import timezone

import audit

from .models import TrainingRun

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_training(run_id):
    """Train, evaluate and register the run `run_id` as a candidate version, reporting progress per epoch."""
    # Claim the run: only a queued run starts, so a redelivered task does nothing.
    claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED, cancel_requested=False).update(
        status=TrainingRun.Status.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        logger.info("training run %s is not queued; nothing to do", run_id)
        return None
    run = TrainingRun.objects.get(pk=run_id)
    return _train(run)


def _train(run):
    from . import services
    from .evaluation import evaluate_run
    from .trainer import TrainConfig, TrainingCancelled, train

    def progress(epoch, total, row):
        rows = list(TrainingRun.objects.filter(pk=run.pk).values_list("epochs", flat=True).first() or [])
        TrainingRun.objects.filter(pk=run.pk).update(epoch=epoch, total_epochs=total, epochs=[*rows, row])

    def should_stop():
        return TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

    try:
        result = train(TrainConfig(**run.config), progress=progress, should_stop=should_stop, log=logger.info)
        evaluate_run(result.output, log=logger.info)
        version = services.register_run(result.output, name=run.name, actor=run.created_by)
    except TrainingCancelled as exc:
        _finish(run, TrainingRun.Status.CANCELLED, str(exc))
        audit.record(None, "training.cancelled", run)
        return None
    except Exception as exc:  # the run records why it failed; the worker carries on
        logger.exception("training run %s failed", run.pk)
        _finish(run, TrainingRun.Status.FAILED, f"{exc.__class__.__name__}: {exc}\n\n{traceback.format_exc(limit=5)}")
        audit.record(None, "training.failed", run, error=str(exc)[:500])
        return None
    _finish(run, TrainingRun.Status.SUCCEEDED, f"trained {len(result.epochs)} epochs in {result.seconds:.0f} s", model_version=version)
    audit.record(None, "training.succeeded", run, model_version=version.name)
    return version.pk


def _finish(run, status, message, **fields):
    TrainingRun.objects.filter(pk=run.pk).update(status=status, message=message, finished_at=timezone.now(), **fields)
