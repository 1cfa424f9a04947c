"""What the staff page /ops/ and its JSON twin show: queues, uploads, stuck items, workers, failed webhooks.

Every figure is read fresh on each request: the page is for someone asking "is anything wrong right now?".
"""
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Min
from django.urls import reverse
from django.utils import timezone

from detection.models import Submission, WebhookDelivery

from detection import broker
from .models import WorkerHeartbeat

# The queues Verity's workers consume (config/settings.py CELERY_TASK_ROUTES), with what each is for.
QUEUES = {
    "inference": "scoring uploads with the detector",
    "prepare": "finding the faces of new uploads before scoring",
    "default": "evidence, ONNX exports and webhooks",
    "sweep": "the recovery sweep (celery beat, every few seconds)",
    "training": "training runs",
}
# A worker is live when it has written its heartbeat (every ~15 s) within this many seconds.
LIVE_SECONDS = 60
# Workers not heard from for longer than LIVE_SECONDS are listed as quiet for this long, then left out.
QUIET_LISTED_FOR = timezone.timedelta(days=1)
DEFAULT_STUCK_AFTER_SECONDS = 120
LIST_LIMIT = 20


def stuck_after_seconds():
    return getattr(settings, "VERITY_STUCK_AFTER_SECONDS", DEFAULT_STUCK_AFTER_SECONDS)


@dataclass
class StuckUpload:
    submission: Submission
    age_seconds: float
    admin_url: str


def submission_counts():
    """{status: number of submissions} for every status, zeros included, in the order of Submission.Status."""
    counts = dict(Submission.objects.order_by().values_list("status").annotate(n=Count("pk")))
    return {status: counts.get(status, 0) for status in Submission.Status.values}


def oldest_queued_age_seconds(now):
    """Seconds since the oldest upload still queued arrived; None when none is queued."""
    oldest = Submission.objects.filter(status=Submission.Status.QUEUED).aggregate(at=Min("created_at"))["at"]
    return (now - oldest).total_seconds() if oldest else None


def stuck_uploads(now, limit=LIST_LIMIT):
    """(number, the oldest `limit`) of uploads still queued or processing STUCK_AFTER seconds after they arrived."""
    cutoff = now - timezone.timedelta(seconds=stuck_after_seconds())
    unfinished = Submission.objects.filter(
        status__in=[Submission.Status.QUEUED, Submission.Status.PROCESSING], created_at__lt=cutoff
    )
    oldest = unfinished.order_by("created_at")[:limit]
    return unfinished.count(), [
        StuckUpload(s, (now - s.created_at).total_seconds(), reverse("admin:detection_submission_change", args=[s.pk]))
        for s in oldest
    ]


def workers(now):
    """(live, quiet) WorkerHeartbeat lists: seen within LIVE_SECONDS, and seen within a day but not since."""
    live_since = now - timezone.timedelta(seconds=LIVE_SECONDS)
    recent = WorkerHeartbeat.objects.filter(last_seen__gte=now - QUIET_LISTED_FOR)
    live, quiet = [], []
    for heartbeat in recent.order_by("hostname"):
        heartbeat.seen_seconds_ago = _seconds_between(heartbeat.last_seen, now)
        heartbeat.running_seconds = _seconds_between(heartbeat.started_at, now)
        heartbeat.last_batch_seconds_ago = _seconds_between(heartbeat.last_batch_at, now)
        (live if heartbeat.last_seen >= live_since else quiet).append(heartbeat)
    return live, quiet


def failed_webhooks(limit=LIST_LIMIT):
    """(number, the latest `limit`) of webhook deliveries that gave up, each with its admin page."""
    failed = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).select_related("organisation")
    latest = list(failed.order_by("-created_at")[:limit])
    for delivery in latest:
        delivery.admin_url = reverse("admin:detection_webhookdelivery_change", args=[delivery.pk])
    return failed.count(), latest


def active_model_name():
    from training import registry

    try:
        return registry.active_version().name
    except registry.NoActiveModel:
        return None


def collect(now=None):
    """Everything the page shows, as Python objects (the template and as_json() read it)."""
    now = now or timezone.now()
    stuck_count, stuck = stuck_uploads(now)
    live, quiet = workers(now)
    failed_count, failed = failed_webhooks()
    depths = broker.queue_depths(list(QUEUES))
    return {
        "now": now,
        "queues": [(name, purpose, depths.depths[name]) for name, purpose in QUEUES.items()],
        "queue_source": depths,
        "counts": submission_counts(),
        "oldest_queued_seconds": oldest_queued_age_seconds(now),
        "stuck_after_seconds": stuck_after_seconds(),
        "stuck_count": stuck_count,
        "stuck": stuck,
        "live_seconds": LIVE_SECONDS,
        "live_workers": live,
        "quiet_workers": quiet,
        "failed_webhook_count": failed_count,
        "failed_webhooks": failed,
        "active_model": active_model_name(),
    }


def as_json(status):
    """The JSON twin of collect()'s result, for scripts: plain types, times in ISO 8601, durations in seconds."""
    depths = status["queue_source"]

    def worker(h):
        return {
            "hostname": h.hostname, "pid": h.pid, "queues": h.queues, "model_version": h.model_version or None,
            "runtime": h.runtime or None, "batches": h.batches, "last_batch_at": _iso(h.last_batch_at),
            "started_at": _iso(h.started_at), "last_seen": _iso(h.last_seen),
            "seen_seconds_ago": round(h.seen_seconds_ago, 1),
        }  # fmt: skip

    return {
        "generated_at": _iso(status["now"]),
        "active_model_version": status["active_model"],
        "queues": {
            "messages_waiting": {name: depth for name, _, depth in status["queues"]},
            "read_from": depths.source or None,
            "error": depths.error or None,
        },
        "submissions": {
            "by_status": status["counts"],
            "oldest_queued_age_seconds": _round(status["oldest_queued_seconds"]),
            "stuck_after_seconds": status["stuck_after_seconds"],
            "stuck_count": status["stuck_count"],
            "stuck": [
                {"id": str(s.submission.pk), "status": s.submission.status, "age_seconds": round(s.age_seconds, 1),
                 "admin_url": s.admin_url}
                for s in status["stuck"]
            ],  # fmt: skip
        },
        "workers": {
            "live_within_seconds": status["live_seconds"],
            "live": [worker(h) for h in status["live_workers"]],
            "quiet": [worker(h) for h in status["quiet_workers"]],
        },
        "webhooks": {
            "failed_count": status["failed_webhook_count"],
            "failed": [
                {"id": str(d.pk), "event": d.event, "url": d.url, "organisation": str(d.organisation or "") or None,
                 "attempts": d.attempt_count, "created_at": _iso(d.created_at), "admin_url": d.admin_url}
                for d in status["failed_webhooks"]
            ],  # fmt: skip
        },
    }


def _seconds_between(then, now):
    return None if then is None else max((now - then).total_seconds(), 0)


def _iso(value):
    return value.isoformat() if value else None


def _round(value):
    return None if value is None else round(value, 1)
