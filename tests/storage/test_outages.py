"""The bucket refusing or out of reach: uploaders are told plainly and nothing is half-stored; reads are retried,
then raise StorageUnavailable so that scoring can wait instead of failing the submission."""
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api_keys import create_api_key
from audit.models import AuditEvent
from detection import services, storage
from detection.forensics import run
from detection.models import Evidence, Submission
from tests.conftest import make_image_bytes

from .conftest import MAX_ATTEMPTS

LIST = reverse("api:submission-list")
BATCH = reverse("api:submission-batch")


def image(name="photo.jpg", color=(200, 30, 30)):
    return SimpleUploadedFile(name, make_image_bytes("JPEG", color=color), content_type="image/jpeg")


@pytest.fixture
def api(partner):
    _, raw_key = create_api_key(organisation=partner.organisation, name="s3", scopes=["submit", "read"])
    client = APIClient(raise_request_exception=False)  # answer a 5xx as production does, not re-raise it
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def assert_nothing_kept(refusing_store):
    assert not Submission.objects.exists()
    assert not AuditEvent.objects.filter(action="submission.uploaded").exists()
    assert refusing_store.stored_keys() == []


def requests_sent(operation):
    """Count the HTTP requests (first tries and retries) the default storage's client sends for `operation`."""
    sent = []
    default_storage.connection.meta.client.meta.events.register(f"before-send.s3.{operation}", lambda **kw: sent.append(1))
    return sent


# ------------------------------------------------------------------------------------------------ uploads


def test_submit_raises_storage_unavailable_and_keeps_nothing(refusing_store, journalist):
    with pytest.raises(storage.StorageUnavailable, match="could not store uploads/") as refused:
        services.submit(data=make_image_bytes(), name="x.jpg", uploader=journalist)

    assert refusing_store.error in str(refused.value)

    assert_nothing_kept(refusing_store)


def test_the_portal_says_so_and_keeps_the_uploader_on_the_page(refusing_store, client, journalist):
    client.force_login(journalist)
    response = client.post(reverse("detection:upload"), {"images": [image("one.jpg"), image("two.jpg", (0, 90, 0))]})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Images cannot be stored right now" in html and 'class="messages"' in html
    assert "<strong>one.jpg</strong>: not uploaded" in html and "<strong>two.jpg</strong>: not uploaded" in html
    assert 'enctype="multipart/form-data"' in html  # the upload form, to try again
    assert "Traceback" not in html and "botocore" not in html
    assert_nothing_kept(refusing_store)


def test_the_api_answers_503_with_retry_after_and_the_usual_error_body(refusing_store, api):
    response = api.post(LIST, {"image": image()}, format="multipart")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    body = response.json()
    assert body == {
        "type": "server_error",
        "errors": [{"code": "storage_unavailable", "detail": body["errors"][0]["detail"], "attr": None}],
    }
    assert "nothing was stored" in body["errors"][0]["detail"] and "botocore" not in body["errors"][0]["detail"]
    assert_nothing_kept(refusing_store)


def test_a_batch_none_of_which_could_be_stored_is_a_503(refusing_store, api):
    response = api.post(BATCH, {"images": [image("a.jpg"), image("b.jpg", (0, 90, 0))]}, format="multipart")

    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["errors"][0]["code"] == "storage_unavailable"
    assert_nothing_kept(refusing_store)


def test_a_batch_stored_in_part_lists_the_rest_as_not_stored(object_store, s3, api):
    # The store goes away just after taking the first image.
    default_storage.connection.meta.client.meta.events.register("after-call.s3.PutObject", lambda **kw: object_store.stop())
    images = [image("a.jpg"), image("b.jpg", (0, 90, 0)), image("c.jpg", (0, 0, 90))]

    response = api.post(BATCH, {"images": images}, format="multipart")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert [s["original_name"] for s in body["accepted"]] == ["a.jpg"]
    assert [(r["index"], r["name"], r["code"]) for r in body["rejected"]] == [
        (1, "b.jpg", "storage_unavailable"),
        (2, "c.jpg", "storage_unavailable"),
    ]
    assert Submission.objects.count() == 1


def test_the_same_idempotency_key_works_once_the_store_is_back(object_store, s3, api):
    object_store.stop()
    headers = {"HTTP_IDEMPOTENCY_KEY": "retry-me"}
    assert api.post(LIST, {"image": image()}, format="multipart", **headers).status_code == 503

    object_store.start()
    response = api.post(LIST, {"image": image()}, format="multipart", **headers)

    assert response.status_code == 201, response.json()
    assert Submission.objects.count() == 1 and len(s3.keys("uploads/")) == 1


# ------------------------------------------------------------------------------------------------ reads


@pytest.fixture
def stored(s3, journalist):
    """A submission whose image is in the bucket."""
    return services.submit(data=make_image_bytes(color=(230, 10, 10)), name="r.jpg", uploader=journalist, enqueue=False)


def test_a_read_is_retried_with_backoff_and_succeeds_when_the_store_comes_back(object_store, stored):
    refused = []

    def restart_after_the_first_refusal(**kwargs):
        if not object_store.running:
            if refused:  # the first try was refused: the store is back in time for the retry
                object_store.start()
            else:
                refused.append(kwargs["request"].url)

    default_storage.connection.meta.client.meta.events.register("before-send.s3", restart_after_the_first_refusal)
    object_store.stop()

    assert storage.read(stored.file) == make_image_bytes(color=(230, 10, 10))
    assert len(refused) == 1


def test_a_read_while_the_store_is_down_raises_storage_unavailable_after_its_retries(object_store, stored):
    tries = requests_sent("HeadObject")
    object_store.stop()

    with pytest.raises(storage.StorageUnavailable, match="could not read"):
        storage.read(stored.file)
    assert len(tries) == MAX_ATTEMPTS


def test_evidence_waits_while_the_store_is_down(object_store, stored, active_model):
    services.score(stored.pk)
    object_store.stop()

    with pytest.raises(storage.StorageUnavailable):
        run.compute(stored.pk)

    # Not "done with an error": still pending, for the task's retry or the sweeper once the store is back.
    assert Evidence.objects.get(submission=stored).status == Evidence.Status.PENDING
    object_store.start()
    assert run.compute(stored.pk).error_levels["status"] == "ok"


def test_scoring_while_the_store_is_down_leaves_the_submission_for_later(object_store, stored, active_model):
    object_store.stop()

    # The scoring task hands the batch back to the broker on this exception (detection/tasks.py).
    with pytest.raises(storage.StorageUnavailable):
        services.score_many([stored.pk])

    stored.refresh_from_db()
    assert stored.status != Submission.Status.FAILED
    assert not AuditEvent.objects.filter(action="submission.failed").exists()
    object_store.start()
    assert services.score(stored.pk).label == "fake"
