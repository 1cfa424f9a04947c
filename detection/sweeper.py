"""The periodic sweep that makes "every accepted upload ends scored or failed" hold whatever crashed.

Celery beat runs `detection.tasks.sweep` every VERITY_SWEEP_INTERVAL_SECONDS (`make run` starts beat beside
the worker; docker-compose has a `beat` service); `manage.py sweep` runs it once by hand. Each pass:

- **Submissions** queued or processing with no sign of life for VERITY_STUCK_AFTER_SECONDS are sent to the
  inference queue again; while N messages still wait in that queue, all but the N most recently sent (they may
  be those N: the queue is first in, first out): their message was lost with a killed worker (its prefetched messages stay
  unacknowledged in Redis until the visibility timeout), with a broker that restarted without them, or the
  batch that took them up died. Scoring is idempotent (one detection per submission and model version, a
  unique constraint), so a submission sent twice is still scored once. A submission the sweeper sent is not
  sent again for another VERITY_STUCK_AFTER_SECONDS; one that keeps killing its worker fails after
  VERITY_MAX_SCORING_ATTEMPTS batches (detection/services.py).
- **Webhook deliveries** still pending whose retry is overdue (the retry's countdown message died with its
  worker) or that were never attempted are sent again; the attempt number is claimed in the database, so a
  delivery is never attempted twice at once.
- **Evidence** of scored submissions that never got its task, or whose row stayed pending past the task's
  time limit, is sent again.
- **Review claims** whose time ran out return to the queue.

Every step sends at most VERITY_SWEEP_LIMIT items a pass, oldest first, and stops at the first broker error
(the broker is down: the next pass tries again).
"""
import logging

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Evidence, Submission, WebhookDelivery

logger = logging.getLogger(__name__)

# Evidence rows may stay pending while their task runs, up to its hard time limit (detection/tasks.py).
EVIDENCE_TIME_LIMIT_SECONDS = 360
# Scored submissions older than this are not given evidence by the sweeper (they predate it, or were purged).
EVIDENCE_LOOKBACK = timezone.timedelta(days=1)


def sweep(now=None):
    """One pass; returns what it did, e.g. {"submissions": 3, "webhooks": 0, "evidence": 1, "claims": 0}."""
    from review import services as review_services

    now = now or timezone.now()
    done = {
        "submissions": resend_stuck_submissions(now),
        "webhooks": resend_overdue_webhooks(now),
        "evidence": resend_missing_evidence(now),
        "claims": review_services.expire_claims(now),
    }
    if any(done.values()):
        logger.info("sweep: %s", done)
    return done


def stuck_submissions(now=None):
    """Queued or processing submissions with no sign of life for VERITY_STUCK_AFTER_SECONDS, oldest first."""
    now = now or timezone.now()
    stale = now - timezone.timedelta(seconds=settings.VERITY_STUCK_AFTER_SECONDS)
    quiet = Q(updated_at__lt=stale) & (Q(requeued_at__isnull=True) | Q(requeued_at__lt=stale))
    return Submission.objects.filter(
        Q(enqueue_pending=True) | quiet, status__in=[Submission.Status.QUEUED, Submission.Status.PROCESSING]
    ).order_by("created_at")


def inference_backlog():
    """Messages waiting in the broker's inference queue; None when the broker cannot say."""
    from .broker import queue_depths

    return queue_depths(["inference"]).depths.get("inference")


def resend_stuck_submissions(now=None):
    from .services import enqueue_scoring

    now = now or timezone.now()
    limit = settings.VERITY_SWEEP_LIMIT
    stuck = stuck_submissions(now)
    ids = list(stuck.filter(enqueue_pending=True).values_list("pk", flat=True)[:limit])  # never reached the broker
    sent_before = stuck.filter(enqueue_pending=False).order_by(Coalesce("requeued_at", "created_at"), "created_at")
    waiting = inference_backlog()
    if waiting:
        # The queue is first in, first out: the messages still waiting in it are the most recently sent. So of the
        # quiet submissions, all but the `waiting` most recently sent cannot be among them: their messages were
        # lost. Send those (oldest first) and leave the rest to wait their turn. Measured with bench/faults.py:
        # re-sending on age alone during a 10,000-upload backlog sent 19,703 copies and slowed the workers.
        lost = max(0, sent_before.count() - waiting)
        sent_before = sent_before[:lost]
    ids += list(sent_before.values_list("pk", flat=True)[: max(0, limit - len(ids))])
    sent = []
    for pk in ids:
        if not enqueue_scoring(pk):
            break  # the broker is down: enqueue_scoring marked it pending; the next pass tries again
        sent.append(pk)
    if sent:
        Submission.objects.filter(pk__in=sent).update(requeued_at=now)
        logger.warning("sent %d stuck submission(s) to the inference queue again", len(sent))
    return len(sent)


def resend_overdue_webhooks(now=None):
    from .webhooks import enqueue

    now = now or timezone.now()
    stale = now - timezone.timedelta(seconds=settings.VERITY_STUCK_AFTER_SECONDS)
    overdue = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).filter(
        Q(next_attempt_at__lt=stale) | Q(next_attempt_at__isnull=True, created_at__lt=stale)
    )
    sent = []
    for pk in overdue.order_by("created_at").values_list("pk", flat=True)[: settings.VERITY_SWEEP_LIMIT]:
        if not enqueue(pk):
            break
        sent.append(pk)
    if sent:
        # Due now: if this send is lost too, the next pass after VERITY_STUCK_AFTER_SECONDS tries again.
        WebhookDelivery.objects.filter(pk__in=sent, status=WebhookDelivery.Status.PENDING).update(next_attempt_at=now)
    return len(sent)


def resend_missing_evidence(now=None):
    from .forensics.receivers import enqueue_evidence

    now = now or timezone.now()
    stale = now - timezone.timedelta(seconds=settings.VERITY_STUCK_AFTER_SECONDS)
    limit = settings.VERITY_SWEEP_LIMIT
    missing = Submission.objects.filter(
        status=Submission.Status.SCORED, evidence__isnull=True, scored_at__lt=stale, scored_at__gt=now - EVIDENCE_LOOKBACK
    ).values_list("pk", flat=True)[:limit]
    for pk in missing:
        # A pending row marks it as asked for, so the next pass does not send it again straight away.
        Evidence.objects.get_or_create(submission_id=pk, defaults={"requested_at": now})
    running_before = stale - timezone.timedelta(seconds=EVIDENCE_TIME_LIMIT_SECONDS)
    pending = Evidence.objects.filter(status=Evidence.Status.PENDING).filter(
        Q(requested_at=now) | Q(requested_at__lt=running_before) | Q(requested_at__isnull=True, created_at__lt=running_before)
    )
    sent = []
    for submission_id in pending.order_by("created_at").values_list("submission_id", flat=True)[:limit]:
        if not enqueue_evidence(submission_id):
            break
        sent.append(submission_id)
    if sent:
        Evidence.objects.filter(submission_id__in=sent).update(requested_at=now)
    return len(sent)
