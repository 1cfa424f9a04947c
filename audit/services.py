"""The one entry point for writing the audit trail."""
from django.db import models

from .models import AuditEvent


def record(actor, action, target=None, **data):
    """Append an audit event: `actor` (a user or None for the system) did `action` to `target`.

    `data` must be JSON-serialisable; it is stored as given.
    """
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        actor=actor if is_user else None,
        actor_label=(actor.get_username() if is_user else (str(actor) if actor else "")),
        action=action,
        data=data,
    )
    if target is not None:
        if isinstance(target, models.Model):
            event.target_type = target._meta.label_lower
            event.target_id = str(target.pk)
        else:
            event.target_type = type(target).__name__.lower()
        event.target_label = str(target)[:255]
    event.save()
    return event
