"""Signed webhooks: sent when a result is ready and when a moderator changes the verdict; retried; recorded."""
import json
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from detection import webhooks
from detection.models import Submission, WebhookDelivery
from detection.signals import verdict_changed
from tests.conftest import make_image_bytes

LIST = reverse("api:submission-list")


def test_a_signature_verifies_and_a_tampered_body_fails():
    body = b'{"type":"submission.scored"}'
    header = webhooks.sign("whsec_test", body)
    assert webhooks.verify("whsec_test", header, body)
    assert not webhooks.verify("whsec_test", header, body.replace(b"scored", b"SCORED"))
    assert not webhooks.verify("whsec_other", header, body)


def test_an_old_signature_is_refused_so_a_captured_request_cannot_be_replayed():
    body = b"{}"
    header = webhooks.sign("whsec_test", body, timestamp=time.time() - 3600)
    assert not webhooks.verify("whsec_test", header, body)


@pytest.fixture
def hook(local_server, allow_loopback):
    local_server.route("/hook", status=200, body=b"ok")
    return local_server


def submit_with_callback(api, url, color=(220, 10, 10)):
    image = SimpleUploadedFile("a.jpg", make_image_bytes(color=color), content_type="image/jpeg")
    return api.post(LIST, {"image": image, "callback_url": url}, format="multipart")


def test_a_ready_result_is_posted_to_the_callback_url_signed_with_the_organisations_secret(
    api, active_model, hook, partner_org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        created = submit_with_callback(api, hook.url("/hook"))
    [sent] = hook.requests
    event = json.loads(sent["body"])
    assert event["type"] == "submission.scored"
    assert event["data"]["id"] == created.json()["id"]
    assert event["data"]["final_verdict"] == {"verdict": "fake", "source": "detector"}
    secret = api.get(reverse("api:webhook-secret")).json()["signing_secret"]
    assert secret == webhooks.signing_secret(partner_org).secret
    assert webhooks.verify(secret, sent["headers"]["Verity-Signature"], sent["body"])
    assert not webhooks.verify(secret, sent["headers"]["Verity-Signature"], sent["body"].replace(b"fake", b"real"))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.attempts.get().response_status == 200


def test_a_submission_without_a_callback_url_sends_nothing(api, active_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.post(LIST, {"image": SimpleUploadedFile("a.jpg", make_image_bytes())}, format="multipart")
    assert Submission.objects.get().status == "scored"
    assert not WebhookDelivery.objects.exists()


def test_a_failing_callback_is_retried_and_every_attempt_is_recorded(
    api, active_model, local_server, allow_loopback, settings, django_capture_on_commit_callbacks
):
    settings.VERITY_WEBHOOK_MAX_ATTEMPTS = 3
    local_server.route("/broken", status=500, body=b"boom")
    with django_capture_on_commit_callbacks(execute=True):
        submit_with_callback(api, local_server.url("/broken"))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.attempt_count == 3
    assert [(a.number, a.response_status, a.response_body) for a in delivery.attempts.all()] == [
        (1, 500, "boom"), (2, 500, "boom"), (3, 500, "boom")
    ]
    assert len(local_server.requests) == 3
    assert [r["headers"]["Verity-Attempt"] for r in local_server.requests] == ["1", "2", "3"]


def test_a_callback_that_recovers_is_delivered_on_a_later_attempt(partner, partner_org, active_model, local_server, allow_loopback):
    submission = _submission(partner, local_server.url("/flaky"))
    local_server.route("/flaky", status=503)
    delivery = webhooks.schedule(submission, WebhookDelivery.Event.SCORED)
    assert webhooks.attempt_delivery(delivery.pk) == webhooks.RETRY
    delivery.refresh_from_db()
    assert delivery.next_attempt_at > timezone.now()
    local_server.route("/flaky", status=204)
    assert webhooks.attempt_delivery(delivery.pk) == "delivered"
    assert [a.response_status for a in delivery.attempts.all()] == [503, 204]


def test_the_wait_between_attempts_doubles(settings):
    settings.VERITY_WEBHOOK_BACKOFF_SECONDS = 30
    assert [webhooks.backoff_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_the_task_schedules_its_retry_with_the_backoff(partner, active_model, settings, monkeypatch):
    settings.VERITY_WEBHOOK_BACKOFF_SECONDS = 10
    delivery = webhooks.schedule(_submission(partner, "http://10.0.0.1/hook"), WebhookDelivery.Event.SCORED)
    countdowns = []

    def fake_retry(**kwargs):
        countdowns.append(kwargs["countdown"])
        return RuntimeError("retry")

    monkeypatch.setattr(webhooks.deliver_webhook, "retry", fake_retry)
    with pytest.raises(RuntimeError):
        webhooks.deliver_webhook.run(str(delivery.pk))
    with pytest.raises(RuntimeError):
        webhooks.deliver_webhook.run(str(delivery.pk))
    assert countdowns == [10, 20]
    # The private callback address was refused by the guard, and that is what the attempts say.
    assert all("url_not_allowed" in a.error for a in delivery.attempts.all())


def test_a_moderators_decision_sends_a_verdict_changed_event(partner, active_model, hook):
    submission = _submission(partner, hook.url("/hook"))
    Submission.objects.filter(pk=submission.pk).update(decision="manipulated")
    verdict_changed.send(sender=None, submission=submission)
    delivery = WebhookDelivery.objects.get(event="submission.verdict_changed")
    webhooks.attempt_delivery(delivery.pk)
    event = json.loads(hook.requests[-1]["body"])
    assert event["type"] == "submission.verdict_changed"
    assert event["data"]["final_verdict"] == {"verdict": "manipulated", "source": "moderator"}


def test_an_admin_resends_a_delivery_as_the_same_event(client, admin_user, partner, active_model, hook, django_capture_on_commit_callbacks):
    delivery = webhooks.schedule(_submission(partner, hook.url("/hook")), WebhookDelivery.Event.SCORED)
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:detection_webhookdelivery_changelist"),
            {"action": "resend_deliveries", "_selected_action": [delivery.pk]},
        )
    copy = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert copy.payload["id"] == delivery.payload["id"] and copy.status == "delivered"
    assert json.loads(hook.requests[-1]["body"])["id"] == delivery.payload["id"]


def test_the_admin_shows_a_delivery_with_its_attempts(client, admin_user, partner, active_model, hook):
    delivery = webhooks.schedule(_submission(partner, hook.url("/hook")), WebhookDelivery.Event.SCORED)
    webhooks.attempt_delivery(delivery.pk)
    client.force_login(admin_user)
    page = client.get(reverse("admin:detection_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and "attempt" in page.content.decode().lower()


def test_a_delivery_is_attempted_once_even_if_two_workers_run_it(partner, active_model, hook):
    delivery = webhooks.schedule(_submission(partner, hook.url("/hook")), WebhookDelivery.Event.SCORED)
    assert webhooks.attempt_delivery(delivery.pk) == "delivered"
    assert webhooks.attempt_delivery(delivery.pk) is None
    assert len(hook.requests) == 1


def _submission(partner, callback_url):
    from detection import services

    submission = services.submit(data=make_image_bytes(), name="a.jpg", uploader=partner, source="api", enqueue=False)
    Submission.objects.filter(pk=submission.pk).update(callback_url=callback_url)
    submission.refresh_from_db()
    return submission
