"""Two moderators asking for the next item at the same moment, from two database connections."""
import threading
import time

import pytest
from django.db import connection, connections, transaction

from review import services

from .conftest import RED, scored

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SELECT ... FOR UPDATE SKIP LOCKED needs PostgreSQL (SQLite has no row locks); CI runs this on PostgreSQL",
)

# How long the first moderator's transaction stays open after it has picked its item.
HOLD_S = 1.0


@pytest.mark.django_db(transaction=True)
def test_two_moderators_never_get_the_same_item(journalist, moderator, second_moderator, active_model):
    first_item = scored(journalist, RED, "first.jpg").review_item
    second_item = scored(journalist, RED, "second.jpg").review_item
    picked, errors = {}, []
    first_has_picked = threading.Event()

    def first():
        try:
            with transaction.atomic():
                picked["first"] = services.claim_next(moderator)
                first_has_picked.set()
                # Still uncommitted: the second moderator must not see this item as free, nor wait for it.
                time.sleep(HOLD_S)
        except Exception as exc:
            errors.append(exc)
            first_has_picked.set()
        finally:
            connections.close_all()

    def second():
        try:
            first_has_picked.wait(timeout=30)
            picked["second"] = services.claim_next(second_moderator)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert picked["first"] == first_item
    assert picked["second"] == second_item
    first_item.refresh_from_db()
    second_item.refresh_from_db()
    assert (first_item.claimed_by, second_item.claimed_by) == (moderator, second_moderator)


@pytest.mark.django_db(transaction=True)
def test_many_moderators_at_once_each_get_a_different_item(journalist, active_model):
    from tests.conftest import _user

    items = [scored(journalist, RED, f"{i}.jpg").review_item for i in range(6)]
    moderators = [_user(f"m{i}@verity.test", "moderator") for i in range(6)]
    start = threading.Barrier(len(moderators))
    picked, errors = [], []

    def ask(user):
        try:
            start.wait(timeout=30)
            picked.append(services.claim_next(user))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask, args=(m,)) for m in moderators]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(i.pk for i in picked) == sorted(i.pk for i in items)
