import pytest

import audit
from audit.models import AppendOnlyError, AuditEvent


def test_it_records_actor_action_target_and_data(journalist):
    event = audit.record(journalist, "user.signed_in", journalist, ip="127.0.0.1")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor, stored.actor_label, stored.action) == (journalist, "lois@planet.test", "user.signed_in")
    assert (stored.target_type, stored.target_id, stored.data) == ("accounts.user", str(journalist.pk), {"ip": "127.0.0.1"})


def test_it_records_system_events_without_an_actor(db):
    event = audit.record(None, "submission.failed", None, reason="boom")
    assert event.actor is None and event.actor_label == "" and event.target_type == ""


def test_it_refuses_to_change_an_event(db):
    event = audit.record(None, "x.happened")
    event.action = "y.happened"
    with pytest.raises(AppendOnlyError):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "x.happened"


def test_it_refuses_to_delete_an_event(db):
    event = audit.record(None, "x.happened")
    with pytest.raises(AppendOnlyError):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()
