"""The queue page (filters, counts, claim next) and the decision page, through HTTP."""
from django.urls import reverse

from accounts.models import Organisation
from detection.models import Submission
from review import services
from review.models import ReviewItem
from tests.conftest import _user

from .conftest import DARK_RED, RED, scored


def test_the_queue_lists_items_with_counts(client, moderator, journalist, active_model):
    scored(journalist, RED, "a.jpg")
    scored(journalist, DARK_RED, "b.jpg")
    client.force_login(moderator)
    response = client.get(reverse("review:queue"))
    html = response.content.decode()
    assert "a.jpg" in html and "b.jpg" in html
    counts = response.context["counts"]
    assert (counts["waiting"], counts["open"], counts["uncertain"], counts["claimed"], counts["matching"]) == (2, 2, 1, 0, 2)


def test_the_queue_filters_by_organisation_verdict_uncertainty_age_and_model_version(
    client, moderator, journalist, stranger, active_model
):
    scored(journalist, RED, "planet-confident.jpg")
    scored(journalist, DARK_RED, "planet-uncertain.jpg")
    scored(stranger, RED, "gazette.jpg")
    client.force_login(moderator)

    def names(**params):
        page = client.get(reverse("review:queue"), params).context["page"]
        return sorted(i.submission.original_name for i in page.object_list)

    assert names(organisation=stranger.organisation.pk) == ["gazette.jpg"]
    assert names(uncertain="yes") == ["planet-uncertain.jpg"]
    assert names(uncertain="no", organisation=journalist.organisation.pk) == ["planet-confident.jpg"]
    assert names(verdict="real") == []
    assert names(model_version="tiny-test") == ["gazette.jpg", "planet-confident.jpg", "planet-uncertain.jpg"]
    assert names(age="24h") == []
    Submission.objects.filter(original_name="gazette.jpg").update(created_at="2020-01-01T00:00:00Z")
    assert names(age="7d") == ["gazette.jpg"]


def test_review_next_claims_the_top_item_with_the_filters_in_use(client, moderator, journalist, stranger, active_model):
    scored(journalist, DARK_RED, "planet.jpg")  # uncertain: top of the whole queue
    theirs = scored(stranger, RED, "gazette.jpg")
    client.force_login(moderator)
    response = client.post(reverse("review:claim-next"), {"organisation": stranger.organisation.pk})
    assert response.status_code == 302 and response["Location"] == reverse("review:item", args=[theirs.review_item.pk])
    assert ReviewItem.objects.get(pk=theirs.review_item.pk).claimed_by == moderator


def test_review_next_says_so_when_the_queue_is_empty(client, moderator, db):
    client.force_login(moderator)
    response = client.post(reverse("review:claim-next"), follow=True)
    assert "Nothing left to review" in response.content.decode()


def test_the_decision_page_shows_image_probability_model_history_and_the_form(client, moderator, fake_item):
    services.claim(fake_item.pk, moderator)
    client.force_login(moderator)
    html = client.get(reverse("review:item", args=[fake_item.pk])).content.decode()
    detection = fake_item.detection
    assert reverse("detection:submission-image", args=[fake_item.submission_id]) in html
    assert f"{detection.probability:.4f}" in html and "tiny-test" in html
    assert "submission.uploaded" in html and "submission.scored" in html and "review.claimed" in html
    for label in ("Authentic", "Manipulated", "AI-generated", "Inconclusive"):
        assert label in html
    assert 'id="decision-form"' in html and "Zoom in" in html


def test_the_decision_page_shows_the_heatmap_and_forensic_signals_once_computed(client, moderator, fake_item):
    from detection.forensics import run
    from detection.models import Evidence

    client.force_login(moderator)
    html = client.get(reverse("review:item", args=[fake_item.pk])).content.decode()
    assert 'id="evidence"' not in html and 'id="evidence-note"' in html
    evidence = run.compute(fake_item.submission_id)
    assert evidence.status == Evidence.Status.DONE
    html = client.get(reverse("review:item", args=[fake_item.pk])).content.decode()
    assert 'id="evidence"' in html and "Heatmap" in html and 'id="evidence-note"' not in html
    Evidence.objects.filter(pk=evidence.pk).update(status=Evidence.Status.PENDING)
    html = client.get(reverse("review:item", args=[fake_item.pk])).content.decode()
    # While pending, the evidence card (which reloads its page) stays away from a moderator's half-typed note.
    assert 'id="evidence"' not in html and 'id="evidence-note"' in html


def test_deciding_without_a_note_shows_the_error_on_the_page(client, moderator, fake_item):
    services.claim(fake_item.pk, moderator)
    client.force_login(moderator)
    response = client.post(reverse("review:decide", args=[fake_item.pk]), {"decision": "manipulated", "note": ""})
    assert response.status_code == 400
    assert "A note is required for any decision but authentic." in response.content.decode()
    assert Submission.objects.get(pk=fake_item.submission_id).decision == ""


def test_decide_and_next_takes_the_moderator_to_the_next_item(client, moderator, journalist, fake_item):
    following = scored(journalist, RED, "next.jpg").review_item
    services.claim(fake_item.pk, moderator)
    client.force_login(moderator)
    response = client.post(
        reverse("review:decide", args=[fake_item.pk]), {"decision": "ai_generated", "note": "GAN grid", "then": "next"}
    )
    assert response["Location"] == reverse("review:item", args=[following.pk])
    assert Submission.objects.get(pk=fake_item.submission_id).decision == "ai_generated"


def test_a_moderator_escalates_and_releases_through_the_pages(client, moderator, journalist, fake_item):
    other = scored(journalist, RED, "other.jpg").review_item
    client.force_login(moderator)
    client.post(reverse("review:claim", args=[fake_item.pk]))
    client.post(reverse("review:escalate", args=[fake_item.pk]), {"escalate-note": "unsure", "escalate-decision": ""})
    assert ReviewItem.objects.get(pk=fake_item.pk).state == ReviewItem.State.ESCALATED
    client.post(reverse("review:claim", args=[other.pk]))
    response = client.post(reverse("review:release", args=[other.pk]))
    assert response.status_code == 302 and ReviewItem.objects.get(pk=other.pk).claimed_by is None


def test_organisation_priority_shows_in_the_queue(client, moderator, active_model):
    vip = Organisation.objects.create(name="Wire", slug="wire", priority=5)
    scored(_user("wire@x.test", "journalist", vip), RED, "wire.jpg")
    client.force_login(moderator)
    assert "priority 5" in client.get(reverse("review:queue")).content.decode()
