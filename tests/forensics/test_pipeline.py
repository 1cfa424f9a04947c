"""The evidence task: runs after scoring, stores every signal, survives a failing or slow signal, runs once."""
import threading

import pytest
from PIL import Image

from detection.forensics import metadata, run, summary
from detection.models import Evidence, Submission
from tests.conftest import make_image_bytes

from .conftest import encode, face_image


def test_scoring_a_submission_computes_its_evidence(active_model, scored):
    submission = scored(make_image_bytes("JPEG", size=(120, 90), color=(220, 20, 20)))

    evidence = Evidence.objects.get(submission=submission)
    assert evidence.status == Evidence.Status.DONE
    assert evidence.detection == submission.latest_detection
    assert {evidence.metadata["status"], evidence.content_credentials["status"], evidence.error_levels["status"]} == {"ok"}


def test_the_tiny_dense_model_says_its_heatmap_is_not_available(active_model, scored):
    submission = scored(make_image_bytes("JPEG", size=(120, 90), color=(220, 20, 20)))

    heatmap = summary(submission)["signals"]["heatmap"]
    assert heatmap["status"] == "not_applicable"
    assert heatmap["message"].startswith("heatmap not available for this model")
    assert heatmap["image_url"] is None


def test_a_fake_result_gets_a_heatmap_image_the_size_of_the_analysed_image(active_conv_model, scored, client, journalist):
    submission = scored(encode(Image.new("RGB", (300, 200), (230, 20, 20))))
    assert submission.latest_detection.label == "fake"

    heatmap = summary(submission)["signals"]["heatmap"]
    assert heatmap["status"] == "ok"
    client.force_login(journalist)
    response = client.get(heatmap["image_url"])
    assert response.status_code == 200
    served = Image.open(__import__("io").BytesIO(b"".join(response.streaming_content)))
    assert served.size == (300, 200) and served.mode == "RGBA"


def test_a_certain_real_result_gets_its_heatmap_only_on_request(active_conv_model, scored, client, journalist, django_capture_on_commit_callbacks):
    submission = scored(encode(Image.new("RGB", (120, 90), (20, 40, 230))))
    detection = submission.latest_detection
    assert detection.label == "real" and not detection.uncertain
    assert summary(submission)["signals"]["heatmap"]["status"] == "skipped"
    client.force_login(journalist)
    assert "Compute the heatmap" in client.get(f"/submissions/{submission.pk}/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/submissions/{submission.pk}/evidence/heatmap/")

    assert response.status_code == 302
    assert summary(submission)["signals"]["heatmap"]["status"] == "ok"


def test_a_failing_signal_is_reported_and_the_others_still_run(active_model, scored, monkeypatch):
    def broken(data):
        raise ValueError("the parser tripped")

    monkeypatch.setattr(metadata, "read", broken)
    submission = scored(make_image_bytes("JPEG", size=(120, 90)))

    signals = summary(submission)["signals"]
    assert signals["metadata"]["status"] == "error"
    assert "the parser tripped" in signals["metadata"]["error"]
    assert signals["error_levels"]["status"] == "ok"
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SCORED


def test_a_signal_that_runs_past_its_budget_is_stopped_and_says_so(active_model, scored, monkeypatch, settings):
    settings.VERITY_FORENSICS_SIGNAL_SECONDS = 0.5

    release, finished = threading.Event(), threading.Event()

    def slow(data):
        release.wait(timeout=60)  # runs until the test lets it go: far past its budget
        finished.set()
        return {}

    monkeypatch.setattr(metadata, "read", slow)
    try:
        submission = scored(make_image_bytes("JPEG", size=(120, 90)))
        # The evidence was stored while the signal was still running: it was not waited for.
        assert not finished.is_set()
    finally:
        release.set()
    result = summary(submission)["signals"]["metadata"]
    assert result["status"] == "timeout"
    assert "longer than 0.5 s" in result["error"]


def test_computing_evidence_twice_does_the_work_once(active_model, scored, monkeypatch):
    submission = scored(make_image_bytes("JPEG", size=(120, 90)))
    first = Evidence.objects.get(submission=submission).computed_at

    monkeypatch.setattr(run, "_compute_signals", lambda *a: pytest.fail("evidence was computed again"))
    run.compute(submission.pk)

    assert Evidence.objects.get(submission=submission).computed_at == first


def test_a_gone_submission_has_no_evidence_to_compute(db):
    assert run.compute("7a1c2b3d-0000-4000-8000-000000000000") is None


def test_the_submission_page_shows_the_evidence(active_model, scored, client, journalist):
    submission = scored(encode(face_image(background=(230, 20, 20)), "JPEG"))  # red: the tiny model says fake
    client.force_login(journalist)

    page = client.get(f"/submissions/{submission.pk}/").content.decode()

    assert 'id="evidence"' in page
    assert "1 face found" in page
    assert "No camera data" in page
    assert "No Content Credentials" in page
    assert "Error levels: the image was saved again as a JPEG" in page
    assert "Heatmap not available for this model" in page


def test_a_stranger_cannot_see_the_evidence_images(active_model, scored, client, stranger):
    submission = scored(make_image_bytes("JPEG", size=(120, 90)))
    client.force_login(stranger)

    assert client.get(f"/submissions/{submission.pk}/evidence/ela.png").status_code == 404


def test_an_unknown_kind_of_evidence_image_is_not_found(active_model, scored, client, journalist):
    submission = scored(make_image_bytes("JPEG", size=(120, 90)))
    client.force_login(journalist)

    assert client.get(f"/submissions/{submission.pk}/evidence/ela.png").status_code == 200
    assert client.get(f"/submissions/{submission.pk}/evidence/file.png").status_code == 404


def test_a_broker_failure_when_sending_the_evidence_task_keeps_the_verdict(active_model, scored, monkeypatch):
    from detection import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.compute_evidence, "delay", broker_down)
    submission = scored(make_image_bytes("JPEG", size=(120, 90)))

    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SCORED
    assert summary(submission) == {"status": "none", "signals": {}}


def test_a_scored_batch_asks_for_its_evidence_in_one_message(active_model, journalist, django_capture_on_commit_callbacks, monkeypatch):
    from detection import services, tasks

    batch = [services.submit(data=make_image_bytes("JPEG", size=(120, 90), color=(40 * i, 20, 20)), name=f"{i}.jpg",
                             uploader=journalist, enqueue=False) for i in range(3)]  # fmt: skip
    batches, each = [], []
    send_batch, send_one = tasks.send_evidence_tasks.delay, tasks.compute_evidence.delay
    monkeypatch.setattr(tasks.send_evidence_tasks, "delay", lambda ids: batches.append(ids) or send_batch(ids))
    monkeypatch.setattr(tasks.compute_evidence, "delay", lambda pk, heatmap=None: each.append(pk) or send_one(pk, heatmap))
    with django_capture_on_commit_callbacks(execute=True):
        services.score_many([s.pk for s in batch])

    assert [sorted(ids) for ids in batches] == [sorted(str(s.pk) for s in batch)]  # one message for the batch ...
    assert sorted(each) == sorted(str(s.pk) for s in batch)  # ... and a task of its own for each submission
    assert Evidence.objects.filter(submission__in=batch, status=Evidence.Status.DONE).count() == 3


def test_a_broker_failure_when_sending_a_batchs_evidence_keeps_the_verdicts(active_model, journalist, django_capture_on_commit_callbacks, monkeypatch):
    from detection import services, tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.send_evidence_tasks, "delay", broker_down)
    batch = [services.submit(data=make_image_bytes("JPEG", size=(120, 90)), name=f"{i}.jpg", uploader=journalist, enqueue=False)
             for i in range(2)]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        services.score_many([s.pk for s in batch])

    assert set(Submission.objects.filter(pk__in=[s.pk for s in batch]).values_list("status", flat=True)) == {Submission.Status.SCORED}
    assert not Evidence.objects.filter(submission__in=batch).exists()  # the sweeper asks again later


def test_a_new_model_version_recomputes_the_model_signals(active_model, scored, conv_model_path):
    from detection import services
    from training import registry

    submission = scored(encode(Image.new("RGB", (120, 90), (230, 20, 20))))
    assert summary(submission)["signals"]["heatmap"]["status"] == "not_applicable"

    registry.activate(
        registry.register(name="tiny-conv", artifact=conv_model_path, architecture="TinyConv", input_size=32, is_trained=True)
    )
    services.score(submission.pk)
    run.compute(submission.pk)

    evidence = summary(submission)
    assert evidence["model_version"] == "tiny-conv"
    assert evidence["signals"]["heatmap"]["status"] == "ok"


def test_before_the_evidence_is_ready_the_page_says_it_is_being_computed(active_model, journalist, client):
    from detection import services

    submission = services.submit(data=make_image_bytes("JPEG"), name="new.jpg", uploader=journalist, enqueue=False)
    services.score(submission.pk)  # inside the test's transaction: the evidence task is not sent
    client.force_login(journalist)

    page = client.get(f"/submissions/{submission.pk}/").content.decode()

    assert "Evidence is being computed. This page updates by itself." in page
    assert 'data-evidence-pending="1"' in page
