"""The append-only audit trail. Write to it with ``audit.record(actor, action, target, **data)``."""


def record(actor, action, target=None, **data):
    """Append an audit event; see :func:`audit.services.record`."""
    from .services import record as _record

    return _record(actor, action, target, **data)


def deferred():
    """Append the events recorded inside the block together when it ends; see :func:`audit.services.deferred`."""
    from .services import deferred as _deferred

    return _deferred()
