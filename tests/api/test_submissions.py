"""POST /api/v1/submissions/ (a file or a URL) and /api/v1/submissions/batch/."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detection.models import Submission
from tests.conftest import make_image_bytes

LIST = reverse("api:submission-list")
BATCH = reverse("api:submission-batch")


def upload(name="photo.jpg", color=(200, 30, 30), fmt="JPEG"):
    return SimpleUploadedFile(name, make_image_bytes(fmt, color=color), content_type="image/jpeg")


def test_an_uploaded_image_is_accepted_with_its_id_and_a_status_url(api, partner, active_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(LIST, {"image": upload()}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    submission = Submission.objects.get(pk=body["id"])
    assert body["status_url"] == f"http://testserver/api/v1/submissions/{submission.pk}/"
    assert response["Location"] == body["status_url"]
    assert submission.organisation == partner.organisation and submission.source == "api"


def test_an_upload_stores_its_callback_with_the_row_and_answers_without_reading_results_it_cannot_have_yet(
    api, partner_key, active_model, allow_loopback
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:  # scoring is sent on commit, which this test never reaches
        response = api.post(LIST, {"image": upload(), "callback_url": "http://127.0.0.1:9/hook"}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["final_verdict"] == {"verdict": None, "source": None}
    sql = [q["sql"] for q in queries.captured_queries]
    # The callback and the key go in with the INSERT (no UPDATE of the new row), and a new upload has no
    # detection or evidence to read for its response.
    assert not [s for s in sql if s.startswith('UPDATE "detection_submission"')]
    assert not [s for s in sql if '"detection_detection"' in s or '"detection_evidence"' in s]
    submission = Submission.objects.get(pk=body["id"])
    assert submission.callback_url == "http://127.0.0.1:9/hook" and submission.api_key == partner_key[0]


def test_an_upload_and_the_use_of_its_key_go_into_the_audit_chain_in_one_append(api, partner_key, active_model):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import audit
    from audit.models import AuditEvent

    before = AuditEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        response = api.post(LIST, {"image": upload()}, format="multipart")
    assert response.status_code == 201
    # One read of the chain's last hash (after its lock) for both events: the upload's and the key's use.
    reads = [q["sql"] for q in queries.captured_queries if '"audit_auditevent"."hash"' in q["sql"]]
    assert len(reads) == 1
    events = list(AuditEvent.objects.order_by("id").values_list("action", "target_id")[before:])
    assert events == [("submission.uploaded", response.json()["id"]), ("api_key.used", str(partner_key[0].pk))]
    assert AuditEvent.objects.get(action="api_key.used").data["status"] == 201
    assert audit.services.verify() is None


def test_a_refused_upload_keeps_its_rejection_and_the_use_of_its_key_in_the_audit_trail(api, active_model):
    from audit.models import AuditEvent

    before = AuditEvent.objects.count()
    response = api.post(LIST, {"image": SimpleUploadedFile("x.jpg", b"not an image")}, format="multipart")
    assert response.status_code == 400
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True)[before:])
    assert actions == ["submission.rejected", "api_key.used"]
    assert AuditEvent.objects.get(action="api_key.used").data["status"] == 400


def test_an_uploaded_image_is_scored_and_its_result_can_be_read(api, active_model, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(LIST, {"image": upload(color=(220, 10, 10))}, format="multipart").json()
    result = api.get(created["status_url"]).json()
    assert result["status"] == "scored"
    assert result["detection"]["label"] == "fake"
    assert result["final_verdict"] == {"verdict": "fake", "source": "detector"}


def test_an_image_fetched_from_a_url_is_accepted(api, active_model, allow_loopback, local_server):
    local_server.route("/pictures/cat", headers={"Content-Type": "image/png"}, body=make_image_bytes("PNG"))
    response = api.post(LIST, {"url": local_server.url("/pictures/cat")}, format="json")
    assert response.status_code == 201, response.json()
    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission.original_name == "cat.png" and submission.content_type == "image/png"


def test_a_file_that_is_not_an_image_is_refused_with_a_machine_readable_code(api, active_model):
    bogus = SimpleUploadedFile("notes.jpg", b"this is text, not a JPEG", content_type="image/jpeg")
    response = api.post(LIST, {"image": bogus}, format="multipart")
    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "errors": [{"code": "invalid_image", "detail": response.json()["errors"][0]["detail"], "attr": "image"}],
    }
    assert "not an image" in response.json()["errors"][0]["detail"]
    assert not Submission.objects.exists()


@pytest.mark.parametrize("with_image, with_url", [(False, False), (True, True)])
def test_a_request_must_carry_exactly_one_of_image_or_url(api, with_image, with_url):
    data = {}
    if with_image:
        data["image"] = upload()
    if with_url:
        data["url"] = "https://example.test/a.jpg"
    response = api.post(LIST, data, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "image_or_url_required"


def test_a_batch_accepts_the_good_images_and_lists_the_bad_ones(api, active_model):
    bogus = SimpleUploadedFile("broken.png", b"\x89PNG nope", content_type="image/png")
    response = api.post(BATCH, {"images": [upload("a.jpg"), bogus, upload("b.jpg", color=(0, 200, 0))]}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [s["original_name"] for s in body["accepted"]] == ["a.jpg", "b.jpg"]
    assert body["rejected"] == [{"index": 1, "name": "broken.png", "code": "invalid_image", "detail": body["rejected"][0]["detail"]}]
    assert Submission.objects.count() == 2


def test_a_batch_larger_than_the_limit_is_refused(api, settings, active_model):
    settings.VERITY_API_MAX_BATCH = 2
    response = api.post(BATCH, {"images": [upload("a.jpg"), upload("b.jpg"), upload("c.jpg")]}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "batch_too_large"
    assert not Submission.objects.exists()


def test_a_batch_where_every_image_is_bad_is_refused(api, active_model):
    bogus = SimpleUploadedFile("broken.png", b"nope", content_type="image/png")
    response = api.post(BATCH, {"images": [bogus]}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {"code": "invalid_image", "attr": "images", "detail": response.json()["errors"][0]["detail"]}


def test_the_callback_url_is_stored_with_the_submission(api, active_model, allow_loopback):
    response = api.post(LIST, {"image": upload(), "callback_url": "http://127.0.0.1:9/hook"}, format="multipart")
    assert response.status_code == 201, response.json()
    assert Submission.objects.get(pk=response.json()["id"]).callback_url == "http://127.0.0.1:9/hook"
