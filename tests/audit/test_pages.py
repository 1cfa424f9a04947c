"""The audit page for moderators and admins: filters by actor, action, object and time, and a CSV export."""
import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

import audit
from audit.models import AuditEvent


@pytest.fixture
def events(journalist, moderator):
    audit.record(journalist, "submission.uploaded", journalist, sha256="abc")
    audit.record(moderator, "review.claimed", moderator, item=1)
    audit.record(moderator, "review.decided", moderator, decision="authentic")
    audit.record(None, "submission.scored", None, label="fake")


def listed(client, **params):
    response = client.get(reverse("audit:event-list"), params)
    assert response.status_code == 200
    return [e.action for e in response.context["page"].object_list]


@pytest.mark.parametrize("role", ["moderator", "admin_user"])
def test_moderators_and_admins_see_the_audit_page(client, request, role, events):
    client.force_login(request.getfixturevalue(role))
    assert "review.decided" in listed(client)


def test_it_filters_by_actor_action_object_and_time(client, moderator, journalist, events):
    client.force_login(moderator)
    # force_login signs the moderator in, which is audited too.
    assert listed(client, actor="mod@verity") == ["user.signed_in", "review.decided", "review.claimed"]
    assert listed(client, action="review.decided") == ["review.decided"]
    assert listed(client, action="review.") == ["review.decided", "review.claimed"]
    assert listed(client, target=str(journalist.pk), action="submission.uploaded") == ["submission.uploaded"]
    assert "submission.scored" not in listed(client, target="accounts.user")
    today = timezone.localdate()
    assert len(listed(client, since=today.isoformat(), until=today.isoformat())) == AuditEvent.objects.count()
    assert listed(client, until=(today - timezone.timedelta(days=1)).isoformat()) == []


def test_the_csv_export_has_the_filtered_events_with_their_hashes(client, moderator, events):
    client.force_login(moderator)
    response = client.get(reverse("audit:event-export"), {"action": "review."})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["review.decided", "review.claimed"]
    decided = rows[0]
    assert decided["actor"] == "mod@verity.test" and '"decision": "authentic"' in decided["data"]
    assert decided["hash"] == AuditEvent.objects.get(action="review.decided").hash
    assert AuditEvent.objects.filter(action="audit.exported", actor=moderator).exists()


def test_a_bad_date_is_reported_not_a_crash(client, moderator, events):
    client.force_login(moderator)
    response = client.get(reverse("audit:event-list"), {"since": "yesterday-ish"})
    assert response.status_code == 200 and "Enter a valid date" in response.content.decode()
