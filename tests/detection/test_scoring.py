"""Scoring a submission with the active model version: labels, uncertainty, idempotency and failures."""
import threading
from unittest import mock

import pytest
from django.core.files.storage import default_storage

from audit.models import AuditEvent
from detection import services
from detection.inference import crops
from detection.models import Detection, Submission
from tests.conftest import make_image_bytes

RED = (220, 20, 20)
GREEN = (20, 220, 20)


def submit(color, name="x.jpg", **kwargs):
    kwargs.setdefault("enqueue", False)
    return services.submit(data=make_image_bytes("JPEG", color=color), name=name, **kwargs)


def test_a_red_image_scores_fake_and_a_green_one_real(active_model, journalist):
    fake = services.score(submit(RED, uploader=journalist).pk)
    real = services.score(submit(GREEN, uploader=journalist).pk)
    assert fake.label == "fake" and fake.probability > 0.9 and not fake.uncertain
    assert real.label == "real" and real.probability < 0.1 and not real.uncertain
    assert fake.model_version == active_model


def test_it_stores_timings_and_marks_the_submission_scored(active_model, journalist):
    submission = submit(RED, uploader=journalist)
    detection = services.score(submission.pk)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED and submission.scored_at is not None
    assert detection.inference_ms > 0 and detection.preprocess_ms > 0
    assert detection.total_ms >= detection.inference_ms
    assert AuditEvent.objects.filter(action="submission.scored", target_id=str(submission.pk)).count() == 1


def test_it_flags_a_probability_inside_the_band_as_uncertain(active_model, journalist):
    active_model.threshold = 0.9
    active_model.uncertain_band = 0.2
    active_model.save()
    detection = services.score(submit(RED, uploader=journalist).pk)  # about 0.99: within 0.9 +/- 0.2
    assert detection.uncertain and detection.label == "fake" and detection.threshold == 0.9


def test_scoring_twice_stores_one_detection_and_runs_the_model_once(active_model, journalist):
    submission = submit(RED, uploader=journalist)
    first = services.score(submission.pk)
    with mock.patch("detection.services.get_detector") as get_detector:
        second = services.score(submission.pk)
    assert second.pk == first.pk
    get_detector.assert_not_called()
    assert Detection.objects.filter(submission=submission).count() == 1
    assert AuditEvent.objects.filter(action="submission.scored").count() == 1


def test_a_new_active_version_scores_again_and_names_itself(active_model, journalist, tiny_model_path):
    from training import registry

    submission = submit(RED, uploader=journalist)
    services.score(submission.pk)
    newer = registry.activate(
        registry.register(name="tiny-2", artifact=tiny_model_path, input_size=32, architecture="TinyTest", is_trained=True)
    )
    detection = services.score(submission.pk)
    assert detection.model_version == newer
    assert submission.latest_detection.model_version == newer
    assert Detection.objects.filter(submission=submission).count() == 2


def test_a_missing_model_file_fails_the_submission_with_a_reason(active_model, journalist, tmp_path):
    active_model.artifact = str(tmp_path / "gone.keras")
    active_model.artifact_sha256 = "other"
    active_model.save()
    submission = submit(RED, uploader=journalist)
    assert services.score(submission.pk) is None
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED
    assert "not found" in submission.failure_reason
    assert AuditEvent.objects.filter(action="submission.failed", target_id=str(submission.pk)).exists()


def test_a_corrupt_model_file_fails_the_submission_with_a_reason(active_model, journalist, tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    active_model.artifact, active_model.artifact_sha256 = str(broken), "broken"
    active_model.save()
    submission = submit(RED, uploader=journalist)
    services.score(submission.pk)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED and "cannot be loaded" in submission.failure_reason


def test_a_stored_file_that_has_vanished_fails_cleanly(active_model, journalist):
    submission = submit(RED, uploader=journalist)
    default_storage.delete(submission.file)
    services.score(submission.pk)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FAILED and "could not be read" in submission.failure_reason


def test_scoring_a_deleted_submission_does_nothing(active_model):
    assert services.score("00000000-0000-0000-0000-000000000000") is None


def test_submit_enqueues_scoring_only_after_the_transaction_commits(
    active_model, journalist, django_capture_on_commit_callbacks
):
    with mock.patch("detection.tasks.score_submission.delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            submission = submit(RED, uploader=journalist, enqueue=True)
        delay.assert_not_called()
        for callback in callbacks:
            callback()
    delay.assert_called_once_with(str(submission.pk))


def test_the_task_scores_through_celery(active_model, journalist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        submission = submit(GREEN, uploader=journalist, enqueue=True)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED
    assert submission.latest_detection.label == "real"


def test_a_dead_broker_keeps_the_upload_queued_and_it_is_sent_again_later(
    active_model, journalist, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    with mock.patch("detection.tasks.score_submission.delay", side_effect=OperationalError("connection refused")):
        with django_capture_on_commit_callbacks(execute=True):
            submission = submit(RED, uploader=journalist, enqueue=True)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.QUEUED and submission.enqueue_pending
    assert default_storage.exists(submission.file)

    with mock.patch("detection.tasks.score_submission.delay") as delay:
        assert services.requeue_pending() == 1
    delay.assert_called_once_with(str(submission.pk))
    submission.refresh_from_db()
    assert not submission.enqueue_pending


def test_submit_stores_the_file_under_its_hash_and_reuses_it(active_model, journalist, colleague):
    data = make_image_bytes("PNG", color=RED)
    first = services.submit(data=data, name="a.png", uploader=journalist, enqueue=False)
    second = services.submit(data=data, name="copy.png", uploader=colleague, enqueue=False)
    assert first.file == second.file == f"uploads/{first.sha256[:2]}/{first.sha256}.png"
    assert first.pk != second.pk
    assert default_storage.open(first.file).read() == data
    assert (first.original_name, first.content_type, first.size_bytes) == ("a.png", "image/png", len(data))
    assert (first.width, first.height, first.organisation, first.source) == (64, 48, journalist.organisation, "portal")


def test_a_rejected_upload_stores_nothing_and_is_audited(db, journalist):
    from detection.validation import InvalidImage

    with pytest.raises(InvalidImage):
        services.submit(data=b"not an image", name="x.jpg", uploader=journalist)
    assert Submission.objects.count() == 0
    assert not default_storage.exists("uploads")
    event = AuditEvent.objects.get(action="submission.rejected")
    assert event.actor == journalist and "not an image" in event.data["reason"]


def test_a_batch_is_stored_with_one_audit_event_per_submission_in_a_few_queries(active_model, journalist):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    submissions = [submit((220, 20, i), name=f"{i}.jpg", uploader=journalist) for i in range(6)]
    with CaptureQueriesContext(connection) as queries:
        results = services.score_many([s.pk for s in submissions])
    assert sorted(results) == sorted(str(s.pk) for s in submissions)
    assert Submission.objects.filter(status=Submission.Status.SCORED).count() == 6
    scored_events = AuditEvent.objects.filter(action="submission.scored")
    assert sorted(e.target_id for e in scored_events) == sorted(str(s.pk) for s in submissions)
    assert all(e.data["batch_size"] == 6 for e in scored_events)
    # Six fakes also open six review items (a few queries each); the scoring bookkeeping itself is
    # constant per batch, so six images cost far fewer queries than six single scorings would.
    per_image = CaptureQueriesContext(connection)
    lone = submit((220, 20, 99), name="lone.jpg", uploader=journalist)
    with per_image:
        services.score(lone.pk)
    assert len(queries) < 6 * len(per_image)


def test_an_upload_and_a_scored_batch_open_one_transaction_each_and_no_savepoint_inside_it(active_model, journalist):
    """An audit append inside the caller's transaction, and a batch's insert, took a savepoint each: two round
    trips apiece on every upload and batch. (The test runs inside a transaction, so a batch's own block is the
    one savepoint here; deployed, it is BEGIN ... COMMIT. An upload's block takes none inside a caller's
    transaction, such as the API request's.)"""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def savepoints(queries):
        return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]

    with CaptureQueriesContext(connection) as upload:
        submissions = [submit(GREEN, name=f"{i}.jpg", uploader=journalist) for i in range(4)]
    assert savepoints(upload) == []
    with CaptureQueriesContext(connection) as batch:
        services.score_many([s.pk for s in submissions])  # real: no review items to open
    assert len(savepoints(batch)) == 1
    assert Submission.objects.filter(status=Submission.Status.SCORED).count() == 4
    assert AuditEvent.objects.filter(action="submission.scored").count() == 4
    assert AuditEvent.objects.filter(action="submission.uploaded").count() == 4


def test_a_detection_stored_meanwhile_by_another_worker_is_kept_and_the_rest_of_the_batch_stored(
    active_model, journalist
):
    first, second = submit(RED, name="a.jpg", uploader=journalist), submit(RED, name="b.jpg", uploader=journalist)
    # Another worker stores `first` between this batch's check for existing detections and its insert.
    other = Detection.objects.create(
        submission=first, model_version=active_model, probability=0.5, label="fake", threshold=0.5,
        preprocess_ms=1, inference_ms=1, total_ms=1,
    )  # fmt: skip
    whole = crops.ScoringInput([], crops.WHOLE_IMAGE)
    scored = [(first, whole, [0.97], [], 1.0), (second, whole, [0.98], [], 1.0)]
    results = services._store_detections(active_model, "keras", scored, inference_ms=2.0)
    assert results[str(first.pk)].pk == other.pk and results[str(first.pk)].probability == 0.5
    assert results[str(second.pk)].probability == 0.98
    assert Detection.objects.filter(submission__in=[first, second]).count() == 2
    assert list(AuditEvent.objects.filter(action="submission.scored").values_list("target_id", flat=True)) == [
        str(second.pk)
    ]
    second.refresh_from_db()
    assert second.status == Submission.Status.SCORED


class RunRecorder:
    """The real detector, run `run_size` crops at a time, recording each run's size (and the first run)."""

    def __init__(self, detector, run_size):
        self.detector, self.run_size, self.runs = detector, run_size, []
        self.runtime, self.member_names = detector.runtime, detector.member_names
        self.first_run = threading.Event()

    def predict_with_members(self, batch):
        self.runs.append(len(batch))
        self.first_run.set()
        return self.detector.predict_with_members(batch)


def score_with_runs_of(run_size, submissions):
    recorder = RunRecorder(services.get_detector(services.registry.active_version()), run_size)
    with mock.patch("detection.services.get_detector", return_value=recorder):
        results = services.score_many([s.pk for s in submissions])
    return recorder, results


def test_the_model_runs_on_the_first_decoded_images_while_the_last_is_still_decoding(active_model, journalist, settings):
    settings.VERITY_SCORE_FACES = False  # one crop an image: the whole image
    submissions = [submit((220, 20, i), name=f"{i}.jpg", uploader=journalist) for i in range(3)]
    # The batch's order is the query's, as score_many reads it.
    last_file = list(Submission.objects.filter(pk__in=[s.pk for s in submissions]))[-1].file
    recorder = RunRecorder(services.get_detector(active_model), run_size=1)
    waited = []
    real_read = services.storage.read

    def read(name):
        if name == last_file:  # the last image's decoding waits for the model's first run (or gives up)
            waited.append(recorder.first_run.wait(timeout=30))
        return real_read(name)

    with mock.patch("detection.services.get_detector", return_value=recorder), \
            mock.patch("detection.services.storage.read", side_effect=read):  # fmt: skip
        results = services.score_many([s.pk for s in submissions])
    assert waited == [True]  # decode-then-run would have waited the whole 30 s, then run once
    assert recorder.runs == [1, 1, 1]
    assert all(results[str(s.pk)].label == "fake" for s in submissions)


def test_scores_do_not_depend_on_how_the_crops_are_run_and_a_broken_image_shifts_none(active_model, journalist):
    colours = [(220, 20, 20), (20, 220, 20), (220, 20, 40), (20, 220, 40), (20, 220, 60)]  # one stored file each
    submissions = [submit(colour, name=f"{i}.jpg", uploader=journalist) for i, colour in enumerate(colours)]
    whole, results = score_with_runs_of(None, submissions)
    assert whole.runs == [5]
    expected = {key: detection.probability for key, detection in results.items()}
    Detection.objects.all().delete()
    Submission.objects.update(status=Submission.Status.QUEUED)
    default_storage.delete(submissions[1].file)  # a broken image in the middle of the batch

    sliced, results = score_with_runs_of(2, submissions)
    assert sliced.runs == [2, 2]
    assert results[str(submissions[1].pk)] is None
    for submission in submissions[:1] + submissions[2:]:
        assert results[str(submission.pk)].probability == pytest.approx(expected[str(submission.pk)], abs=1e-6)
    labels = {str(s.pk): label for s, label in zip(submissions, ["fake", None, "fake", "real", "real"])}
    assert {key: detection and detection.label for key, detection in results.items()} == labels
