from django.urls import reverse

from audit.models import AuditEvent


def test_a_journalist_signs_in_with_email_and_it_is_audited(client, journalist):
    response = client.post(reverse("login"), {"username": "Lois@planet.test".lower(), "password": "correct horse battery"})
    assert response.status_code == 302 and response["Location"] == reverse("detection:submission-list")
    event = AuditEvent.objects.get(action="user.signed_in")
    assert event.actor == journalist


def test_a_wrong_password_is_refused_and_audited_without_the_password(client, journalist):
    response = client.post(reverse("login"), {"username": "lois@planet.test", "password": "guess"})
    assert response.status_code == 200 and "didn't match" in response.content.decode()
    event = AuditEvent.objects.get(action="user.sign_in_failed")
    assert event.data["email"] == "lois@planet.test" and "guess" not in str(event.data)


def test_signing_out_ends_the_session(client, journalist):
    client.force_login(journalist)
    client.post(reverse("logout"))
    assert client.get(reverse("detection:submission-list")).status_code == 302


def test_roles_are_groups_with_their_permissions(journalist, moderator):
    assert journalist.has_perm("detection.add_submission")
    assert not journalist.has_perm("detection.view_all_submissions")
    assert moderator.has_perm("detection.view_all_submissions")
    assert not moderator.has_perm("detection.add_submission")
    assert journalist.has_role("journalist") and not journalist.has_role("moderator")


def test_role_changes_are_audited(journalist):
    from django.contrib.auth.models import Group

    journalist.groups.add(Group.objects.get(name="moderator"))
    event = AuditEvent.objects.filter(action="user.roles_added", target_id=str(journalist.pk)).latest("id")
    assert event.data["roles"] == ["moderator"]
