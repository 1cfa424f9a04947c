"""Error pages look like the rest of Verity, say what happened and offer a way back; never debug output."""
import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings
from django.urls import include, path

import config.urls


def _boom(request):
    raise RuntimeError("secret internals: DATABASE_URL=postgres://user:pw@db")


def _forbidden(request):
    raise PermissionDenied


# The project's URLs plus two that fail on purpose.
urlpatterns = [path("boom/", _boom), path("forbidden/", _forbidden), path("", include(config.urls))]

STYLESHEET = '<link rel="stylesheet" href="/static/css/verity.css">'


@pytest.fixture
def styled(db):
    """The project's URLs with this module's failing ones added."""
    with override_settings(ROOT_URLCONF=__name__):
        yield


def test_a_missing_page_is_the_styled_404_with_a_way_to_sign_in(client, styled):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert STYLESHEET in page and "There is no page here" in page
    assert 'href="/accounts/sign-in/">Sign in</a>' in page
    assert "URLconf" not in page and "Using the URLconf" not in page


def test_a_signed_in_user_who_takes_a_wrong_turn_is_offered_their_submissions(client, journalist, styled):
    client.force_login(journalist)
    page = client.get("/submissions/00000000-0000-0000-0000-000000000000/").content.decode()
    assert "There is no page here" in page and "Go to your submissions" in page
    assert "lois@planet.test" in page  # the usual top bar, with the way to sign out


@pytest.mark.parametrize("debug", [False, True])
def test_a_forbidden_page_is_the_styled_403_whatever_debug_says(client, journalist, styled, debug):
    client.force_login(journalist)
    with override_settings(DEBUG=debug):
        response = client.get("/training/")
    assert response.status_code == 403
    page = response.content.decode()
    assert STYLESHEET in page and "You are not allowed to see this page" in page
    assert "Training pages are for staff." in page  # why, when the view said
    assert "ask an administrator for the role" in page and "Go to your submissions" in page
    assert "403 Forbidden" not in page


@pytest.mark.parametrize("debug", [False, True])
def test_a_bare_permission_denied_still_explains_and_offers_sign_in(client, styled, debug):
    with override_settings(DEBUG=debug):
        page = client.get("/forbidden/").content.decode()
    assert "You are not allowed to see this page" in page and "Sign in first" in page


def test_a_server_error_is_the_styled_500_without_any_detail_of_the_failure(styled):
    client = Client(raise_request_exception=False)
    response = client.get("/boom/")
    assert response.status_code == 500
    page = response.content.decode()
    assert STYLESHEET in page and "Something went wrong on our side" in page
    assert "secret internals" not in page and "Traceback" not in page and "postgres://" not in page


def test_a_request_for_an_unknown_host_is_the_styled_400(client, styled):
    response = client.get("/accounts/sign-in/", HTTP_HOST="intruder.example")
    assert response.status_code == 400
    assert "The request could not be understood" in response.content.decode()


def test_the_site_has_a_favicon_at_the_root_and_in_every_page(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # the ICO signature
    page = client.get("/accounts/sign-in/").content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">' in page


def test_a_form_sent_without_its_security_token_says_it_expired_in_words(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/sign-in/", {"username": "lois@planet.test", "password": "x"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "This form has expired" in page and STYLESHEET in page and "CSRF" not in page
