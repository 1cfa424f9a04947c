"""What an attacker run found, each fixed: the answer now says what the requester may do, whatever they send."""
import pytest
from django.urls import reverse

from accounts.models import ApiKey
from tests.security.conftest import client_as, send

FORM = "application/x-www-form-urlencoded"


# (a) Key management checked the request body before the requester's rights: 415 to anyone with a form body.

BODIES = {
    "form": (FORM, "name=x"),
    "multipart": ("multipart/form-data; boundary=BoUnDaRy", "--BoUnDaRy--\r\n"),
    "multipart without boundary": ("multipart/form-data", "name=x"),  # Django cannot read it: was a 500
    "too many fields": (FORM, "&".join(f"f{i}=1" for i in range(1200))),  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
    "text": ("text/plain", "name=x"),
}


@pytest.mark.parametrize("kind", BODIES)
def test_revoking_a_key_with_a_form_body_is_refused_for_rights_not_for_the_body(world, kind):
    url = reverse("api:key-revoke", args=[world.A.victim_key.pk])
    content_type, body = BODIES[kind]
    assert send(client_as(world, "anon"), "POST", url, data=body, content_type=content_type).status_code == 401
    for role in ("jA", "jB", "mod", "admin"):
        response = send(client_as(world, role), "POST", url, data=body, content_type=content_type)
        assert response.status_code == 403, (role, response.status_code, response.body)
        assert response.json()["errors"][0]["code"] == "permission_denied"
    for role in ("kA:rs", "kB:rs"):  # an API key is no sign-in for key management
        assert send(client_as(world, role), "POST", url, data=body, content_type=content_type).status_code == 401
    assert ApiKey.objects.get(pk=world.A.victim_key.pk).is_active


@pytest.mark.parametrize("kind", BODIES)
def test_the_partner_admin_still_revokes_with_any_body_and_only_their_own_organisations_keys(world, kind):
    content_type, body = BODIES[kind]
    admin_of_a = client_as(world, "padmA")
    response = admin_of_a.post(reverse("api:key-revoke", args=[world.A.victim_key.pk]), data=body, content_type=content_type)
    assert response.status_code == 200 and response.json()["revoked_by"] == world.partner_admin.email
    response = admin_of_a.post(reverse("api:key-revoke", args=[world.B.victim_key.pk]), data="x=1", content_type=FORM)
    assert response.status_code == 404
    assert not ApiKey.objects.get(pk=world.A.victim_key.pk).is_active
    assert ApiKey.objects.get(pk=world.B.victim_key.pk).is_active


@pytest.mark.parametrize("kind", BODIES)
def test_creating_a_key_with_a_form_body_is_refused_for_rights_first(world, kind):
    content_type, body = BODIES[kind]
    url = reverse("api:key-list")
    assert send(client_as(world, "jA"), "POST", url, data=body, content_type=content_type).status_code == 403
    refused = send(client_as(world, "padmA"), "POST", url, data=body, content_type=content_type)
    # Allowed to create keys: now the body counts, and only JSON makes a key (415, or 400 for an empty form).
    assert refused.status_code in (400, 415), refused.status_code
    assert ApiKey.objects.count() == 6  # the world's keys, no new one


def test_the_csrf_check_still_guards_key_management(world):
    client = client_as(world, "padmA")
    client.defaults.pop("HTTP_X_CSRFTOKEN")
    response = send(client, "POST", reverse("api:key-revoke", args=[world.A.victim_key.pk]), data="x=1", content_type=FORM)
    assert response.status_code == 403 and "CSRF" in response.json()["errors"][0]["detail"]
    assert ApiKey.objects.get(pk=world.A.victim_key.pk).is_active


# (b) HEAD with a read-only key was refused (403) where GET answered.

@pytest.mark.parametrize("name", ["api:submission-detail", "api:submission-report"])
def test_head_follows_get_with_a_read_only_key(world, name):
    url = reverse(name, args=[world.A.submission.pk])
    reader = client_as(world, "kA:r")
    assert send(reader, "GET", url).status_code == 200
    head = send(reader, "HEAD", url)
    assert head.status_code == 200 and head.body == b""
    assert send(client_as(world, "kA:s"), "HEAD", url).status_code == 403  # GET needs read: so does HEAD
    assert send(client_as(world, "kB:rs"), "HEAD", url).status_code == 404  # another organisation's: not found


def test_head_on_the_list_follows_get(world):
    url = reverse("api:submission-list")
    assert send(client_as(world, "kA:r"), "HEAD", url).status_code == 200
    assert send(client_as(world, "kA:s"), "HEAD", url).status_code == 403


def test_a_method_an_endpoint_does_not_offer_is_405_with_the_allowed_methods_whatever_the_keys_scopes(world):
    url = reverse("api:submission-detail", args=[world.A.submission.pk])
    for role in ("kA:r", "kA:s", "kA:rs"):
        response = send(client_as(world, role), "POST", url, data={})
        assert response.status_code == 405, (role, response.status_code)
        assert "GET" in response["Allow"] and "POST" not in response["Allow"]
    assert send(client_as(world, "anon"), "DELETE", url).status_code == 401  # still no key, no answer


# (c) The portal's submission pages answered POST like GET.

@pytest.mark.parametrize("name", ["detection:submission-list", "detection:submission-detail", "detection:submission-image"])
def test_submission_pages_refuse_post_with_the_allowed_methods(world, name):
    url = reverse(name, args=[world.A.submission.pk]) if name != "detection:submission-list" else reverse(name)
    journalist = client_as(world, "jA")
    response = send(journalist, "POST", url)
    assert response.status_code == 405
    assert sorted(m.strip() for m in response["Allow"].split(",")) == ["GET", "HEAD"]
    assert send(journalist, "GET", url).status_code == 200
    assert send(journalist, "HEAD", url).status_code == 200
    assert send(client_as(world, "anon"), "POST", url).status_code == 302  # the anonymous go to sign in first


# (d) A read-only key could read the webhook signing secret, and so sign forged results.

def test_the_webhook_signing_secret_needs_the_submit_scope(world):
    url = reverse("api:webhook-secret")
    refused = send(client_as(world, "kA:r"), "GET", url)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["detail"] == "This API key does not have the 'submit' scope."
    assert world.A.organisation.webhook_secret.secret.encode() not in refused.body
    for role in ("kA:s", "kA:rs"):
        response = send(client_as(world, role), "GET", url)
        assert response.status_code == 200
        assert response.json()["signing_secret"] == world.A.organisation.webhook_secret.secret
    assert send(client_as(world, "kB:rs"), "GET", url).json()["signing_secret"] == world.B.organisation.webhook_secret.secret


def test_the_contract_and_the_guide_say_which_scope_the_secret_needs(settings):
    from pathlib import Path

    import yaml

    schema = yaml.safe_load((Path(settings.BASE_DIR) / "openapi.yaml").read_text())
    assert "`submit` scope" in schema["paths"]["/api/v1/webhook-secret/"]["get"]["description"]
    assert "`read` scope" in schema["paths"]["/api/v1/submissions/{id}/"]["get"]["description"]
    guide = (Path(settings.BASE_DIR) / "docs" / "api.md").read_text()
    assert "`GET /webhook-secret/` — needs the `submit` scope" in guide
