"""API keys: make one (shown once), find the key behind a bearer token, revoke one.

A key looks like ``vk_3f9a1c2b_<43 random characters>``: ``vk_3f9a1c2b`` is the visible prefix kept in
the database, in lists and in the audit trail; only the SHA-256 of the whole key is stored. Keys carry
256 bits of randomness, so a fast hash is enough (there is nothing to guess from a dictionary).
"""
import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

import audit

from .models import ApiKey, User

KEY_PREFIX = "vk_"
SCOPES = tuple(ApiKey.Scope.values)


class InvalidScopes(ValueError):
    """Scopes must be a non-empty subset of ApiKey.Scope."""


def hash_key(raw_key):
    return hashlib.sha256(raw_key.encode()).hexdigest()


def parse_scopes(scopes):
    """A clean, ordered list of scopes from a list or a comma-separated string; raises InvalidScopes."""
    if isinstance(scopes, str):
        scopes = scopes.split(",")
    cleaned = sorted({s.strip() for s in scopes if s and s.strip()})
    unknown = [s for s in cleaned if s not in SCOPES]
    if unknown or not cleaned:
        raise InvalidScopes(f"scopes must be one or more of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}")
    return cleaned


def create_api_key(*, organisation, name, scopes, actor=None):
    """Make a key for `organisation`; returns (ApiKey, raw key). The raw key is never stored: show it once."""
    scopes = parse_scopes(scopes)
    prefix = f"{KEY_PREFIX}{secrets.token_hex(4)}"
    raw_key = f"{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            organisation=organisation,
            name=name,
            prefix=prefix,
            key_hash=hash_key(raw_key),
            scopes=scopes,
            created_by=actor if _is_user(actor) else None,
        )
        audit.record(actor, "api_key.created", key, organisation=organisation.slug, prefix=prefix, scopes=scopes)
    return key, raw_key


def revoke_api_key(key, actor=None):
    """Revoke `key` (idempotent): it stops working at once and stays listed for the record."""
    updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor if _is_user(actor) else None
    )
    key.refresh_from_db()
    if updated:
        audit.record(actor, "api_key.revoked", key, organisation=key.organisation.slug, prefix=key.prefix)
    return key


def find_api_key(raw_key):
    """The ApiKey (active or revoked) whose hash matches `raw_key`, or None."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 200:
        return None
    return ApiKey.objects.select_related("organisation").filter(key_hash=hash_key(raw_key)).first()


# A key's last use is recorded to this resolution: a key in steady use costs one UPDATE a minute, not one a request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def mark_used(key):
    """Record the last-used time (to LAST_USED_RESOLUTION) without touching the rest of the row."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


def service_user(organisation):
    """The account an organisation's API keys act as: uploader of API submissions and actor in the audit trail.

    It cannot sign in (no usable password); deactivating it stops every key of the organisation.
    """
    email = f"api@{organisation.slug}.keys.verity.invalid"
    user, _ = User.objects.get_or_create(
        email=email,
        defaults=dict(
            organisation=organisation, first_name="API", last_name=organisation.name[:150], password=make_password(None)
        ),
    )
    return user


def _is_user(actor):
    return actor is not None and getattr(actor, "is_authenticated", False)


