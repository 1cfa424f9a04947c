"""GET /api/v1/submissions/{id}/ and the list: what a result says, filters, pagination, and who sees what."""
import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from detection import services
from detection.models import Submission
from tests.conftest import make_image_bytes

LIST = reverse("api:submission-list")


def detail(submission):
    return reverse("api:submission-detail", args=[submission.pk])


@pytest.fixture
def scored(partner, partner_org, active_model):
    """A red image (fake) from the partner's organisation, scored."""
    submission = services.submit(data=make_image_bytes(color=(230, 10, 10)), name="red.jpg", uploader=partner, source="api", enqueue=False)
    services.score(submission.pk)
    submission.refresh_from_db()
    return submission


@pytest.fixture
def queued(partner, active_model):
    return services.submit(data=make_image_bytes(color=(10, 200, 10)), name="green.jpg", uploader=partner, source="api", enqueue=False)


def test_a_result_carries_the_detectors_probability_label_and_model_version(api, scored):
    body = api.get(detail(scored)).json()
    assert body["id"] == str(scored.pk)
    assert body["status"] == "scored"
    assert body["detection"]["label"] == "fake"
    assert body["detection"]["probability"] > 0.9
    assert body["detection"]["uncertain"] is False
    assert body["detection"]["model_version"] == "tiny-test"
    assert body["final_verdict"] == {"verdict": "fake", "source": "detector"}
    assert body["scored_at"] and body["created_at"] and body["forensics"] is None


def test_a_moderators_decision_is_the_final_verdict(api, scored, moderator):
    Submission.objects.filter(pk=scored.pk).update(decision="authentic", decided_by=moderator, decided_at=timezone.now())
    body = api.get(detail(scored)).json()
    assert body["final_verdict"] == {"verdict": "authentic", "source": "moderator"}
    assert body["detection"]["label"] == "fake"


def test_a_queued_submission_has_no_detection_yet(api, queued):
    body = api.get(detail(queued)).json()
    assert body["status"] == "queued"
    assert body["detection"] is None
    assert body["final_verdict"] == {"verdict": None, "source": None}


def test_another_organisations_submission_is_not_found(rival_api, scored):
    response = rival_api.get(detail(scored))
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_the_list_shows_only_the_organisations_own_submissions(api, rival_api, scored):
    assert [s["id"] for s in api.get(LIST).json()["results"]] == [str(scored.pk)]
    assert rival_api.get(LIST).json()["results"] == []


def test_the_list_filters_by_status(api, scored, queued):
    assert [s["id"] for s in api.get(LIST, {"status": "queued"}).json()["results"]] == [str(queued.pk)]
    assert [s["id"] for s in api.get(LIST, {"status": "scored"}).json()["results"]] == [str(scored.pk)]


def test_the_list_filters_by_final_verdict(api, scored, queued, moderator):
    assert [s["id"] for s in api.get(LIST, {"verdict": "fake"}).json()["results"]] == [str(scored.pk)]
    Submission.objects.filter(pk=scored.pk).update(decision="ai_generated", decided_by=moderator)
    assert api.get(LIST, {"verdict": "fake"}).json()["results"] == []
    assert [s["id"] for s in api.get(LIST, {"verdict": "ai_generated"}).json()["results"]] == [str(scored.pk)]


def test_the_list_filters_by_dates(api, scored, queued):
    last_week = timezone.now() - datetime.timedelta(days=7)
    Submission.objects.filter(pk=scored.pk).update(created_at=last_week)
    since = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    assert [s["id"] for s in api.get(LIST, {"created_after": since}).json()["results"]] == [str(queued.pk)]
    assert [s["id"] for s in api.get(LIST, {"created_before": since}).json()["results"]] == [str(scored.pk)]


def test_a_bad_filter_value_is_a_validation_error(api):
    response = api.get(LIST, {"status": "finished"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "status"
    assert response.json()["errors"][0]["code"] == "invalid_choice"


def test_the_list_is_paginated_with_a_cursor(api, scored, queued):
    first = api.get(LIST, {"page_size": 1}).json()
    assert [s["id"] for s in first["results"]] == [str(queued.pk)]  # newest first
    second = api.get(first["next"]).json()
    assert [s["id"] for s in second["results"]] == [str(scored.pk)]
    assert second["next"] is None


def test_a_result_carries_the_forensic_signals_once_they_are_computed(api, scored):
    from detection import models

    models.Evidence.objects.create(
        submission=scored, status="done", metadata={"status": "ok", "findings": ["no camera data"]}, computed_at=timezone.now()
    )
    forensics = api.get(detail(scored)).json()["forensics"]
    assert forensics["status"] == "done"
    assert forensics["signals"]["metadata"]["findings"] == ["no camera data"]


def test_a_partner_opens_the_forensic_images_with_its_key_and_a_rival_cannot(api, rival_api, scored):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from detection import models
    from tests.conftest import make_image_bytes

    png = make_image_bytes("PNG", size=(8, 8))
    name = default_storage.save(f"evidence/{scored.pk}/heatmap.png", ContentFile(png))
    models.Evidence.objects.create(submission=scored, status="done", heatmap_image=name, computed_at=timezone.now())

    url = api.get(detail(scored)).json()["forensics"]["signals"]["heatmap"]["image_url"]
    assert url.startswith("http://testserver/api/v1/submissions/") and f"{scored.pk}/evidence/heatmap.png" in url
    response = api.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == png
    assert rival_api.get(url).status_code == 404
    assert api.get(url.replace("heatmap.png", "noise.png")).status_code == 404
