"""Fixtures for the partner API: keys, an authenticated client, and a tiny HTTP server on 127.0.0.1."""
import http.server
import threading
import time
import uuid

import pytest
from rest_framework.test import APIClient

from accounts.api_keys import create_api_key
from accounts.models import Organisation

HIGH_RATES = {"api_key": "10000/min", "organisation": "10000/min"}


@pytest.fixture(autouse=True)
def _api_settings(settings):
    """Throttle counters of this test only (a fresh cache key prefix, also on a shared Redis), generous limits."""
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": HIGH_RATES}


@pytest.fixture
def partner_org(partner):
    return partner.organisation


@pytest.fixture
def partner_key(partner_org):
    """(ApiKey, raw key) with both scopes for the partner's organisation."""
    return create_api_key(organisation=partner_org, name="tests", scopes=["submit", "read"])


@pytest.fixture
def api(partner_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {partner_key[1]}")
    return client


@pytest.fixture
def rival_org(db):
    return Organisation.objects.create(name="Squawker", slug="squawker", kind=Organisation.Kind.PARTNER)


@pytest.fixture
def rival_api(rival_org):
    _, raw_key = create_api_key(organisation=rival_org, name="rival", scopes=["submit", "read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def client_for(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def allow_loopback(settings):
    """Let the fetcher and webhooks reach the test server on 127.0.0.1 (and nowhere else new)."""
    settings.VERITY_API_FETCH_ALLOW_LOOPBACK = True


class LocalServer:
    """Answers each path with a configured (status, headers, body); remembers every request it got."""

    def __init__(self):
        self.routes = {}
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
                status, headers, payload, delay = server.routes.get(self.path, (404, {}, b"not here", 0))
                time.sleep(delay)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (the time-limit test)
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path):
        return self.base_url + path

    def route(self, path, status=200, headers=None, body=b"", delay=0):
        self.routes[path] = (status, headers or {}, body, delay)


@pytest.fixture
def local_server():
    server = LocalServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def connections(monkeypatch):
    """The hosts the fetcher actually connected to (the address after the guard), in order."""
    import urllib3.connectionpool

    seen = []
    original = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def spy(pool, *args, **kwargs):
        seen.append(pool.host)
        return original(pool, *args, **kwargs)

    monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "urlopen", spy)
    return seen
