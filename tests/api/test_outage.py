"""A database outage answers 503 with Retry-After (JSON in the API, a plain page in the portal), never a 500."""
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client
from rest_framework.test import APIClient


DOWN = OperationalError("connection to server at 127.0.0.1 failed: the database system is shutting down")


def test_an_api_request_during_a_database_outage_gets_503_with_retry_after(api):
    api.raise_request_exception = False  # the handler reports the 503 like a 500 (logs, error monitoring)
    with mock.patch("detection.api.views.SubmissionListCreateView.get_queryset", side_effect=DOWN):
        response = api.get("/api/v1/submissions/")
    assert response.status_code == 503 and response["Retry-After"] == "10"
    body = response.json()
    assert body["type"] == "server_error" and body["errors"][0]["code"] == "service_unavailable"
    assert "shutting down" not in response.content.decode()  # no internals


def test_an_api_request_that_fails_before_its_view_during_an_outage_gets_503_json(db):
    client = APIClient(raise_request_exception=False)
    with mock.patch("django.contrib.sessions.middleware.SessionMiddleware.process_request", side_effect=DOWN):
        response = client.get("/api/v1/submissions/")
    assert response.status_code == 503 and response["Retry-After"] == "10"
    assert response.json()["errors"][0]["code"] == "service_unavailable"


def test_a_portal_page_during_a_database_outage_is_the_plain_503_page(journalist):
    client = Client(raise_request_exception=False)
    client.force_login(journalist)
    with mock.patch("detection.services.visible_submissions", side_effect=DOWN):
        response = client.get("/submissions/")
    assert response.status_code == 503 and response["Retry-After"] == "10"
    page = response.content.decode()
    assert "Verity is briefly unavailable" in page and "Nothing you uploaded is lost" in page
    assert "shutting down" not in page and "Traceback" not in page


@pytest.mark.parametrize("path", ["/submissions/", "/api/v1/submissions/"])
def test_any_other_unhandled_error_is_still_a_500(journalist, api, path):
    client = Client(raise_request_exception=False)
    client.force_login(journalist)
    api.raise_request_exception = False
    with mock.patch("detection.services.visible_submissions", side_effect=ValueError("a defect")), mock.patch(
        "detection.api.views.SubmissionListCreateView.get_queryset", side_effect=ValueError("a defect")
    ):
        response = (client if path.startswith("/submissions") else api).get(path)
    assert response.status_code == 500 and "Retry-After" not in response


def test_an_image_the_file_store_cannot_serve_right_now_is_a_503(journalist, active_model):
    from detection import services
    from detection.storage import StorageUnavailable
    from tests.conftest import make_image_bytes

    submission = services.submit(data=make_image_bytes(), name="a.jpg", uploader=journalist, enqueue=False)
    client = Client(raise_request_exception=False)
    client.force_login(journalist)
    with mock.patch("django.core.files.storage.FileSystemStorage.open", side_effect=StorageUnavailable("S3 refused")):
        response = client.get(f"/submissions/{submission.pk}/image/")
    assert response.status_code == 503 and response["Retry-After"] == "10"
