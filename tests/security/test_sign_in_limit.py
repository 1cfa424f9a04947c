"""Failed sign-ins are limited per email address and IP address; the page says when to try again; only failures count."""
import datetime
import re

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from tests.conftest import _user

SIGN_IN = reverse("login")
PASSWORD = "correct horse battery"
LIMIT = 5


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)


@pytest.fixture
def lois(db):
    return _user("lois@planet.test", "journalist")


def sign_in(client, email, password, ip="127.0.0.1", url=SIGN_IN):
    return client.post(url, {"username": email, "password": password}, REMOTE_ADDR=ip)


def fail(client, times, email="lois@planet.test", ip="127.0.0.1"):
    return [sign_in(client, email, "wrong guess", ip) for _ in range(times)]


def shown_retry_time(response):
    match = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', response.content.decode())
    return datetime.datetime.fromisoformat(match.group(1)), match.group(2)


def test_after_the_limit_the_page_says_when_to_try_again_with_429(client, lois):
    before = fail(client, LIMIT - 1)
    assert [r.status_code for r in before] == [200] * (LIMIT - 1)
    assert "didn't match" in before[-1].content.decode()
    locked = fail(client, 1)[0]
    assert locked.status_code == 429 and locked["Retry-After"] == "900"
    page = locked.content.decode()
    assert "Too many failed sign-ins for lois@planet.test" in page and "(in 15 minutes)" in page
    until, words = shown_retry_time(locked)
    assert abs(until - (timezone.now() + datetime.timedelta(minutes=15))) < datetime.timedelta(minutes=1)
    assert words == timezone.localtime(until).strftime("%H:%M ") + timezone.localtime(until).tzname()
    assert 'name="username"' in page and 'value="lois@planet.test"' in page  # the form is still there


def test_while_locked_even_the_right_password_is_refused(client, lois):
    fail(client, LIMIT)
    response = sign_in(client, "lois@planet.test", PASSWORD)
    assert response.status_code == 429
    assert client.get(reverse("detection:submission-list")).status_code == 302  # not signed in
    assert not AuditEvent.objects.filter(action="user.signed_in").exists()


def test_the_wait_ends_and_then_the_right_password_works(client, lois):
    fail(client, LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=16))  # 16 minutes pass
    response = sign_in(client, "lois@planet.test", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("detection:submission-list")


def test_a_successful_sign_in_clears_the_failures(lois):
    client = Client()
    fail(client, LIMIT - 1)
    assert sign_in(client, "lois@planet.test", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    assert [r.status_code for r in fail(client, LIMIT - 1)] == [200] * (LIMIT - 1)  # counted from zero again
    assert sign_in(client, "lois@planet.test", PASSWORD).status_code == 302


def test_signing_in_many_times_never_locks_anyone_out(lois):
    client = Client()
    for _ in range(3 * LIMIT):
        assert sign_in(client, "lois@planet.test", PASSWORD).status_code == 302
        client.post(reverse("logout"))


def test_the_email_address_is_counted_whatever_its_case_and_spaces(client, lois):
    fail(client, LIMIT - 1, email="Lois@Planet.test")
    assert fail(client, 1, email=" lois@planet.TEST ")[0].status_code == 429


def test_the_limit_is_per_email_address_and_ip_address_together(client, lois):
    clark = _user("clark@planet.test", "journalist")
    fail(client, LIMIT, ip="203.0.113.7")
    assert sign_in(client, "lois@planet.test", PASSWORD, ip="198.51.100.20").status_code == 302  # lois elsewhere
    other = Client()
    assert sign_in(other, clark.email, PASSWORD, ip="203.0.113.7").status_code == 302  # someone else, same place


def test_the_admin_sign_in_is_limited_too(client, admin_user):
    admin_login = reverse("admin:login")
    for _ in range(LIMIT - 1):
        assert sign_in(client, admin_user.email, "wrong guess", url=admin_login).status_code == 200
    assert sign_in(client, admin_user.email, "wrong guess", url=admin_login).status_code == 429


def test_failed_sign_ins_are_still_audited_without_the_password(client, lois):
    fail(client, LIMIT + 1)
    events = AuditEvent.objects.filter(action="user.sign_in_failed")
    assert events.count() == LIMIT + 1
    assert all(e.data["email"] == "lois@planet.test" and "wrong guess" not in str(e.data) for e in events)
