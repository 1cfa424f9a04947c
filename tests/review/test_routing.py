"""Routing: scoring opens a review item when the configured rules say so, in a stated priority order."""
import pytest

from accounts.models import Organisation
from detection import services as detection_services
from detection.models import ReviewState
from review import services
from review.models import ReviewItem
from tests.conftest import _user

from .conftest import DARK_RED, DARKER_RED, GREEN, RED, scored


def test_a_confident_fake_goes_to_the_queue(journalist, active_model):
    submission = scored(journalist, RED)
    item = submission.review_item
    assert item.state == ReviewItem.State.OPEN and item.reasons == ["fake"]
    assert submission.review_state == ReviewState.OPEN
    assert item.detection == submission.latest_detection


def test_a_confident_real_image_does_not(journalist, active_model):
    submission = scored(journalist, GREEN)
    assert not ReviewItem.objects.filter(submission=submission).exists()
    assert submission.review_state == ReviewState.NONE


def test_an_uncertain_real_image_goes_to_the_queue(journalist, active_model):
    submission = scored(journalist, DARKER_RED)
    assert submission.latest_detection.label == "real" and submission.latest_detection.uncertain
    assert submission.review_item.reasons == ["uncertain"]


def test_an_uncertain_fake_has_both_reasons(journalist, active_model):
    assert scored(journalist, DARK_RED).review_item.reasons == ["fake", "uncertain"]


def test_a_review_the_uploader_asked_for_goes_to_the_queue(journalist, active_model):
    assert scored(journalist, GREEN, requested=True).review_item.reasons == ["requested"]


def test_the_rules_are_settings(journalist, active_model, settings):
    settings.VERITY_REVIEW_ROUTES = ["uncertain"]
    assert not ReviewItem.objects.filter(submission=scored(journalist, RED)).exists()
    assert not ReviewItem.objects.filter(submission=scored(journalist, GREEN, requested=True)).exists()
    assert scored(journalist, DARKER_RED).review_item.reasons == ["uncertain"]


def test_an_unknown_rule_is_refused_loudly(journalist, active_model, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.VERITY_REVIEW_ROUTES = ["fake", "purple"]
    with pytest.raises(ImproperlyConfigured, match="purple"):
        scored(journalist, RED)


def test_opening_is_audited_and_idempotent(journalist, active_model):
    submission = scored(journalist, RED)
    # Scoring the same submission again with the same model version stores nothing new.
    detection_services.score(submission.pk)
    services.open_item(submission, submission.latest_detection, ["fake"])
    assert ReviewItem.objects.filter(submission=submission).count() == 1
    from audit.models import AuditEvent

    opened = AuditEvent.objects.filter(action="review.opened", target_id=str(submission.pk))
    assert opened.count() == 1 and opened.get().data["reasons"] == ["fake"]


def test_uncertain_comes_before_confident_then_organisation_priority_then_oldest(active_model, moderator):
    low = Organisation.objects.create(name="Low", slug="low", priority=0)
    high = Organisation.objects.create(name="High", slug="high", priority=10)
    low_user, high_user = _user("low@x.test", "journalist", low), _user("high@x.test", "journalist", high)
    old_low_confident = scored(low_user, RED, "1-low-confident.jpg")
    old_low_uncertain = scored(low_user, DARK_RED, "2-low-uncertain.jpg")
    high_confident = scored(high_user, RED, "3-high-confident.jpg")
    new_low_uncertain = scored(low_user, DARKER_RED, "4-low-uncertain.jpg")
    high_uncertain = scored(high_user, DARK_RED, "5-high-uncertain.jpg")

    order = [i.submission.original_name for i in services.in_queue_order(services.waiting_items())]
    assert order == [
        high_uncertain.original_name,
        old_low_uncertain.original_name,
        new_low_uncertain.original_name,
        high_confident.original_name,
        old_low_confident.original_name,
    ]
    # claim_next hands them out in that order.
    first = services.claim_next(moderator)
    assert first.submission == high_uncertain


def test_a_scored_batch_opens_its_items_together_and_audits_each(journalist, active_model):
    from audit.models import AuditEvent

    colours = [RED, GREEN, DARK_RED, GREEN, RED]
    submissions = [
        detection_services.submit(data=_jpeg(c), name=f"{i}.jpg", uploader=journalist, enqueue=False)
        for i, c in enumerate(colours)
    ]
    detection_services.score_many([s.pk for s in submissions])
    opened = {s.pk for s, c in zip(submissions, colours) if c != GREEN}
    assert set(ReviewItem.objects.values_list("submission_id", flat=True)) == opened
    for submission in submissions:
        submission.refresh_from_db()
        assert submission.review_state == (ReviewState.OPEN if submission.pk in opened else ReviewState.NONE)
    events = AuditEvent.objects.filter(action="review.opened")
    assert sorted(e.target_id for e in events) == sorted(str(pk) for pk in opened)
    assert {e.data["item"] for e in events} == set(ReviewItem.objects.values_list("pk", flat=True))


def test_an_item_opened_meanwhile_by_someone_else_is_kept_and_the_rest_opened(journalist, active_model):
    first, second = (
        detection_services.submit(data=_jpeg(RED), name=f"{n}.jpg", uploader=journalist, enqueue=False) for n in "ab"
    )
    detection_services.score_many([first.pk, second.pk])
    ReviewItem.objects.all().delete()
    pairs = [(s, s.latest_detection) for s in (first, second)]
    mine = services.open_item(first, pairs[0][1], ["requested"])  # e.g. another worker, a moment earlier
    # route_scored read no item for `first` before the other process made it: the bulk insert collides.
    items = services._open_items([(s, d, ["fake"]) for s, d in pairs])
    assert items[first.pk].pk == mine.pk and items[first.pk].reasons == ["requested"]
    assert items[second.pk].reasons == ["fake"] and ReviewItem.objects.count() == 2


def _jpeg(colour):
    from tests.conftest import make_image_bytes

    return make_image_bytes("JPEG", color=colour)
