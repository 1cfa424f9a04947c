"""Signed webhooks to partners' callback URLs: what is sent, how it is signed, and how it is retried.

A delivery is a row (`WebhookDelivery`) made when a result is ready (`submissions_scored`) or a moderator's
decision changes the verdict (`verdict_changed`); `deliver_webhook` POSTs it on the `default` queue and
stores every attempt (`WebhookAttempt`). Failures are retried with exponential backoff
(VERITY_WEBHOOK_BACKOFF_SECONDS doubled each time) up to VERITY_WEBHOOK_MAX_ATTEMPTS.

Signature header (see docs/api.md): ``Verity-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``, the HMAC
taken with the organisation's signing secret over ``"<t>." + body``.
"""
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone

import audit

from .fetch import FetchError, post_json
from .models import WebhookAttempt, WebhookDelivery, WebhookSigningSecret
from .signals import submissions_scored, verdict_changed

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Verity-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300


# Signing ---------------------------------------------------------------------------------------------

def signing_secret(organisation):
    """The organisation's webhook signing secret, made on first use."""
    secret, _ = WebhookSigningSecret.objects.get_or_create(
        organisation=organisation, defaults={"secret": _new_secret()}
    )
    return secret


def rotate_signing_secret(organisation, actor=None):
    """Replace the organisation's signing secret; webhooks sent from now on use the new one."""
    secret = signing_secret(organisation)
    secret.secret = _new_secret()
    secret.rotated_at = timezone.now()
    secret.save(update_fields=["secret", "rotated_at"])
    audit.record(actor, "webhook.secret_rotated", organisation)
    return secret


def sign(secret, body, timestamp=None):
    """The Verity-Signature header value for `body` (bytes) at `timestamp` (unix seconds, default now)."""
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret, header, body, *, tolerance=SIGNATURE_TOLERANCE_SECONDS, now=None):
    """True when `header` is a valid signature of `body` made less than `tolerance` seconds ago."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def _new_secret():
    return f"whsec_{secrets.token_hex(24)}"


# Making deliveries -----------------------------------------------------------------------------------

def schedule(submission, event):
    """Make a delivery of `event` for `submission` when it has a callback URL; send it after commit."""
    if not submission.callback_url:
        return None
    from .api.serializers import SubmissionResultSerializer  # the API's own result shape, nothing else

    submission.refresh_from_db()
    payload = {
        "id": str(uuid.uuid4()),
        "type": event,
        "created_at": timezone.now().isoformat(),
        "data": SubmissionResultSerializer(submission).data,
    }
    delivery = WebhookDelivery.objects.create(
        submission=submission,
        organisation=submission.organisation,
        event=event,
        url=submission.callback_url,
        payload=json.loads(json.dumps(payload, default=str)),
    )
    transaction.on_commit(lambda: enqueue(delivery.pk))
    return delivery


def resend(delivery, actor=None):
    """Send a delivery's event again as a new delivery (same event id, so the partner can tell)."""
    copy = WebhookDelivery.objects.create(
        submission=delivery.submission,
        organisation=delivery.organisation,
        event=delivery.event,
        url=delivery.url,
        payload=delivery.payload,
    )
    audit.record(actor, "webhook.resent", copy, original=str(delivery.pk), url=delivery.url)
    transaction.on_commit(lambda: enqueue(copy.pk))
    return copy


def enqueue(delivery_id):
    """Send the delivery task; False when the broker is unreachable (the row stays pending: the sweeper sends it)."""
    try:
        deliver_webhook.delay(str(delivery_id))
    except Exception as exc:
        logger.warning("could not enqueue webhook delivery %s: %s", delivery_id, exc)
        return False
    return True


@receiver(submissions_scored, dispatch_uid="detection.webhooks.on_scored")
def on_scored(sender, scored, **kwargs):
    for submission, _ in scored:
        _schedule_safely(submission, WebhookDelivery.Event.SCORED)


@receiver(verdict_changed, dispatch_uid="detection.webhooks.on_verdict_changed")
def on_verdict_changed(sender, submission, **kwargs):
    _schedule_safely(submission, WebhookDelivery.Event.VERDICT_CHANGED)


def _schedule_safely(submission, event):
    # A webhook that cannot be scheduled must never fail the scoring or the moderator's decision that sent it.
    try:
        schedule(submission, event)
    except Exception:
        logger.exception("could not schedule the %s webhook of submission %s", event, submission.pk)


# Sending ---------------------------------------------------------------------------------------------

RETRY = "retry"


def backoff_seconds(attempt_number):
    """Seconds to wait after failed attempt `attempt_number` (1-based): base, 2×base, 4×base, …"""
    return settings.VERITY_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt_number - 1)


def attempt_delivery(delivery_id):
    """Make one attempt at a pending delivery and store it. Safe to run twice.

    Returns the delivery's new status, RETRY when another attempt should follow, or None when there
    was nothing to do (delivery gone, finished, or claimed by another worker).
    """
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).select_related("organisation").first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    number = delivery.attempt_count + 1
    # Claim this attempt number: if another worker already did, it is theirs to make.
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempt_count=delivery.attempt_count
    ).update(attempt_count=F("attempt_count") + 1)
    if claimed != 1:
        return None

    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Verity-Event": delivery.event,
        "Verity-Event-Id": str(delivery.payload.get("id", "")),
        "Verity-Delivery": str(delivery.pk),
        "Verity-Attempt": str(number),
    }
    if delivery.organisation is not None:
        headers[SIGNATURE_HEADER] = sign(signing_secret(delivery.organisation).secret, body)
    started_at = timezone.now()
    started = time.perf_counter()
    status_code, answer, error = None, "", ""
    try:
        status_code, answer = post_json(delivery.url, body, headers=headers)
    except FetchError as exc:
        error = f"{exc.code}: {exc}"
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        started_at=started_at,
        duration_ms=(time.perf_counter() - started) * 1000,
        response_status=status_code,
        response_body=answer,
        error=error,
    )
    if status_code is not None and 200 <= status_code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.DELIVERED, delivered_at=timezone.now(), next_attempt_at=None
        )
        return WebhookDelivery.Status.DELIVERED
    if number >= settings.VERITY_WEBHOOK_MAX_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None)
        audit.record(None, "webhook.failed", delivery, url=delivery.url, attempts=number)
        return WebhookDelivery.Status.FAILED
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() + timezone.timedelta(seconds=backoff_seconds(number))
    )
    return RETRY


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver_webhook(self, delivery_id):
    """POST one webhook delivery (default queue); retried with exponential backoff until it succeeds or gives up."""
    outcome = attempt_delivery(delivery_id)
    if outcome == RETRY:
        attempts = WebhookDelivery.objects.filter(pk=delivery_id).values_list("attempt_count", flat=True).first()
        raise self.retry(countdown=backoff_seconds(attempts or 1))
    return outcome

