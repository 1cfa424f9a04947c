"""/ops/ tells staff, in plain words, what waits, what is stuck, which workers serve what, what failed."""
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from detection.models import WebhookDelivery
from ops import status, worker
from tests.ops.conftest import make_submission

PAGE = reverse("ops:status")
JSON = reverse("ops:status-json")


@pytest.fixture
def staff(admin_user, client):
    client.force_login(admin_user)
    return client


# ------------------------------------------------------------------------------------------------ who may see it


@pytest.mark.parametrize("url", [PAGE, JSON])
def test_it_sends_an_anonymous_visitor_to_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", ["journalist", "moderator", "partner"])
@pytest.mark.parametrize("url", [PAGE, JSON])
def test_it_refuses_people_who_are_not_staff(client, request, role, url):
    client.force_login(request.getfixturevalue(role))
    assert client.get(url).status_code == 403


def test_staff_see_it_and_the_nav_links_to_it(staff, journalist, client):
    response = staff.get(PAGE)
    assert response.status_code == 200
    assert f'<a href="{PAGE}">Operations</a>' in response.content.decode()
    client.force_login(journalist)
    assert f'href="{PAGE}"' not in client.get(reverse("detection:submission-list")).content.decode()


# ------------------------------------------------------------------------------------------------ queues


def test_queue_depths_are_counted_on_the_real_broker(staff, broker_queues, monkeypatch, settings):
    scoring, evidence, idle = (broker_queues.prefix + name for name in ("inference", "default", "training"))
    monkeypatch.setattr(status, "QUEUES", {scoring: "scoring", evidence: "evidence", idle: "training"})
    broker_queues(scoring, 3)
    broker_queues(evidence, 1)

    response = staff.get(PAGE)
    page = response.content.decode()
    assert [(name, depth) for name, _, depth in response.context["queues"]] == [(scoring, 3), (evidence, 1), (idle, 0)]
    assert "3 tasks" in page and "1 task<" in page and "0 tasks" in page
    source = "Redis" if settings.CELERY_BROKER_URL.startswith("redis") else "the SQLite broker file"
    assert f"Read from {source}." in page

    waiting = staff.get(JSON).json()["queues"]
    assert waiting["messages_waiting"] == {scoring: 3, evidence: 1, idle: 0}
    assert waiting["read_from"] == source and waiting["error"] is None


def test_a_broker_it_cannot_count_shows_unknown_depths(staff, settings):
    settings.CELERY_BROKER_URL = "memory://"
    page = staff.get(PAGE).content.decode()
    assert "Queue lengths are unknown" in page and ">unknown</td>" in page
    assert staff.get(JSON).json()["queues"]["messages_waiting"] == {"inference": None, "prepare": None, "default": None, "sweep": None, "training": None}


def test_an_unreachable_broker_is_said_not_hidden(staff, settings):
    settings.CELERY_BROKER_URL = "redis://:hunter2@127.0.0.1:1/0"
    response = staff.get(PAGE)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Queue lengths are unknown: the broker could not be reached" in page
    assert "hunter2" not in page


# ------------------------------------------------------------------------------------------------ uploads


def test_it_counts_uploads_per_status_and_the_oldest_waiting(staff):
    make_submission("queued", age_seconds=200)
    make_submission("queued", age_seconds=5)
    make_submission("scored", age_seconds=500)
    make_submission("failed", age_seconds=500)

    response = staff.get(PAGE)
    assert response.context["counts"] == {"queued": 2, "processing": 0, "scored": 1, "failed": 1}
    page = response.content.decode()
    assert "The oldest upload still queued arrived <strong>3 min 2" in page  # 200 s, give or take the test's own time
    body = staff.get(JSON).json()["submissions"]
    assert body["by_status"] == {"queued": 2, "processing": 0, "scored": 1, "failed": 1}
    assert 200 <= body["oldest_queued_age_seconds"] < 260


def test_no_waiting_upload_is_said_in_words(staff):
    assert "No upload is waiting to be scored." in staff.get(PAGE).content.decode()
    assert staff.get(JSON).json()["submissions"]["oldest_queued_age_seconds"] is None


def test_uploads_unfinished_past_the_stuck_setting_are_listed_oldest_first(staff, settings):
    settings.VERITY_STUCK_AFTER_SECONDS = 120
    waiting = make_submission("queued", age_seconds=300, name="waiting.jpg")
    hung = make_submission("processing", age_seconds=900, name="hung.jpg")
    make_submission("queued", age_seconds=30, name="fresh.jpg")
    make_submission("scored", age_seconds=3000, name="done.jpg")

    response = staff.get(PAGE)
    assert [item.submission for item in response.context["stuck"]] == [hung, waiting]
    page = response.content.decode()
    assert "more than 2 min after they arrived" in page
    assert "hung.jpg" in page and "15 min" in page and "fresh.jpg" not in page and "done.jpg" not in page
    assert reverse("admin:detection_submission_change", args=[hung.pk]) in page
    stuck = staff.get(JSON).json()["submissions"]
    assert stuck["stuck_count"] == 2 and [s["id"] for s in stuck["stuck"]] == [str(hung.pk), str(waiting.pk)]


def test_the_stuck_threshold_defaults_to_two_minutes_without_the_setting(staff, settings):
    del settings.VERITY_STUCK_AFTER_SECONDS
    make_submission("queued", age_seconds=100)
    make_submission("queued", age_seconds=130)
    assert staff.get(JSON).json()["submissions"]["stuck_count"] == 1


# ------------------------------------------------------------------------------------------------ workers


def test_it_shows_live_workers_with_what_they_serve_and_quiet_ones_apart(staff, monkeypatch):
    now = timezone.now()
    gpu = worker.WorkerIdentity(hostname="gpu@box-1", pid=41, queues=["inference"])
    monkeypatch.setattr(worker, "_identity", gpu)
    worker.write_start(gpu, now - timezone.timedelta(minutes=10))
    worker.record_batch("effnet-v3", "onnx-int8", run_size=4)
    worker.record_batch("effnet-v3", "onnx-int8", run_size=4)
    old = worker.WorkerIdentity(hostname="cpu@box-2", pid=7, queues=["inference", "default"])
    worker.write_start(old, now - timezone.timedelta(minutes=5))

    response = staff.get(PAGE)
    assert [w.hostname for w in response.context["live_workers"]] == ["gpu@box-1"]
    assert [w.hostname for w in response.context["quiet_workers"]] == ["cpu@box-2"]
    page = response.content.decode()
    assert "effnet-v3" in page and "onnx-int8" in page and "pid 41" in page
    row = page[page.index('data-worker="gpu@box-1"'):]
    assert re.search(r'onnx-int8</td>\s*<td class="num">4</td>\s*<td class="num">2</td>', row)  # 4 a run, 2 batches
    assert "cpu@box-2: last report 5 min" in page
    live = staff.get(JSON).json()["workers"]["live"]
    assert live[0]["hostname"] == "gpu@box-1" and live[0]["batches"] == 2
    assert live[0]["model_version"] == "effnet-v3" and live[0]["runtime"] == "onnx-int8"


def test_no_live_worker_is_a_warning(staff):
    assert "No worker has reported in the last 1 min" in staff.get(PAGE).content.decode()


# ------------------------------------------------------------------------------------------------ webhooks


def test_failed_webhooks_are_listed_latest_first_with_a_link_to_the_admin(staff, partner):
    submission = make_submission("scored", organisation=partner.organisation)

    def delivery(state, url):
        return WebhookDelivery.objects.create(
            submission=submission, organisation=partner.organisation, event="submission.scored", url=url,
            payload={}, status=state, attempt_count=8,
        )  # fmt: skip

    first = delivery("failed", "https://chirper.test/hook-1")
    latest = delivery("failed", "https://chirper.test/hook-2")
    delivery("delivered", "https://chirper.test/fine")

    response = staff.get(PAGE)
    assert response.context["failed_webhooks"] == [latest, first]
    page = response.content.decode()
    assert reverse("admin:detection_webhookdelivery_change", args=[latest.pk]) in page
    assert "hook-1" in page and "/fine" not in page and "Chirper" in page
    webhooks = staff.get(JSON).json()["webhooks"]
    assert webhooks["failed_count"] == 2 and [d["id"] for d in webhooks["failed"]] == [str(latest.pk), str(first.pk)]
    # The link works for the staff member who follows it.
    assert staff.get(webhooks["failed"][0]["admin_url"]).status_code == 200
