"""Uploads kept in an S3 bucket (moto's server): stored under their hash, once, and read back to score and explain."""
import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.api_keys import create_api_key
from detection import services, storage
from detection.forensics import run
from detection.models import Evidence, Submission
from tests.conftest import make_image_bytes

RED = (220, 20, 20)


def key_for(data, extension=".jpg"):
    sha = hashlib.sha256(data).hexdigest()
    return f"uploads/{sha[:2]}/{sha}{extension}"


def test_the_settings_build_an_s3_storage_that_retries_from_the_aws_variables(s3):
    from django.core.files.storage import default_storage

    assert default_storage.bucket_name == s3.name and default_storage.endpoint_url == s3.store.endpoint
    assert default_storage.client_config.retries == {"mode": "standard", "total_max_attempts": 3}


def test_an_upload_is_stored_in_the_bucket_under_its_hash(s3, journalist, settings):
    data = make_image_bytes("JPEG", color=RED)
    submission = services.submit(data=data, name="red.jpg", uploader=journalist, enqueue=False)

    assert submission.file == key_for(data)
    assert s3.keys() == [key_for(data)] and s3.get(key_for(data)) == data
    assert not (settings.MEDIA_ROOT / key_for(data)).exists()  # not on local disk


def test_a_portal_upload_lands_in_the_bucket(s3, client, journalist):
    data = make_image_bytes("PNG", color=(20, 200, 20))
    client.force_login(journalist)
    response = client.post(reverse("detection:upload"), {"images": [SimpleUploadedFile("g.png", data, "image/png")]})

    assert "Queued for scoring (1)" in response.content.decode()
    assert Submission.objects.get().file == key_for(data, ".png")
    assert s3.get(key_for(data, ".png")) == data


def test_an_api_upload_lands_in_the_bucket(s3, partner):
    _, raw_key = create_api_key(organisation=partner.organisation, name="s3", scopes=["submit", "read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    data = make_image_bytes("JPEG", color=(20, 20, 200))

    response = api.post(reverse("api:submission-list"), {"image": SimpleUploadedFile("b.jpg", data, "image/jpeg")}, format="multipart")

    assert response.status_code == 201, response.json()
    assert Submission.objects.get(pk=response.json()["id"]).file == key_for(data)
    assert s3.get(key_for(data)) == data


def test_the_same_image_twice_is_one_object_behind_two_submissions(s3, journalist, colleague):
    data = make_image_bytes("JPEG", color=RED)
    first = services.submit(data=data, name="a.jpg", uploader=journalist, enqueue=False)
    second = services.submit(data=data, name="copy.jpg", uploader=colleague, enqueue=False)

    assert first.pk != second.pk and first.file == second.file == key_for(data)
    assert s3.keys("uploads/") == [key_for(data)]


def test_scoring_reads_the_image_from_the_bucket(s3, active_model, journalist, settings):
    red = services.submit(data=make_image_bytes("JPEG", color=RED), name="r.jpg", uploader=journalist, enqueue=False)
    green = services.submit(data=make_image_bytes("JPEG", color=(20, 220, 20)), name="g.jpg", uploader=journalist, enqueue=False)
    assert not (settings.MEDIA_ROOT / "uploads").exists()

    results = services.score_many([red.pk, green.pk])

    assert results[str(red.pk)].label == "fake" and results[str(green.pk)].label == "real"
    red.refresh_from_db()
    assert red.status == Submission.Status.SCORED


def test_evidence_is_computed_from_the_bucket_and_its_images_kept_there(s3, active_model, journalist):
    submission = services.submit(data=make_image_bytes("JPEG", size=(120, 90), color=RED), name="r.jpg", uploader=journalist, enqueue=False)
    services.score(submission.pk)

    evidence = run.compute(submission.pk)

    assert evidence.status == Evidence.Status.DONE
    assert {evidence.metadata["status"], evidence.error_levels["status"]} == {"ok"}
    assert evidence.ela_image and evidence.ela_image in s3.keys("evidence/")


def test_an_object_deleted_from_the_bucket_is_missing_not_unavailable(s3, journalist):
    submission = services.submit(data=make_image_bytes(), name="x.jpg", uploader=journalist, enqueue=False)
    s3.store.client().delete_object(Bucket=s3.name, Key=submission.file)

    # Gone for good: scoring fails it with the reason, instead of waiting for a store that is up.
    with pytest.raises(FileNotFoundError):
        storage.read(submission.file)
