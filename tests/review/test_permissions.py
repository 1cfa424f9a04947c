"""Only moderators and admins use the review pages; nobody acts on someone else's claim."""
import pytest
from django.urls import reverse

from detection.models import Submission
from review import services
from review.models import ReviewItem
from review.urls import urlpatterns


def review_urls(item_pk):
    """Every review URL, with an item's id where the pattern needs one."""
    urls = []
    for pattern in urlpatterns:
        needs_pk = "pk" in pattern.pattern.converters
        urls.append(reverse(f"review:{pattern.name}", args=[item_pk] if needs_pk else []))
    return urls


@pytest.mark.parametrize("role", ["journalist", "partner"])
def test_journalists_and_partners_get_403_on_every_review_url(client, request, role, fake_item):
    client.force_login(request.getfixturevalue(role))
    for url in review_urls(fake_item.pk):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"decision": "authentic", "note": "x", "reopen-note": "x", "escalate-note": "x"}).status_code == 403, url
    fake_item.refresh_from_db()
    assert fake_item.claimed_by is None and fake_item.state == ReviewItem.State.OPEN


def test_a_visitor_is_sent_to_sign_in(client, fake_item):
    for url in review_urls(fake_item.pk):
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response["Location"], url


@pytest.mark.parametrize("role", ["moderator", "admin_user", "role_admin"])
def test_moderators_and_admins_see_the_queue_the_item_and_the_agreement_page(client, request, role, fake_item):
    client.force_login(request.getfixturevalue(role))
    for name, args in [("review:queue", []), ("review:item", [fake_item.pk]), ("review:agreement", [])]:
        assert client.get(reverse(name, args=args)).status_code == 200, name


def test_a_moderator_cannot_decide_an_item_claimed_by_someone_else_over_http(client, fake_item, moderator, second_moderator):
    services.claim(fake_item.pk, moderator)
    client.force_login(second_moderator)
    page = client.get(reverse("review:item", args=[fake_item.pk])).content.decode()
    assert "mod@verity.test is reviewing this item" in page and 'id="decision-form"' not in page
    response = client.post(reverse("review:decide", args=[fake_item.pk]), {"decision": "authentic", "then": "queue"})
    assert response.status_code == 403
    assert client.post(reverse("review:release", args=[fake_item.pk])).status_code == 403
    assert client.post(reverse("review:escalate", args=[fake_item.pk]), {"escalate-note": "?"}).status_code == 403
    assert Submission.objects.get(pk=fake_item.submission_id).decision == ""


def test_a_moderator_cannot_reopen_but_an_admin_can(client, fake_item, moderator, role_admin):
    services.claim(fake_item.pk, moderator)
    services.decide(fake_item.pk, moderator, "authentic")
    client.force_login(moderator)
    assert client.post(reverse("review:reopen", args=[fake_item.pk]), {"reopen-note": "no"}).status_code == 403
    client.force_login(role_admin)
    response = client.post(reverse("review:reopen", args=[fake_item.pk]), {"reopen-note": "new evidence"})
    assert response.status_code == 302
    fake_item.refresh_from_db()
    assert fake_item.state == ReviewItem.State.OPEN


@pytest.mark.parametrize("role", ["journalist", "partner"])
def test_journalists_and_partners_get_403_on_the_audit_pages(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("audit:event-list")).status_code == 403
    assert client.get(reverse("audit:event-export")).status_code == 403


def test_the_navigation_shows_review_links_only_to_reviewers(client, journalist, moderator):
    client.force_login(journalist)
    html = client.get(reverse("detection:submission-list")).content.decode()
    assert "Review queue" not in html and "Audit trail" not in html
    client.force_login(moderator)
    html = client.get(reverse("detection:submission-list")).content.decode()
    assert "Review queue" in html and "Audit trail" in html
