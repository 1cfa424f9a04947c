"""`Idempotency-Key`: a retried request gets the first response instead of making a second submission.

The first request with a key claims it (a unique row per organisation and key); its successful response
is stored in the same transaction as what the request created and replayed to every retry within
VERITY_API_IDEMPOTENCY_HOURS. A retry that arrives while the first is still running gets 409; the same key
with a different request gets 409 too. A request that fails (4xx, 5xx) releases its key, so the client can
fix it and try again with the same key.
"""
import hashlib

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

import audit

from ..models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# A first request still unanswered after this long has died with its process (gunicorn kills a request after
# GUNICORN_TIMEOUT, 60 s) or could not release its key (the database went down): its key is free again.
ABANDONED_AFTER = timezone.timedelta(minutes=2)
# A retry that finds the first request still running is told to come back after this many seconds.
IN_PROGRESS_RETRY_AFTER = 5


class IdempotencyConflict(APIException):
    status_code = status.HTTP_409_CONFLICT


class IdempotencyInProgress(IdempotencyConflict):
    wait = IN_PROGRESS_RETRY_AFTER  # sent as Retry-After


def _in_one_transaction(handler, keep=None):
    """Run handler() with what it stores and its audit events in one transaction, the events appended to the chain
    together at the end (one lock, one read of the last hash, held only until this commit). `keep(response)` runs
    inside, after a handler that returned. Returns (response, None), or (None, the refusal) for an APIException
    under 500: a refusal keeps what it recorded (the rejection in the audit trail)."""
    with transaction.atomic(), audit.deferred():
        try:
            response = handler()
        except APIException as exc:
            if exc.status_code >= 500:
                raise
            return None, exc
        if keep is not None:
            keep(response)
    return response, None


def respond(request, organisation, handler):
    """Run `handler()` (which returns a Response) at most once per Idempotency-Key of `organisation`.

    Without a key it still runs in one transaction, as with one.
    """
    key = request.headers.get(HEADER)
    if key is None:
        response, refusal = _in_one_transaction(handler)
        if refusal is not None:
            raise refusal
        return response
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValidationError({HEADER: [f"must be 1 to {MAX_KEY_LENGTH} characters"]})
    fingerprint = request_fingerprint(request)
    _forget_expired(organisation, key)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(organisation=organisation, key=key, fingerprint=fingerprint)
    except IntegrityError:
        return _replay(organisation, key, fingerprint)

    def keep(response):
        # What the handler stores and the response that reports it commit together: a process killed in
        # between leaves neither, so a retry after ABANDONED_AFTER cannot make a second submission.
        if status.is_success(response.status_code):
            record.response_status = response.status_code
            record.response_body = response.data
            record.save(update_fields=["response_status", "response_body"])

    try:
        response, refusal = _in_one_transaction(handler, keep)
    except BaseException:
        _release(record)
        raise
    if refusal is not None:
        _release(record)
        raise refusal
    if not status.is_success(response.status_code):
        _release(record)
    return response


def _release(record):
    """Free the key of a request that failed, so that the client may send it again at once."""
    try:
        record.delete()
    except DatabaseError:  # the database is what failed: the key frees itself after ABANDONED_AFTER
        pass


def _replay(organisation, key, fingerprint):
    record = IdempotencyRecord.objects.filter(organisation=organisation, key=key).first()
    if record is None:  # released a moment ago by a failed first request
        raise IdempotencyInProgress(
            "The first request with this Idempotency-Key has just failed; send it again.",
            code="idempotency_request_in_progress",
        )
    if record.response_status is None:
        raise IdempotencyInProgress(
            "A request with this Idempotency-Key is still being handled; send it again after Retry-After seconds.",
            code="idempotency_request_in_progress",
        )
    if record.fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used for a different request.", code="idempotency_key_reused"
        )
    headers = {REPLAYED_HEADER: "true"}
    if isinstance(record.response_body, dict) and record.response_body.get("status_url"):
        headers["Location"] = record.response_body["status_url"]
    return Response(record.response_body, status=record.response_status, headers=headers)


def request_fingerprint(request):
    """SHA-256 of what was asked: method, path, form or JSON fields, and the bytes of each uploaded file."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    data = request.data
    if hasattr(data, "lists"):  # multipart: QueryDict of fields and files
        items = sorted((name, values) for name, values in data.lists())
    else:
        items = sorted(data.items()) if isinstance(data, dict) else [("", data)]
    for name, values in items:
        for value in values if isinstance(values, list) else [values]:
            digest.update(f"{name}=".encode())
            if hasattr(value, "chunks"):
                for chunk in value.chunks():
                    digest.update(chunk)
                value.seek(0)
            else:
                digest.update(repr(value).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def _forget_expired(organisation, key):
    now = timezone.now()
    cutoff = now - timezone.timedelta(hours=settings.VERITY_API_IDEMPOTENCY_HOURS)
    IdempotencyRecord.objects.filter(organisation=organisation, created_at__lt=cutoff).delete()
    # A first request that never finished (its process died) must not block its key for a whole day.
    IdempotencyRecord.objects.filter(
        organisation=organisation, key=key, response_status__isnull=True, created_at__lt=now - ABANDONED_AFTER
    ).delete()
