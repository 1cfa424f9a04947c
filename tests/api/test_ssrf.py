"""The URL fetcher refuses to be a proxy into private networks (server-side request forgery).

No test here sends a packet outside 127.0.0.0/8: refusals happen before any connection (the `connections`
spy proves it), and the redirect cases start on a test server on 127.0.0.1.
"""
import socket

import pytest
from django.urls import reverse

from detection import fetch
from detection.models import Submission
from tests.conftest import make_image_bytes

LIST = reverse("api:submission-list")

REFUSED_URLS = [
    "http://127.0.0.1/x.jpg",
    "http://10.0.0.1/x.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost/x.jpg",
    "http://[::1]/x.jpg",
    "http://0.0.0.0/x.jpg",
    "http://192.168.1.10/x.jpg",
    "http://[::ffff:10.0.0.1]/x.jpg",
    "http://[fe80::1]/x.jpg",
    "file:///etc/passwd",
    "ftp://127.0.0.1/x.jpg",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "http://user:secret@127.0.0.1/x.jpg",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_url_to_a_private_loopback_or_link_local_address_or_another_scheme_is_refused(api, connections, url):
    response = api.post(LIST, {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "url_not_allowed"
    assert response.json()["errors"][0]["attr"] == "url"
    assert connections == []
    assert not Submission.objects.exists()


def test_a_host_name_that_resolves_to_a_private_address_is_refused(api, connections, monkeypatch):
    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host != "images.partner.test":  # the cache (Redis in CI) resolves its own host too
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]

    monkeypatch.setattr(fetch.socket, "getaddrinfo", fake_getaddrinfo)
    response = api.post(LIST, {"url": "https://images.partner.test/cat.jpg"}, format="json")
    assert response.json()["errors"][0]["code"] == "url_not_allowed"
    assert "10.20.30.40" in response.json()["errors"][0]["detail"]
    assert connections == []


def test_loopback_is_refused_unless_the_test_only_setting_allows_it(settings):
    with pytest.raises(fetch.UnsafeURL):
        fetch.check_address("127.0.0.1")
    settings.VERITY_API_FETCH_ALLOW_LOOPBACK = True
    fetch.check_address("127.0.0.1")
    with pytest.raises(fetch.UnsafeURL):
        fetch.check_address("10.0.0.1")  # the setting opens loopback only


@pytest.mark.parametrize("target", ["http://10.0.0.1/secret.jpg", "http://169.254.169.254/latest/meta-data/", "ftp://127.0.0.1/x"])
def test_a_redirect_to_a_private_address_is_refused(api, allow_loopback, local_server, connections, target):
    local_server.route("/start.jpg", status=302, headers={"Location": target})
    response = api.post(LIST, {"url": local_server.url("/start.jpg")}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "url_not_allowed"
    assert connections == ["127.0.0.1"]  # the test server, and nothing after the redirect
    assert [r["path"] for r in local_server.requests] == ["/start.jpg"]


def test_a_redirect_to_an_allowed_address_is_followed(api, allow_loopback, local_server, active_model):
    local_server.route("/old.jpg", status=301, headers={"Location": "/new.jpg"})
    local_server.route("/new.jpg", headers={"Content-Type": "image/jpeg"}, body=make_image_bytes())
    response = api.post(LIST, {"url": local_server.url("/old.jpg")}, format="json")
    assert response.status_code == 201, response.json()
    assert [r["path"] for r in local_server.requests] == ["/old.jpg", "/new.jpg"]


def test_too_many_redirects_are_refused(api, allow_loopback, local_server, settings):
    settings.VERITY_API_FETCH_MAX_REDIRECTS = 2
    local_server.route("/loop.jpg", status=302, headers={"Location": "/loop.jpg"})
    response = api.post(LIST, {"url": local_server.url("/loop.jpg")}, format="json")
    assert response.json()["errors"][0]["code"] == "url_fetch_failed"
    assert len(local_server.requests) == 3


def test_a_file_over_the_size_limit_is_refused(api, allow_loopback, local_server, settings):
    settings.VERITY_MAX_UPLOAD_BYTES = 1000
    local_server.route("/big.jpg", headers={"Content-Type": "image/jpeg"}, body=b"x" * 5000)
    response = api.post(LIST, {"url": local_server.url("/big.jpg")}, format="json")
    assert response.json()["errors"][0]["code"] == "url_too_large"


def test_a_server_slower_than_the_time_limit_is_given_up_on(api, allow_loopback, local_server, settings):
    settings.VERITY_API_FETCH_TIMEOUT = 0.5
    local_server.route("/slow.jpg", body=make_image_bytes(), delay=2)
    response = api.post(LIST, {"url": local_server.url("/slow.jpg")}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "url_fetch_failed"


def test_a_callback_url_to_a_private_address_is_refused(api, connections):
    image = {"image": _upload(), "callback_url": "http://169.254.169.254/hook"}
    response = api.post(LIST, image, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "code": "url_not_allowed", "attr": "callback_url", "detail": response.json()["errors"][0]["detail"]
    }
    assert not Submission.objects.exists()


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("a.jpg", make_image_bytes(), content_type="image/jpeg")
