"""API keys: made by admins, partner admins and the command; shown once; hashed; scoped; revocable; audited."""
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from accounts.api_keys import create_api_key, hash_key, revoke_api_key
from accounts.models import ApiKey
from audit.models import AuditEvent
from tests.api.conftest import client_for
from tests.conftest import make_image_bytes

LIST = reverse("api:submission-list")
KEYS = reverse("api:key-list")


def test_the_command_prints_a_new_key_that_works(partner_org):
    out = io.StringIO()
    call_command("create_api_key", "--org", partner_org.name, "--scopes", "submit,read", stdout=out, stderr=io.StringIO())
    raw_key = out.getvalue().strip()
    key = ApiKey.objects.get()
    assert raw_key.startswith(key.prefix + "_") and key.scopes == ["read", "submit"]
    assert client_for(raw_key).get(LIST).status_code == 200


def test_the_command_refuses_an_unknown_scope(partner_org):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="scopes must be"):
        call_command("create_api_key", "--org", partner_org.slug, "--scopes", "submit,admin", stdout=io.StringIO())


def test_only_a_hash_and_a_visible_prefix_are_stored(partner_org):
    key, raw_key = create_api_key(organisation=partner_org, name="ingest", scopes="read")
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert raw_key not in str(row)
    assert row["key_hash"] == hash_key(raw_key)
    assert raw_key.startswith(row["prefix"]) and len(row["prefix"]) == 11


def test_a_request_without_a_key_is_unauthorised_with_a_json_error(client, db):
    response = client.get(LIST)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_key_is_unauthorised(db):
    response = client_for("vk_00000000_not-a-real-key").get(LIST)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_failed"


def test_a_revoked_key_stops_working_at_once(api, partner_key):
    assert api.get(LIST).status_code == 200
    revoke_api_key(partner_key[0])
    response = api.get(LIST)
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["detail"]


def test_a_read_only_key_cannot_submit(partner_org, active_model):
    _, raw_key = create_api_key(organisation=partner_org, name="reader", scopes=["read"])
    response = client_for(raw_key).post(LIST, {"url": "https://example.test/a.jpg"}, format="json")
    assert response.status_code == 403
    assert response.json()["errors"][0] == {
        "code": "permission_denied", "detail": "This API key does not have the 'submit' scope.", "attr": None
    }


def test_a_submit_only_key_cannot_read(partner_org):
    _, raw_key = create_api_key(organisation=partner_org, name="writer", scopes=["submit"])
    assert client_for(raw_key).get(LIST).status_code == 403


def test_a_use_of_a_key_sets_its_last_used_time_to_the_minute(api, partner_key):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.api_keys import LAST_USED_RESOLUTION

    key = partner_key[0]
    assert key.last_used_at is None
    api.get(LIST)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    api.get(LIST)  # within the minute: not written again (one UPDATE a minute for a key in steady use)
    key.refresh_from_db()
    assert key.last_used_at == first
    earlier = timezone.now() - LAST_USED_RESOLUTION - timedelta(seconds=1)
    type(key).objects.filter(pk=key.pk).update(last_used_at=earlier)
    api.get(LIST)
    key.refresh_from_db()
    assert key.last_used_at > earlier + LAST_USED_RESOLUTION


def test_every_use_of_a_key_is_in_the_audit_trail(api, partner_key, active_model):
    api.get(LIST)
    created = api.post(LIST, {"image": SimpleUploadedFile("a.jpg", make_image_bytes())}, format="multipart")
    uses = AuditEvent.objects.filter(action="api_key.used").order_by("id")
    assert [(e.data["method"], e.data["status"], e.data["prefix"]) for e in uses] == [
        ("GET", 200, partner_key[0].prefix),
        ("POST", created.status_code, partner_key[0].prefix),
    ]
    assert uses[0].actor_label == f"api@{partner_key[0].organisation.slug}.keys.verity.invalid"
    assert uses[1].data["submissions"] == [created.json()["id"]]


def test_key_creation_and_revocation_are_audited(partner_org, admin_user):
    key, _ = create_api_key(organisation=partner_org, name="x", scopes=["read"], actor=admin_user)
    revoke_api_key(key, actor=admin_user)
    assert list(AuditEvent.objects.filter(target_id=str(key.pk), actor=admin_user).values_list("action", flat=True).order_by("id")) == [
        "api_key.created",
        "api_key.revoked",
    ]


@pytest.fixture
def partner_admin(partner):
    partner.user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
    return partner


def test_a_partner_admin_creates_a_key_and_sees_it_only_once(client, partner_admin):
    client.force_login(partner_admin)
    created = client.post(KEYS, {"name": "ingest", "scopes": ["submit"]}, content_type="application/json")
    assert created.status_code == 201, created.json()
    raw_key = created.json()["key"]
    assert client_for(raw_key).post(LIST, {}, format="json").status_code == 400  # authenticated, submit scope
    listed = client.get(KEYS).json()
    assert [k["prefix"] for k in listed] == [created.json()["prefix"]]
    assert "key" not in listed[0] and raw_key not in str(listed)


def test_a_partner_admin_revokes_their_organisations_key(client, partner_admin, partner_key):
    client.force_login(partner_admin)
    response = client.post(reverse("api:key-revoke", args=[partner_key[0].pk]))
    assert response.status_code == 200 and response.json()["revoked_by"] == partner_admin.email
    assert client_for(partner_key[1]).get(LIST).status_code == 401


def test_a_partner_admin_cannot_revoke_another_organisations_key(client, partner_admin, rival_org):
    rival_key, _ = create_api_key(organisation=rival_org, name="theirs", scopes=["read"])
    client.force_login(partner_admin)
    assert client.post(reverse("api:key-revoke", args=[rival_key.pk])).status_code == 404
    rival_key.refresh_from_db()
    assert rival_key.revoked_at is None


def test_a_partner_without_the_permission_cannot_manage_keys(client, partner):
    client.force_login(partner)
    assert client.get(KEYS).status_code == 403
    assert client.post(KEYS, {"name": "x", "scopes": ["read"]}, content_type="application/json").status_code == 403


def test_an_api_key_is_not_a_sign_in_for_managing_keys(api):
    response = api.get(KEYS)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "not_authenticated"


def test_an_admin_creates_a_key_in_the_admin_and_is_shown_it_once(client, admin_user, partner_org):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:accounts_apikey_add"),
        {"organisation": partner_org.pk, "name": "from admin", "scopes": ["read"]},
        follow=True,
    )
    key = ApiKey.objects.get(name="from admin")
    shown = [str(m) for m in response.context["messages"] if "The new API key is" in str(m)]
    assert len(shown) == 1
    raw_key = shown[0].split("The new API key is ")[1].split(" ")[0]
    assert raw_key.startswith(key.prefix)
    assert hash_key(raw_key) == key.key_hash and key.created_by == admin_user


def test_an_admin_revokes_keys_with_the_admin_action(client, admin_user, partner_key):
    client.force_login(admin_user)
    client.post(
        reverse("admin:accounts_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [partner_key[0].pk]},
    )
    partner_key[0].refresh_from_db()
    assert partner_key[0].revoked_by == admin_user


def test_a_staff_member_with_the_admin_role_may_open_the_key_admin(client, db):
    from tests.conftest import _user

    operator = _user("ops@verity.test", "admin", None, is_staff=True)
    client.force_login(operator)
    assert client.get(reverse("admin:accounts_apikey_add")).status_code == 200
    assert client.get(reverse("admin:detection_webhookdelivery_changelist")).status_code == 200
