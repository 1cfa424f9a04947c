"""The one entry point for writing the audit trail."""
import contextlib
import contextvars

from django.db import connections, models, router, transaction
from django.utils import timezone

from . import chain
from .models import AuditEvent

# Any constant: the key of the PostgreSQL advisory lock that serialises appends to the chain.
CHAIN_LOCK_KEY = 0x56455249  # "VERI"


def record(actor, action, target=None, **data):
    """Append an audit event: `actor` (a user or None for the system) did `action` to `target`.

    `data` must be JSON-serialisable; it is stored as given. The event is chained to the one before it
    (see `audit.chain`); on PostgreSQL an advisory lock, held until the surrounding transaction ends,
    makes concurrent writers append one after the other instead of forking the chain. Inside `deferred()`
    the event is appended when that block ends.
    """
    event = _event(actor, action, target, data)
    buffer = _deferred.get()
    if buffer is not None:
        buffer.append(event)
        return event
    return _append([event])[0]


_deferred = contextvars.ContextVar("audit_deferred", default=None)


@contextlib.contextmanager
def deferred():
    """Collect the events recorded inside the block and append them together, in order, when it ends.

    For a transaction that changes many things (a scored batch and the review items it opens): the chain's
    lock is then taken once, at the end, and held only until commit, instead of from the first event on
    while the rest of the work runs. Use it inside the transaction (`with atomic(), deferred():`); an
    exception discards the collected events with the transaction. Nested blocks append with the outermost.
    """
    if _deferred.get() is not None:
        yield
        return
    events = []
    token = _deferred.set(events)
    try:
        yield
    finally:
        _deferred.reset(token)
    _append(events)


def _append(events):
    if not events:
        return []
    using = router.db_for_write(AuditEvent)
    # No savepoint inside a caller's transaction (an upload, a scored batch): it cost two round trips an append,
    # and nothing catches an error from here to carry on in the same transaction; it rolls back whole.
    with transaction.atomic(using=using, savepoint=False):
        _lock_chain(using)
        prev_hash = AuditEvent.objects.using(using).order_by("-id").values_list("hash", flat=True).first()
        prev_hash = prev_hash or chain.GENESIS_HASH
        # Set here, not by the database, because the timestamp is part of the hash.
        created_at = timezone.now()
        for event in events:
            event.prev_hash, event.created_at = prev_hash, created_at
            event.hash = prev_hash = chain.hash_of(event)
        if len(events) == 1:
            events[0].save(using=using)
        else:
            AuditEvent.objects.using(using).bulk_create(events)
    return events


def _event(actor, action, target, data):
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        actor=actor if is_user else None,
        actor_label=(actor.get_username() if is_user else (str(actor) if actor else "")),
        action=action,
        data=chain.canonical_data(data),
    )
    if target is not None:
        if isinstance(target, models.Model):
            event.target_type = target._meta.label_lower
            event.target_id = str(target.pk)
        else:
            event.target_type = type(target).__name__.lower()
        event.target_label = str(target)[:255]
    return event


def verify(using=None):
    """The first broken link of the whole trail (a chain.BrokenLink), or None when it is intact."""
    events = AuditEvent.objects.using(using or router.db_for_read(AuditEvent)).order_by("id")
    return chain.first_broken_link(events.iterator(chunk_size=2000))


def _lock_chain(using):
    """Make this transaction the chain's only writer until it ends."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        elif connection.vendor == "sqlite":
            # A write that changes nothing takes SQLite's write lock (waiting for it) before the last hash
            # is read; reading first would let two processes deadlock on the upgrade ("database is locked").
            cursor.execute("UPDATE audit_auditevent SET id = id WHERE 0")
    # Elsewhere, the unique prev_hash refuses a fork if two writers ever raced.
