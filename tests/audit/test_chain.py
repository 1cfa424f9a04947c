"""The hash chain: each event holds the previous event's hash, and verify_audit finds the first broken link."""
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

import audit
from audit import chain
from audit.models import AuditEvent

ON_POSTGRESQL = connection.vendor == "postgresql"


def verify():
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def tamper(sql, params):
    """What someone with database access could do; on PostgreSQL they must first disable the trigger."""
    with connection.cursor() as cursor:
        if ON_POSTGRESQL:
            # Deferred foreign-key checks must run first: PostgreSQL will not alter a table with pending ones.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute(sql, params)
        if ON_POSTGRESQL:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")


@pytest.fixture
def trail(journalist):
    return [audit.record(journalist, f"thing.happened_{i}", journalist, n=i, score=0.1 * i) for i in range(5)]


def test_each_event_stores_the_hash_of_the_one_before(trail):
    events = list(AuditEvent.objects.order_by("id"))
    assert events[0].prev_hash == chain.GENESIS_HASH
    for before, after in zip(events, events[1:]):
        assert after.prev_hash == before.hash
        assert len(after.hash) == 64 and after.hash == chain.hash_of(after)


def test_verify_audit_passes_an_intact_trail(trail):
    assert "audit trail intact" in verify()


def test_verify_audit_finds_a_changed_event(trail):
    victim = trail[2]
    tamper("UPDATE audit_auditevent SET action = %s WHERE id = %s", ["thing.never_happened", victim.pk])
    with pytest.raises(CommandError, match=rf"event #{victim.pk}: its content does not match its hash"):
        verify()


def test_verify_audit_finds_changed_data(trail):
    victim = trail[1]
    tamper("UPDATE audit_auditevent SET data = %s WHERE id = %s", ['{"n": 99, "score": 0.1}', victim.pk])
    with pytest.raises(CommandError, match=rf"event #{victim.pk}"):
        verify()


def test_verify_audit_finds_a_removed_event(trail):
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [trail[2].pk])
    with pytest.raises(CommandError, match=rf"event #{trail[3].pk}: its prev_hash does not match event #{trail[1].pk}"):
        verify()


def test_verify_audit_finds_a_rehashed_event_by_the_next_link(trail):
    """Someone who changes an event and recomputes its hash still breaks the next event's link."""
    victim = trail[2]
    victim.action = "thing.rewritten"
    new_hash = chain.hash_of(victim)
    tamper("UPDATE audit_auditevent SET action = %s, hash = %s WHERE id = %s", [victim.action, new_hash, victim.pk])
    with pytest.raises(CommandError, match=rf"event #{trail[3].pk}: its prev_hash does not match"):
        verify()


def test_deleting_a_user_keeps_their_events_and_the_chain(trail, journalist):
    from accounts.models import User

    User.objects.filter(pk=journalist.pk).delete()
    assert AuditEvent.objects.filter(actor_label="lois@planet.test", actor=None).count() >= 5
    assert "audit trail intact" in verify()


@pytest.mark.skipif(
    not ON_POSTGRESQL, reason="threads racing in one process: PostgreSQL only; SQLite writers are covered by the separate-processes test"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    from django.db import connections

    writers, per_writer = 6, 15
    start = threading.Barrier(writers)
    errors = []

    def write(n):
        try:
            start.wait(timeout=30)
            for i in range(per_writer):
                with transaction.atomic():
                    audit.record(None, "load.tested", None, writer=n, i=i)
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert AuditEvent.objects.filter(action="load.tested").count() == writers * per_writer
    assert "audit trail intact" in verify()


WRITER_SCRIPT = """
import django, sys
django.setup()
import audit
for i in range(int(sys.argv[2])):
    audit.record(None, "process.wrote", None, writer=sys.argv[1], i=i)
"""


@pytest.mark.django_db(transaction=True)
def test_writers_in_separate_processes_neither_fail_nor_fork_the_chain(tmp_path):
    """What the web process and a Celery worker do all day, on SQLite as on PostgreSQL."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    from tests.e2e.conftest import database_url

    env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="config.settings")
    writers, per_writer = 3, 40
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER_SCRIPT, str(n), str(per_writer)], cwd=settings.BASE_DIR, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for n in range(writers)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * writers, outputs
    assert AuditEvent.objects.filter(action="process.wrote").count() == writers * per_writer
    assert "audit trail intact" in verify()


def test_events_recorded_together_chain_in_order_like_single_ones(journalist):
    before = audit.record(journalist, "thing.before", journalist)
    with transaction.atomic(), audit.deferred():
        batch = [audit.record(None, f"thing.batch_{i}", journalist, n=i) for i in range(4)]
    after = audit.record(journalist, "thing.after", journalist)
    events = list(AuditEvent.objects.filter(id__gte=before.pk).order_by("id"))
    assert [e.action for e in events] == ["thing.before", *(f"thing.batch_{i}" for i in range(4)), "thing.after"]
    assert [e.pk for e in events[1:5]] == [e.pk for e in batch]
    for previous, event in zip(events, events[1:]):
        assert event.prev_hash == previous.hash and event.hash == chain.hash_of(event)
    assert events[0].pk == before.pk and events[-1].pk == after.pk
    assert "audit trail intact" in verify()


def test_a_deferred_block_that_records_nothing_writes_nothing(db):
    count = AuditEvent.objects.count()
    with transaction.atomic(), audit.deferred():
        pass
    assert AuditEvent.objects.count() == count


def test_events_recorded_in_a_deferred_block_are_appended_together_when_it_ends(journalist):
    start = AuditEvent.objects.count()
    with transaction.atomic(), audit.deferred():
        first = audit.record(journalist, "thing.first", journalist)
        with audit.deferred():  # nested: appended with the outer block
            audit.record(None, "thing.inner", journalist)
        assert first.pk is None and AuditEvent.objects.count() == start
        audit.record(None, "thing.last", journalist, n=1)
    events = list(AuditEvent.objects.order_by("id"))[start:]
    assert [e.action for e in events] == ["thing.first", "thing.inner", "thing.last"]
    assert first.pk == events[0].pk
    assert "audit trail intact" in verify()


def test_a_deferred_block_that_fails_appends_nothing(journalist):
    start = AuditEvent.objects.count()
    with pytest.raises(RuntimeError):
        with transaction.atomic(), audit.deferred():
            audit.record(journalist, "thing.lost", journalist)
            raise RuntimeError("the change failed")
    assert AuditEvent.objects.count() == start
    audit.record(journalist, "thing.after", journalist)  # recording works again outside the block
    assert AuditEvent.objects.count() == start + 1
