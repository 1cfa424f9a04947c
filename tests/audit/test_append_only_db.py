"""On PostgreSQL a trigger refuses UPDATE and DELETE of audit events, whatever the application does."""
import pytest
from django.db import DatabaseError, connection, transaction

import audit
from audit.models import AuditEvent

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the append-only trigger exists on PostgreSQL only (CI runs on PostgreSQL); SQLite relies on save()/delete()",
)


@pytest.fixture
def event(db):
    return audit.record(None, "x.happened", None, n=1)


def test_an_update_of_an_audit_event_fails_at_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="y.happened")
    assert AuditEvent.objects.get(pk=event.pk).action == "x.happened"


def test_a_delete_of_an_audit_event_fails_at_the_database(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_raw_sql_is_refused_too(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_auditevent SET data = '{}' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.get(pk=event.pk).data == {"n": 1}


def test_only_clearing_a_deleted_accounts_actor_is_let_through(journalist):
    event = audit.record(journalist, "user.signed_in", journalist)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        # Clearing the actor while changing anything else is still refused.
        AuditEvent.objects.filter(pk=event.pk).update(actor=None, actor_label="someone else")
    AuditEvent.objects.filter(pk=event.pk).update(actor=None)
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "lois@planet.test"
