"""Claiming from the queue, releasing, and claims that lapse."""
import pytest
from django.utils import timezone

from audit.models import AuditEvent
from review import services
from review.models import ReviewItem

from .conftest import RED, scored


@pytest.fixture
def two_items(journalist, active_model):
    return scored(journalist, RED, "first.jpg").review_item, scored(journalist, RED, "second.jpg").review_item


def test_claim_next_gives_the_moderator_the_top_item_and_audits_it(moderator, two_items):
    item = services.claim_next(moderator)
    assert item == two_items[0]
    item.refresh_from_db()
    assert item.claimed_by == moderator and item.claim_expires_at > timezone.now()
    assert AuditEvent.objects.filter(action="review.claimed", actor=moderator, target_id=str(item.submission_id)).exists()


def test_two_moderators_in_turn_get_different_items(moderator, second_moderator, two_items):
    assert {services.claim_next(moderator), services.claim_next(second_moderator)} == set(two_items)


def test_a_moderator_holding_a_claim_gets_the_same_item_back(moderator, two_items):
    assert services.claim_next(moderator) == services.claim_next(moderator) == two_items[0]


def test_claim_next_returns_none_when_nothing_is_left(moderator, second_moderator, journalist, active_model):
    only = scored(journalist, RED).review_item
    assert services.claim_next(moderator) == only
    assert services.claim_next(second_moderator) is None


def test_claim_next_respects_the_queue_filters(moderator, two_items, stranger):
    theirs = scored(stranger, RED, "gazette.jpg").review_item
    item = services.claim_next(moderator, filters=lambda qs: qs.filter(submission__organisation=stranger.organisation))
    assert item == theirs


def test_a_released_item_returns_to_the_queue(moderator, second_moderator, two_items):
    item = services.claim_next(moderator)
    services.release(item.pk, moderator)
    item.refresh_from_db()
    assert item.claimed_by is None
    assert services.claim_next(second_moderator) == item
    assert AuditEvent.objects.filter(action="review.released", actor=moderator).count() == 1


def test_a_moderator_cannot_release_someone_elses_claim(moderator, second_moderator, two_items):
    item = services.claim_next(moderator)
    with pytest.raises(services.ClaimedByAnother):
        services.release(item.pk, second_moderator)
    item.refresh_from_db()
    assert item.claimed_by == moderator


def test_a_claim_expires_after_the_configured_time_and_the_item_returns_to_the_queue(
    moderator, second_moderator, journalist, active_model, settings
):
    settings.VERITY_REVIEW_CLAIM_MINUTES = 10
    only = scored(journalist, RED).review_item
    item = services.claim_next(moderator)
    assert item.claim_expires_at - item.claimed_at == timezone.timedelta(minutes=10)
    # Within the claim, nobody else gets it.
    assert services.claim_next(second_moderator) is None
    ReviewItem.objects.filter(pk=item.pk).update(claim_expires_at=timezone.now() - timezone.timedelta(seconds=1))

    assert services.claim_next(second_moderator) == only
    only.refresh_from_db()
    assert only.claimed_by == second_moderator
    expired = AuditEvent.objects.get(action="review.claim_expired")
    assert expired.data["moderator"] == moderator.email
    # The first moderator lost the item: they can no longer decide it.
    with pytest.raises(services.ClaimedByAnother):
        services.decide(only.pk, moderator, "authentic")


def test_the_sweep_returns_lapsed_claims_to_the_queue(moderator, two_items):
    item = services.claim_next(moderator)
    assert services.expire_claims() == 0
    assert services.expire_claims(now=timezone.now() + timezone.timedelta(hours=1)) == 1
    item.refresh_from_db()
    assert item.claimed_by is None and item.claim_expires_at is None
    assert AuditEvent.objects.filter(action="review.claim_expired", target_id=str(item.submission_id)).exists()


def test_the_expire_command_reports_what_it_did(moderator, two_items):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("expire_review_claims", stdout=out)
    assert "0 lapsed claims returned" in out.getvalue()


def test_a_journalist_cannot_claim(journalist, two_items):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.claim_next(journalist)
