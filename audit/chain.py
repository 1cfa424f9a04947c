"""The hash chain that makes the audit trail tamper-evident.

Each event stores the hash of the event before it (`prev_hash`) and its own `hash`, computed over its
content and `prev_hash`. Changing an event breaks its own hash; removing or inserting one breaks the
next event's `prev_hash`. The actor's foreign key is left out on purpose: deleting an account sets it
to NULL, and `actor_label` keeps the name inside the hash.
"""
import hashlib
import json
from datetime import timezone as dt_timezone

GENESIS_HASH = "0" * 64


def canonical_data(data):
    """`data` as it will read back from a JSON column, so that hashing before and after storing agrees."""
    return json.loads(json.dumps(data or {}))


def event_hash(*, prev_hash, created_at, actor_label, action, target_type, target_id, target_label, data):
    """SHA-256 (hex) of one event's content and the hash of the event before it."""
    content = {
        "prev_hash": prev_hash,
        "created_at": created_at.astimezone(dt_timezone.utc).isoformat(timespec="microseconds"),
        "actor_label": actor_label,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "target_label": target_label,
        "data": canonical_data(data),
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def hash_of(event, prev_hash=None):
    """The hash `event` should have (with its stored `prev_hash` unless another is given)."""
    return event_hash(
        prev_hash=event.prev_hash if prev_hash is None else prev_hash,
        created_at=event.created_at,
        actor_label=event.actor_label,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        target_label=event.target_label,
        data=event.data,
    )


class BrokenLink:
    """Where the chain first fails: the event, and why."""

    def __init__(self, event_id, reason):
        self.event_id = event_id
        self.reason = reason

    def __str__(self):
        return f"event #{self.event_id}: {self.reason}"


def first_broken_link(events):
    """Walk `events` (oldest first) and return the first BrokenLink, or None when the chain holds."""
    expected_prev = GENESIS_HASH
    previous_id = None
    for event in events:
        if event.prev_hash != expected_prev:
            after = f"event #{previous_id}" if previous_id is not None else "the start of the trail"
            return BrokenLink(
                event.pk, f"its prev_hash does not match {after}: an event was removed, inserted or reordered"
            )
        if hash_of(event) != event.hash:
            return BrokenLink(event.pk, "its content does not match its hash: it was changed after it was written")
        expected_prev = event.hash
        previous_id = event.pk
    return None
