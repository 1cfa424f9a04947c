"""Idempotency-Key: a retried request returns the first response instead of making a second submission."""
import datetime

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from detection.models import IdempotencyRecord, Submission
from tests.conftest import make_image_bytes

LIST = reverse("api:submission-list")
BATCH = reverse("api:submission-batch")


def post_image(client, key, color=(200, 30, 30)):
    image = SimpleUploadedFile("photo.jpg", make_image_bytes(color=color), content_type="image/jpeg")
    return client.post(LIST, {"image": image}, format="multipart", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retried_request_with_the_same_key_creates_one_submission(api, active_model):
    first = post_image(api, "retry-1")
    second = post_image(api, "retry-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Submission.objects.count() == 1


def test_requests_with_different_keys_create_two_submissions(api, active_model):
    post_image(api, "one")
    post_image(api, "two")
    assert Submission.objects.count() == 2


def test_a_request_without_a_key_is_not_deduplicated(api, active_model):
    for _ in range(2):
        api.post(LIST, {"image": SimpleUploadedFile("a.jpg", make_image_bytes())}, format="multipart")
    assert Submission.objects.count() == 2


def test_the_same_key_with_a_different_request_is_a_conflict(api, active_model):
    post_image(api, "reused")
    response = post_image(api, "reused", color=(0, 0, 200))
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert Submission.objects.count() == 1


def test_another_organisation_may_use_the_same_key(api, rival_api, active_model):
    post_image(api, "shared-name")
    assert post_image(rival_api, "shared-name").status_code == 201
    assert Submission.objects.count() == 2


def test_a_refused_request_releases_its_key_for_a_corrected_retry(api, active_model):
    bad = api.post(
        LIST, {"image": SimpleUploadedFile("x.jpg", b"not an image")}, format="multipart", HTTP_IDEMPOTENCY_KEY="fix-me"
    )
    assert bad.status_code == 400
    assert post_image(api, "fix-me").status_code == 201


def test_a_retried_batch_creates_its_submissions_once(api, active_model):
    def batch():
        images = [SimpleUploadedFile(f"{n}.jpg", make_image_bytes(color=(n * 40, 0, 0))) for n in range(3)]
        return api.post(BATCH, {"images": images}, format="multipart", HTTP_IDEMPOTENCY_KEY="batch-1")

    assert batch().json() == batch().json()
    assert Submission.objects.count() == 3


def test_a_retry_while_the_first_request_is_still_running_is_told_to_wait(api, partner_org, active_model):
    IdempotencyRecord.objects.create(organisation=partner_org, key="slow", fingerprint="first request")
    response = post_image(api, "slow")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "idempotency_request_in_progress"
    assert response["Retry-After"] == "5"
    assert not Submission.objects.exists()


def test_a_first_request_that_never_finished_does_not_block_its_key(api, partner_org, active_model):
    record = IdempotencyRecord.objects.create(organisation=partner_org, key="crashed", fingerprint="first request")
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=3))
    assert post_image(api, "crashed").status_code == 201


def test_a_request_that_fails_while_the_database_is_down_answers_503_and_its_key_frees_itself(api, partner_org, active_model):
    from unittest import mock

    from django.db import OperationalError

    api.raise_request_exception = False
    down = OperationalError("the database system is shutting down")
    with mock.patch("detection.api.views.submit_one", side_effect=down), mock.patch(
        "detection.models.IdempotencyRecord.delete", side_effect=down
    ):
        response = post_image(api, "during-outage")
    assert response.status_code == 503 and response["Retry-After"]  # the outage, not the failed release
    assert post_image(api, "during-outage").status_code == 409  # not released: the database was down
    IdempotencyRecord.objects.filter(key="during-outage").update(created_at=timezone.now() - datetime.timedelta(minutes=3))
    assert post_image(api, "during-outage").status_code == 201


def test_a_process_killed_before_its_response_is_stored_leaves_no_submission_to_duplicate(api, partner_org, active_model):
    """The web process dies after the upload was handled but before its response was kept (gunicorn's
    worker SIGKILLed): the submission goes with it, so the client's retry makes the only one."""
    from unittest import mock

    from audit.models import AuditEvent

    class Killed(BaseException):  # not an Exception: nothing in the request path may handle it
        pass

    save = IdempotencyRecord.save

    def die_when_the_response_is_kept(record, *args, **kwargs):
        if kwargs.get("update_fields"):
            raise Killed()
        return save(record, *args, **kwargs)

    events_before = AuditEvent.objects.count()
    with mock.patch.object(IdempotencyRecord, "save", die_when_the_response_is_kept):
        try:
            post_image(api, "killed")
        except Killed:
            pass
    assert not Submission.objects.exists()
    assert AuditEvent.objects.count() == events_before  # no "uploaded" event for an upload that is not there
    retry = post_image(api, "killed")
    assert retry.status_code == 201
    assert post_image(api, "killed").json() == retry.json()
    assert Submission.objects.count() == 1


def test_a_refused_request_keeps_its_rejection_in_the_audit_trail(api, active_model):
    from audit.models import AuditEvent

    bad = api.post(
        LIST, {"image": SimpleUploadedFile("x.jpg", b"not an image")}, format="multipart", HTTP_IDEMPOTENCY_KEY="refused"
    )
    assert bad.status_code == 400
    assert AuditEvent.objects.filter(action="submission.rejected").count() == 1
    assert not IdempotencyRecord.objects.filter(key="refused").exists()
