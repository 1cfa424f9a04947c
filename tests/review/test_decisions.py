"""Decisions: final verdicts, escalation to a second moderator, disagreement to an admin, reopening."""
import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from audit.models import AuditEvent
from detection.models import ReviewState, Submission
from detection.views import status_payload
from review import services
from review.models import ReviewDecision, ReviewItem
from review.signals import verdict_changed


@pytest.fixture
def announcements():
    sent = []

    def listener(sender, submission, previous, current, actor, **kwargs):
        sent.append((submission.pk, previous, current, actor))

    verdict_changed.connect(listener)
    yield sent
    verdict_changed.disconnect(listener)


def claimed(item, user):
    return services.claim(item.pk, user)


def test_a_decision_becomes_the_final_verdict_with_who_and_when(
    fake_item, moderator, announcements, django_capture_on_commit_callbacks
):
    claimed(fake_item, moderator)
    with django_capture_on_commit_callbacks(execute=True):
        services.decide(fake_item.pk, moderator, "manipulated", "spliced sky, clone stamp visible")
    submission = Submission.objects.get(pk=fake_item.submission_id)
    assert submission.final_verdict == ("manipulated", "moderator")
    assert submission.decided_by == moderator and submission.decided_at is not None
    assert submission.review_state == ReviewState.DECIDED
    event = AuditEvent.objects.get(action="review.decided")
    assert (event.actor, event.data["decision"], event.data["note"]) == (moderator, "manipulated", "spliced sky, clone stamp visible")
    assert announcements == [(submission.pk, ("fake", "detector"), ("manipulated", "moderator"), moderator)]


def test_a_note_is_required_for_anything_but_authentic(fake_item, moderator):
    claimed(fake_item, moderator)
    for decision in ("manipulated", "ai_generated", "inconclusive"):
        with pytest.raises(services.ReviewError, match="note is required"):
            services.decide(fake_item.pk, moderator, decision, "   ")
    services.decide(fake_item.pk, moderator, "authentic")
    assert Submission.objects.get(pk=fake_item.submission_id).decision == "authentic"


def test_an_unknown_decision_is_refused(fake_item, moderator):
    claimed(fake_item, moderator)
    with pytest.raises(services.ReviewError):
        services.decide(fake_item.pk, moderator, "probably-fine", "hmm")


def test_a_moderator_cannot_decide_an_item_claimed_by_someone_else(fake_item, moderator, second_moderator):
    claimed(fake_item, moderator)
    with pytest.raises(services.ClaimedByAnother):
        services.decide(fake_item.pk, second_moderator, "authentic")
    with pytest.raises(services.ClaimedByAnother):
        services.claim(fake_item.pk, second_moderator)
    assert Submission.objects.get(pk=fake_item.submission_id).decision == ""


def test_an_unclaimed_item_cannot_be_decided(fake_item, moderator):
    with pytest.raises(services.ReviewError, match="claim this item first"):
        services.decide(fake_item.pk, moderator, "authentic")


def test_a_decided_item_cannot_be_decided_again(fake_item, moderator, second_moderator):
    claimed(fake_item, moderator)
    services.decide(fake_item.pk, moderator, "authentic")
    with pytest.raises(services.ReviewError, match="already decided"):
        services.claim(fake_item.pk, second_moderator)
    with pytest.raises(services.ReviewError):
        services.decide(fake_item.pk, moderator, "manipulated", "changed my mind")
    assert Submission.objects.get(pk=fake_item.submission_id).decision == "authentic"


def test_an_escalated_item_goes_to_a_second_moderator_not_back_to_the_first(fake_item, moderator, second_moderator):
    claimed(fake_item, moderator)
    services.escalate(fake_item.pk, moderator, "the shadows look wrong, not sure", decision="manipulated")
    fake_item.refresh_from_db()
    assert fake_item.state == ReviewItem.State.ESCALATED and fake_item.claimed_by is None
    assert Submission.objects.get(pk=fake_item.submission_id).review_state == ReviewState.OPEN
    assert services.claim_next(moderator) is None
    assert services.claim_next(second_moderator) == fake_item
    assert AuditEvent.objects.filter(action="review.escalated", actor=moderator).exists()


def test_escalation_needs_a_reason(fake_item, moderator):
    claimed(fake_item, moderator)
    with pytest.raises(services.ReviewError):
        services.escalate(fake_item.pk, moderator, "")


def test_a_second_opinion_that_agrees_is_final(fake_item, moderator, second_moderator):
    claimed(fake_item, moderator)
    services.escalate(fake_item.pk, moderator, "check the hands", decision="ai_generated")
    claimed(fake_item, second_moderator)
    services.decide(fake_item.pk, second_moderator, "ai_generated", "six fingers")
    submission = Submission.objects.get(pk=fake_item.submission_id)
    assert submission.final_verdict == ("ai_generated", "moderator") and submission.decided_by == second_moderator


def test_two_decisions_that_disagree_go_to_an_admin(fake_item, moderator, second_moderator, role_admin):
    claimed(fake_item, moderator)
    services.escalate(fake_item.pk, moderator, "looks generated to me", decision="ai_generated")
    claimed(fake_item, second_moderator)
    services.decide(fake_item.pk, second_moderator, "authentic")
    fake_item.refresh_from_db()
    assert fake_item.state == ReviewItem.State.DISPUTED
    submission = Submission.objects.get(pk=fake_item.submission_id)
    assert submission.decision == "" and submission.review_state == ReviewState.OPEN
    assert AuditEvent.objects.get(action="review.disputed").data["first"] == "ai_generated"

    # Moderators cannot take a disputed item; the admin's queue hands it out first.
    third = _third_moderator()
    assert services.claim_next(third) is None
    assert services.claim_next(role_admin) == fake_item
    services.decide(fake_item.pk, role_admin, "ai_generated", "EXIF and upscaling artefacts")
    submission.refresh_from_db()
    assert submission.final_verdict == ("ai_generated", "moderator") and submission.decided_by == role_admin
    kinds = list(ReviewDecision.objects.filter(item=fake_item).values_list("kind", flat=True))
    assert kinds == ["escalation", "second_opinion", "ruling"]


def _third_moderator():
    from tests.conftest import _user

    return _user("mod3@verity.test", "moderator")


def test_only_an_admin_can_reopen_a_decision_and_the_old_one_stays_in_the_history(
    fake_item, moderator, second_moderator, role_admin, announcements, django_capture_on_commit_callbacks
):
    claimed(fake_item, moderator)
    services.decide(fake_item.pk, moderator, "authentic")
    with pytest.raises(PermissionDenied):
        services.reopen(fake_item.pk, moderator, "I was wrong")
    with django_capture_on_commit_callbacks(execute=True):
        services.reopen(fake_item.pk, role_admin, "a source says this was staged")
    fake_item.refresh_from_db()
    submission = Submission.objects.get(pk=fake_item.submission_id)
    assert fake_item.state == ReviewItem.State.OPEN and fake_item.round == 2
    assert submission.final_verdict == ("fake", "detector") and submission.review_state == ReviewState.OPEN
    reopened = AuditEvent.objects.get(action="review.reopened")
    assert reopened.data["previous_decision"] == "authentic" and reopened.actor == role_admin
    assert announcements[-1][1:3] == (("authentic", "moderator"), ("fake", "detector"))

    # The first moderator may decide the new round; the old decision is still there.
    assert services.claim_next(moderator) == fake_item
    services.decide(fake_item.pk, moderator, "manipulated", "staged, per the source")
    assert list(fake_item.decisions.values_list("round", "decision")) == [(1, "authentic"), (2, "manipulated")]


def test_the_portal_says_awaiting_moderator_review_while_an_item_is_open(client, journalist, fake_item):
    client.force_login(journalist)
    html = client.get(reverse("detection:submission-detail", args=[fake_item.submission_id])).content.decode()
    assert "Awaiting moderator review" in html and "Likely fake" in html
    listing = client.get(reverse("detection:submission-list")).content.decode()
    assert "awaiting moderator review" in listing
    payload = status_payload(Submission.objects.get(pk=fake_item.submission_id))
    assert payload["under_review"] is True and payload["final_verdict"] == "fake"


def test_the_portal_shows_the_final_verdict_with_who_decided_and_when(client, journalist, fake_item, moderator):
    claimed(fake_item, moderator)
    services.decide(fake_item.pk, moderator, "manipulated", "spliced")
    client.force_login(journalist)
    html = client.get(reverse("detection:submission-detail", args=[fake_item.submission_id])).content.decode()
    assert "Moderator&#x27;s verdict: Manipulated" in html or "Moderator's verdict: Manipulated" in html
    assert "Decided by mod@verity.test" in html and "Awaiting moderator review" not in html
    # The detector's advice is still shown beside it.
    assert "Likely fake" in html
    payload = status_payload(Submission.objects.get(pk=fake_item.submission_id))
    assert payload["final_verdict"] == "manipulated" and payload["final_verdict_source"] == "moderator"
    assert payload["decided_by"] == "mod@verity.test" and payload["decided_at"] and payload["under_review"] is False


def test_a_decision_on_a_partners_image_queues_a_verdict_changed_webhook(
    partner, moderator, active_model, django_capture_on_commit_callbacks
):
    from detection.models import WebhookDelivery

    from .conftest import RED, scored

    submission = scored(partner, RED, "partner.jpg")
    Submission.objects.filter(pk=submission.pk).update(callback_url="https://partner.example/hook")
    item = services.claim(submission.review_item.pk, moderator)
    with django_capture_on_commit_callbacks() as callbacks:
        services.decide(item.pk, moderator, "ai_generated", "diffusion artefacts")
    assert not WebhookDelivery.objects.filter(event=WebhookDelivery.Event.VERDICT_CHANGED).exists()
    for callback in callbacks:  # the commit: review announces the verdict, the webhook code listens
        callback()
    delivery = WebhookDelivery.objects.get(event=WebhookDelivery.Event.VERDICT_CHANGED)
    assert delivery.payload["data"]["final_verdict"] == {"verdict": "ai_generated", "source": "moderator"}
