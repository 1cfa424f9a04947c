"""The portal's API keys page: partner admins list, create (shown once) and revoke their organisation's keys."""
import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api_keys import create_api_key, hash_key
from accounts.models import ApiKey, Organisation, User
from audit.models import AuditEvent
from detection import services
from detection.models import Submission
from tests.conftest import make_image_bytes

KEYS_PAGE = reverse("api-keys")


@pytest.fixture
def partner_admin(partner):
    partner.user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
    return partner


@pytest.fixture
def rival_key(db):
    rival = Organisation.objects.create(name="Squawker", slug="squawker", kind=Organisation.Kind.PARTNER)
    return create_api_key(organisation=rival, name="theirs", scopes=["read"])[0]


def secret_on(html):
    match = re.search(r'id="new-key-secret"[^>]*value="([^"]+)"', html) or re.search(r'value="([^"]+)"[^>]*id="new-key-secret"', html)
    return match.group(1) if match else None


def test_a_partner_admin_sees_the_organisations_keys_and_no_others(client, partner_admin, rival_key):
    mine, _ = create_api_key(organisation=partner_admin.organisation, name="newsroom-bot", scopes=["submit", "read"])
    client.force_login(partner_admin)
    html = client.get(KEYS_PAGE).content.decode()
    assert "newsroom-bot" in html and mine.prefix in html and "Read results, Submit images" in html
    assert "Never" in html  # last used
    assert "theirs" not in html and rival_key.prefix not in html


def test_creating_a_key_shows_it_once_and_it_works(client, partner_admin):
    client.force_login(partner_admin)
    response = client.post(KEYS_PAGE, {"name": "newsroom-bot", "scopes": ["read"]})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    raw_key = secret_on(response.content.decode())
    key = ApiKey.objects.get(name="newsroom-bot")
    assert raw_key.startswith(key.prefix + "_") and hash_key(raw_key) == key.key_hash
    assert key.scopes == ["read"] and key.created_by == partner_admin
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api.get(reverse("api:submission-list")).status_code == 200
    # Shown once: the page does not show it again.
    again = client.get(KEYS_PAGE).content.decode()
    assert raw_key not in again and secret_on(again) is None and key.prefix in again


def test_creating_and_revoking_are_audited_with_the_partner_admin_as_actor(client, partner_admin):
    client.force_login(partner_admin)
    client.post(KEYS_PAGE, {"name": "ingest", "scopes": ["submit", "read"]})
    key = ApiKey.objects.get(name="ingest")
    client.post(reverse("api-key-revoke", args=[key.pk]))
    events = AuditEvent.objects.filter(target_id=str(key.pk), action__startswith="api_key.").order_by("id")
    assert [(e.action, e.actor) for e in events] == [("api_key.created", partner_admin), ("api_key.revoked", partner_admin)]


@pytest.mark.parametrize(
    "data, message",
    [({"name": "", "scopes": ["read"]}, "This field is required"), ({"name": "x"}, "Choose at least one")],
)
def test_a_key_without_a_name_or_a_scope_is_not_made(client, partner_admin, data, message):
    client.force_login(partner_admin)
    response = client.post(KEYS_PAGE, data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not ApiKey.objects.exists()


def test_revoking_asks_first_then_stops_the_key(client, partner_admin):
    key, raw_key = create_api_key(organisation=partner_admin.organisation, name="old-bot", scopes=["read"])
    client.force_login(partner_admin)
    confirm = client.get(reverse("api-key-revoke", args=[key.pk]))
    assert "Revoke “old-bot”?" in confirm.content.decode()
    key.refresh_from_db()
    assert key.is_active  # asking is not revoking
    done = client.post(reverse("api-key-revoke", args=[key.pk]), follow=True)
    assert "Revoked “old-bot”" in done.content.decode() and "Revoked</span>" in done.content.decode()
    key.refresh_from_db()
    assert key.revoked_by == partner_admin
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api.get(reverse("api:submission-list")).status_code == 401


def test_another_organisations_key_is_not_found(client, partner_admin, rival_key):
    client.force_login(partner_admin)
    assert client.get(reverse("api-key-revoke", args=[rival_key.pk])).status_code == 404
    assert client.post(reverse("api-key-revoke", args=[rival_key.pk])).status_code == 404
    rival_key.refresh_from_db()
    assert rival_key.is_active


@pytest.mark.parametrize("who", ["partner", "journalist", "moderator", "admin_user"])
def test_only_a_partner_admin_may_open_the_page(client, request, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    assert client.get(KEYS_PAGE).status_code == 403
    assert client.post(KEYS_PAGE, {"name": "x", "scopes": ["read"]}).status_code == 403
    assert not ApiKey.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    response = client.get(KEYS_PAGE)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_the_navigation_leads_partners_to_the_api_docs_and_partner_admins_to_their_keys(client, partner, journalist):
    client.force_login(journalist)
    html = client.get(reverse("detection:submission-list")).content.decode()
    assert 'href="/api/docs/"' not in html and f'href="{KEYS_PAGE}"' not in html
    client.force_login(partner)
    html = client.get(reverse("detection:submission-list")).content.decode()
    assert 'href="/api/docs/"' in html and f'href="{KEYS_PAGE}"' not in html
    partner.user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
    html = client.get(reverse("detection:submission-list")).content.decode()
    assert f'href="{KEYS_PAGE}"' in html


def test_an_api_upload_is_labelled_with_the_keys_name_and_a_portal_upload_with_the_email(partner, journalist, active_model):
    key, raw_key = create_api_key(organisation=partner.organisation, name="newsroom-bot", scopes=["submit"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    image = SimpleUploadedFile("a.jpg", make_image_bytes(), content_type="image/jpeg")
    created = api.post(reverse("api:submission-list"), {"image": image}, format="multipart").json()
    assert Submission.objects.get(pk=created["id"]).uploader_label == "API key “newsroom-bot”"
    portal = services.submit(data=make_image_bytes(), name="p.jpg", uploader=journalist, enqueue=False)
    assert portal.uploader_label == "lois@planet.test"


def test_the_demo_partner_is_a_partner_admin(db):
    call_command("create_demo_users", stdout=io.StringIO())
    assert User.objects.get(email="partner@demo.verity.local").may_manage_api_keys
