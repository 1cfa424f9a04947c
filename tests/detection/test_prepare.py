"""The prepare queue: a new upload's faces are found off the inference worker, which then only cuts and scores.

Whatever goes wrong on the way (the prepare message lost, the broker refusing it, the store out of reach), the
upload still reaches scoring, where the worker looks for the faces itself.
"""
import pytest
from django.utils import timezone

from detection import services, storage, sweeper, tasks
from detection.inference import crops
from detection.models import Detection, Submission
from tests.conftest import make_image_bytes
from tests.detection.test_face_scoring import face_photo, jpeg, scene, two_faces_one_red


@pytest.fixture
def faces_on(settings):
    settings.VERITY_SCORE_FACES = True
    settings.VERITY_PREPARE_FACES = True


@pytest.fixture
def sent(monkeypatch):
    """What was published, by queue, instead of publishing it: {"prepare": [ids], "inference": [ids]}.

    The sweep's view of the inference queue is these messages too (nobody consumes them here), not whatever an
    earlier test in this process left in the real broker's queue.
    """
    published = {"prepare": [], "inference": []}
    monkeypatch.setattr(tasks.prepare_submission, "delay", lambda pk: published["prepare"].append(pk))
    monkeypatch.setattr(tasks.score_submission, "delay", lambda pk: published["inference"].append(pk))
    monkeypatch.setattr(sweeper, "inference_backlog", lambda: len(published["inference"]))
    return published


def upload(data, name, journalist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.submit(data=data, name=name, uploader=journalist)


def test_prepare_submission_is_routed_to_the_prepare_queue():
    from config.celery import app

    assert app.amqp.router.route({}, tasks.prepare_submission.name)["queue"].name == "prepare"
    assert app.amqp.router.route({}, tasks.score_submission.name)["queue"].name == "inference"


def test_a_new_image_goes_to_the_prepare_queue_first(faces_on, sent, journalist, django_capture_on_commit_callbacks):
    submission = upload(jpeg(face_photo()), "face.jpg", journalist, django_capture_on_commit_callbacks)
    assert sent == {"prepare": [str(submission.pk)], "inference": []}


@pytest.mark.parametrize("setting", ["VERITY_PREPARE_FACES", "VERITY_SCORE_FACES"])
def test_with_preparing_or_face_scoring_off_an_upload_goes_straight_to_scoring(
    faces_on, settings, setting, sent, journalist, django_capture_on_commit_callbacks
):
    setattr(settings, setting, False)
    submission = upload(jpeg(face_photo()), "face.jpg", journalist, django_capture_on_commit_callbacks)
    assert sent == {"prepare": [], "inference": [str(submission.pk)]}


def test_a_broker_refusing_the_prepare_message_sends_the_upload_to_scoring(
    faces_on, monkeypatch, sent, journalist, django_capture_on_commit_callbacks
):
    def refused(pk):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.prepare_submission, "delay", refused)
    submission = upload(jpeg(face_photo()), "face.jpg", journalist, django_capture_on_commit_callbacks)
    assert sent["inference"] == [str(submission.pk)]


def test_prepare_stores_the_faces_and_sends_the_upload_to_scoring(faces_on, sent, journalist):
    photo = two_faces_one_red()
    submission = services.submit(data=jpeg(photo), name="pair.jpg", uploader=journalist, enqueue=False)
    assert submission.face_boxes is None
    assert services.prepare(submission.pk) is True
    submission.refresh_from_db()
    decoded = crops.open_full(jpeg(photo))
    assert submission.face_boxes == crops.face_fractions(decoded)  # JSON keeps floats exactly
    assert len(submission.face_boxes) == 2 and all(0 <= v <= 1 for box in submission.face_boxes for v in box)
    assert crops.boxes_from_fractions(decoded, submission.face_boxes) == crops.find_face_boxes(decoded, close_up_first=True)
    assert sent["inference"] == [str(submission.pk)]


def test_the_worker_cuts_the_stored_faces_and_scores_as_its_own_search_would(faces_on, sent, journalist, active_model, monkeypatch):
    data = jpeg(scene(tint=(255, 0, 0)))
    searched = services.submit(data=data, name="searched.jpg", uploader=journalist, enqueue=False)
    services.score(searched.pk)  # the worker looks itself (nobody prepared it)
    prepared = services.submit(data=data, name="prepared.jpg", uploader=journalist, enqueue=False)
    services.prepare(prepared.pk)

    def no_search(*args, **kwargs):
        raise AssertionError("the worker searched for faces that were already found")

    monkeypatch.setattr(crops, "find_face_boxes", no_search)
    services.score(prepared.pk)
    own, cut = Detection.objects.get(submission=searched), Detection.objects.get(submission=prepared)
    assert cut.scored_on == own.scored_on == Detection.ScoredOn.FACES
    assert cut.probability == pytest.approx(own.probability, abs=1e-6) and cut.label == own.label
    assert [f["box"] for f in cut.faces] == [f["box"] for f in own.faces]


def test_an_image_without_a_face_is_prepared_as_such_and_not_searched_again(faces_on, sent, journalist, active_model, monkeypatch):
    submission = services.submit(data=make_image_bytes(size=(300, 200), color=(30, 160, 40)), name="field.jpg",
                                 uploader=journalist, enqueue=False)  # fmt: skip
    services.prepare(submission.pk)
    submission.refresh_from_db()
    assert submission.face_boxes == []  # looked for, none: not the same as never looked for (None)
    monkeypatch.setattr(crops, "find_face_boxes", lambda *a, **k: pytest.fail("searched again"))
    services.score(submission.pk)
    assert Detection.objects.get(submission=submission).label == Detection.Label.NO_FACE


def test_prepare_leaves_an_upload_that_was_scored_meanwhile_alone(faces_on, sent, journalist, active_model):
    submission = services.submit(data=jpeg(face_photo()), name="face.jpg", uploader=journalist, enqueue=False)
    services.score(submission.pk)  # the sweep sent it straight to scoring before its prepare message came
    assert services.prepare(submission.pk) is False
    submission.refresh_from_db()
    assert submission.face_boxes is None and sent["inference"] == []
    assert services.prepare("00000000-0000-0000-0000-000000000000") is False  # gone


def test_a_store_out_of_reach_at_prepare_still_sends_the_upload_on(faces_on, sent, journalist, monkeypatch):
    submission = services.submit(data=jpeg(face_photo()), name="face.jpg", uploader=journalist, enqueue=False)

    def unreachable(name):
        raise storage.StorageUnavailable("the bucket is not answering")

    monkeypatch.setattr(storage, "read", unreachable)
    assert services.prepare(submission.pk) is True
    submission.refresh_from_db()
    assert submission.face_boxes is None  # the worker will look itself
    assert sent["inference"] == [str(submission.pk)]


def test_an_upload_whose_prepare_message_was_lost_is_sent_to_scoring_by_the_sweep(
    faces_on, settings, sent, journalist, django_capture_on_commit_callbacks
):
    submission = upload(jpeg(face_photo()), "face.jpg", journalist, django_capture_on_commit_callbacks)
    assert sent["prepare"] == [str(submission.pk)]  # and nobody consumes it
    later = timezone.now() + timezone.timedelta(seconds=settings.VERITY_STUCK_AFTER_SECONDS + 1)
    assert sweeper.resend_stuck_submissions(later) == 1
    assert sent["inference"] == [str(submission.pk)]


def test_a_video_is_never_sent_to_the_prepare_queue(faces_on):
    assert not services.prepares_faces(Submission(kind=Submission.Kind.VIDEO))
    assert services.prepares_faces(Submission(kind=Submission.Kind.IMAGE))


def flushed_prepare_batch(count):
    """A PrepareBatches with `count` messages handed to a stand-in pool: (the messages, the pool's batch)."""
    from tests.detection.test_batching import Pool, Request

    batches = type("PrepareProbe", (tasks.PrepareBatches,), {"name": "tests.prepare.probe", "flush_every": 4})()
    batches._pool = Pool()
    requests = [Request() for _ in range(count)]
    for request in requests:
        batches._buffer.put(request)
    batches._do_flush()
    return requests, batches._pool.batches[0]


def test_a_prepare_batch_whose_worker_died_goes_straight_to_scoring_and_is_not_handed_back(sent):
    # An image that crashes the face search must not go round the prepare workers forever: the dead batch's
    # messages are acknowledged, and its uploads are sent straight to scoring, where the worker looks for the
    # faces itself and a poison image fails after VERITY_MAX_SCORING_ATTEMPTS.
    requests, (ids, _, on_worker_lost) = flushed_prepare_batch(2)
    on_worker_lost(None)
    assert [r.outcome for r in requests] == ["acknowledged", "acknowledged"]
    assert sent == {"prepare": [], "inference": ids}


def test_a_prepare_batch_refused_by_the_broker_at_that_moment_is_left_to_the_sweep(monkeypatch):
    def refused(pk):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.score_submission, "delay", refused)
    (request,), (_, _, on_worker_lost) = flushed_prepare_batch(1)
    on_worker_lost(None)
    assert request.outcome == "acknowledged"  # still queued in the database: the sweep sends it


def test_prepare_and_scoring_acknowledge_late():
    assert tasks.prepare_submission.acks_late is True
    assert tasks.score_submission.acks_late is True


def test_a_batch_of_uploads_is_read_and_its_faces_stored_in_two_queries(
    faces_on, sent, journalist, active_model, django_assert_max_num_queries
):
    photos = [two_faces_one_red(), face_photo(), scene(tint=(255, 0, 0))]
    uploads = [services.submit(data=jpeg(p), name=f"{i}.jpg", uploader=journalist, enqueue=False) for i, p in enumerate(photos)]
    scored = services.submit(data=jpeg(face_photo()), name="scored.jpg", uploader=journalist, enqueue=False)
    services.score(scored.pk)
    sent["inference"].clear()
    with django_assert_max_num_queries(2):
        result = services.prepare_many([u.pk for u in uploads] + [scored.pk, "00000000-0000-0000-0000-000000000000"])
    assert result == {**{str(u.pk): True for u in uploads}, str(scored.pk): False, "00000000-0000-0000-0000-000000000000": False}
    assert sent["inference"] == [str(u.pk) for u in uploads]
    for upload_, photo in zip(uploads, photos):
        upload_.refresh_from_db()
        assert upload_.face_boxes == crops.face_fractions(crops.open_full(jpeg(photo)))
    scored.refresh_from_db()
    assert scored.face_boxes is None
