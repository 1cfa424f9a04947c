"""Detection's business operations: submit an image, score a submission, and who may see what."""
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Case, F, JSONField, Q, Value, When
from django.utils import timezone

import audit
from training import registry
from training.preprocessing import load_image

from . import storage
from .inference import crops, export
from .inference.runtime import ModelUnavailable, get_detector
from .models import Detection, Submission
from .signals import submissions_scored
from .validation import InvalidImage, read_upload, validate_image
from .video import probe as video_probe
from .video import upload as video_upload

logger = logging.getLogger(__name__)

# Pillow releases the GIL while decoding and resizing, so threads decode in parallel with the model.
DECODE_THREADS = 2


@dataclass
class UploadResult:
    """What happened to each file of one upload: accepted submissions and per-file rejections."""

    accepted: list = field(default_factory=list)
    rejected: list = field(default_factory=list)  # (file name, reason)
    storage_unavailable: bool = False  # the file store was out of reach: the files from there on were not uploaded


def submit(
    *,
    data,
    name,
    uploader=None,
    organisation=None,
    source=Submission.Source.PORTAL,
    review_requested=False,
    enqueue=True,
    **fields,
):
    """Validate and store one image, create its queued Submission and enqueue scoring after commit.

    `data` is bytes or an uploaded file (an oversized file is refused before it is read). `fields`: more of the
    Submission's fields, stored with the row (the API's callback_url and api_key).
    Raises InvalidImage (and records the rejection) when the bytes are not an acceptable image;
    nothing is stored in that case. Raises storage.StorageUnavailable when the file store cannot take the
    bytes: no Submission, no audit event, nothing queued; the uploader may simply try again.
    """
    if organisation is None and uploader is not None:
        organisation = uploader.organisation
    try:
        image = validate_upload(read_upload(data), name)
    except InvalidImage as exc:
        audit.record(uploader, "submission.rejected", None, name=str(name)[:255], reason=str(exc), source=source)
        raise
    stored_name = storage.store(image)
    video_fields = video_upload.submission_fields(image) if video_upload.is_video(image) else {}
    # No savepoint inside a caller's transaction (the API's request, a batch): nothing in here is caught to carry on.
    with transaction.atomic(savepoint=False):
        submission = Submission.objects.create(
            uploader=uploader,
            organisation=organisation,
            original_name=image.name,
            content_type=image.content_type,
            size_bytes=image.size,
            width=image.width,
            height=image.height,
            sha256=image.sha256,
            file=stored_name,
            source=source,
            review_requested=review_requested,
            **video_fields,
            **fields,
        )
        audit.record(uploader, "submission.uploaded", submission, sha256=image.sha256, source=source, kind=submission.kind)
        if enqueue:
            # robust: the upload is committed; whatever goes wrong sending it, the sweep sends it later.
            transaction.on_commit(lambda: enqueue_after_upload(submission), robust=True)
    return submission


def validate_upload(data, name):
    """A ValidatedImage or a ValidatedVideo, as the bytes say (detection/video/probe.py tells them apart)."""
    if video_probe.is_video_upload(data, name):
        return video_probe.validate_video(data, name)
    return validate_image(data, name)


NOT_STORED = "not uploaded: images cannot be stored right now; try again in a few minutes"


def submit_many(files, *, uploader=None, organisation=None, source=Submission.Source.PORTAL, review_requested=False):
    """Submit several (name, bytes or file) uploads; one bad file never stops the others.

    An unreachable file store stops the upload there (it would refuse the next files too, each after its
    retries): that file and the rest are listed as not uploaded, and `storage_unavailable` is set.
    """
    result = UploadResult()
    files = list(files)
    for index, (name, data) in enumerate(files):
        try:
            result.accepted.append(
                submit(
                    data=data,
                    name=name,
                    uploader=uploader,
                    organisation=organisation,
                    source=source,
                    review_requested=review_requested,
                )
            )
        except InvalidImage as exc:
            result.rejected.append((name, str(exc)))
        except storage.StorageUnavailable:
            result.storage_unavailable = True
            result.rejected.extend((later, NOT_STORED) for later, _ in files[index:])
            break
    return result


def prepares_faces(submission):
    """Whether `submission`'s faces are looked for on the prepare queue before it is scored."""
    return (
        submission.kind == Submission.Kind.IMAGE
        and getattr(settings, "VERITY_SCORE_FACES", True)
        and getattr(settings, "VERITY_PREPARE_FACES", True)
    )


def enqueue_after_upload(submission):
    """The first send of a new upload: to the prepare queue (its faces are found there), else to scoring.

    Only this first send goes through the prepare queue; the sweep and a starting worker send straight to
    scoring, where the inference worker looks for the faces itself when nobody did.
    """
    from .tasks import prepare_submission

    if not prepares_faces(submission):
        return enqueue_scoring(submission.pk)
    try:
        prepare_submission.delay(str(submission.pk))
    except Exception as exc:  # the broker is unreachable: scoring's own send marks the upload pending
        logger.warning("could not send %s to the prepare queue, sending it to scoring: %s", submission.pk, exc)
        return enqueue_scoring(submission.pk)
    return True


def prepare(submission_id):
    """prepare_many() for one upload: True when it was sent on to scoring."""
    return prepare_many([submission_id]).get(str(submission_id), False)


def prepare_many(submission_ids):
    """Look for queued images' faces (the prepare queue, off the inference worker's cores), then send them on.

    The boxes are stored on each submission (Submission.face_boxes) and the inference worker cuts its crops from
    them instead of searching. One query reads the batch and one stores every box found. Whatever goes wrong
    here (the file store or the database out of reach, an image OpenCV cannot read), the uploads are still sent
    to scoring, where the worker looks itself or fails one with the reason; one that is no longer queued (the
    sweep sent it on and it was scored) or is gone is left alone. Returns {submission id (str): sent on}.
    """
    keys = [str(pk) for pk in submission_ids]
    try:
        submissions = list(
            Submission.objects.only("pk", "file", "kind", "status", "face_boxes", "enqueue_pending").filter(pk__in=keys)
        )
    except Exception as exc:
        logger.warning("could not read %d uploads before scoring (the worker will look itself): %s", len(keys), exc)
        return {key: enqueue_scoring(key) for key in dict.fromkeys(keys)}
    by_key = {str(s.pk): s for s in submissions}
    # In the order they came (the queue's), each once (a message delivered twice may share a batch with itself).
    queued = [by_key[key] for key in dict.fromkeys(keys) if key in by_key and by_key[key].status == Submission.Status.QUEUED]
    found = {}
    for submission in queued:
        if submission.face_boxes is None and prepares_faces(submission):
            try:
                found[submission.pk] = crops.face_fractions(crops.open_full(storage.read(submission.file)))
            except Exception as exc:
                logger.warning("could not look for the faces of %s before scoring (the worker will): %s", submission.pk, exc)
    if found:
        try:
            Submission.objects.filter(pk__in=found.keys(), face_boxes__isnull=True).update(
                face_boxes=Case(*(When(pk=pk, then=Value(boxes, JSONField())) for pk, boxes in found.items())),
                updated_at=timezone.now(),
            )
        except Exception as exc:
            logger.warning("could not store the faces of %d uploads (the worker will look itself): %s", len(found), exc)
    sent = {key: False for key in keys}
    sent.update({str(s.pk): enqueue_scoring(s.pk, pending=s.enqueue_pending) for s in queued})
    return sent


def enqueue_scoring(submission_id, pending=None):
    """Send the scoring task; with the broker down the submission stays queued and is sent again later.

    `pending`: the submission's enqueue_pending flag where the caller has just read it (False: no query to
    clear it); None when unknown.
    """
    from .tasks import score_submission

    try:
        score_submission.delay(str(submission_id))
    except Exception as exc:  # kombu raises OperationalError and friends when the broker is unreachable
        logger.warning("could not enqueue scoring of %s, it stays queued: %s", submission_id, exc)
        Submission.objects.filter(pk=submission_id).update(enqueue_pending=True)
        return False
    if pending is False:
        return True
    try:
        Submission.objects.filter(pk=submission_id, enqueue_pending=True).update(enqueue_pending=False)
    except DatabaseError as exc:  # sent all the same; a flag left set only makes the sweep send it once more
        logger.warning("sent %s for scoring but could not clear its pending flag: %s", submission_id, exc)
    return True


def requeue_pending(older_than_seconds=None):
    """Enqueue again the queued submissions the broker never got (it was down at upload time).

    With `older_than_seconds`, also every submission queued for longer than that, whatever happened to it.
    Scoring is idempotent, so a submission sent twice is scored once.
    """
    pending = Q(enqueue_pending=True)
    if older_than_seconds is not None:
        pending |= Q(created_at__lt=timezone.now() - timezone.timedelta(seconds=older_than_seconds))
    ids = list(Submission.objects.filter(pending, status=Submission.Status.QUEUED).values_list("pk", flat=True))
    return sum(enqueue_scoring(pk) for pk in ids)


def score(submission_id):
    """Score one submission with the active model version; see score_many()."""
    return score_many([submission_id]).get(str(submission_id))


def score_many(submission_ids):
    """Score submissions in one batch with the active model version. Safe to run twice.

    Images are read and decoded in a thread pool while the model runs on those already decoded, in runs of the
    size measured fastest where the worker runs (`_decode_and_run`). Returns {submission id (str): Detection or
    None when it is gone or failed}.
    """
    results = {}
    submissions = {str(s.pk): s for s in Submission.objects.filter(pk__in=list(submission_ids))}
    for missing in {str(i) for i in submission_ids} - submissions.keys():
        logger.info("submission %s no longer exists; nothing to score", missing)
        results[missing] = None
    if not submissions:
        return results
    try:
        version = registry.active_version()
    except registry.NoActiveModel as exc:
        # Nothing to score with: fail now with the reason rather than leave the uploads queued forever.
        for key, submission in submissions.items():
            results[key] = _fail(submission, f"the detector is unavailable: {exc}")
        return results
    for detection in Detection.objects.filter(submission__in=submissions.values(), model_version=version):
        submission = submissions.pop(str(detection.submission_id))
        _mark_scored(submission, detection)  # already done: a redelivered or duplicate task
        results[str(submission.pk)] = detection
    if not submissions:
        return results

    max_attempts = settings.VERITY_MAX_SCORING_ATTEMPTS
    for key, submission in list(submissions.items()):
        if submission.scoring_attempts >= max_attempts:
            # Every earlier batch that took it up died before finishing (a worker killed, out of memory on this
            # image): stop here instead of killing workers forever.
            del submissions[key]
            results[key] = _fail(
                submission, f"scoring was interrupted {submission.scoring_attempts} times; the worker stopped each time"
            )
    if not submissions:
        return results
    Submission.objects.filter(pk__in=submissions.keys()).exclude(status=Submission.Status.SCORED).update(
        status=Submission.Status.PROCESSING, updated_at=timezone.now(), scoring_attempts=F("scoring_attempts") + 1
    )
    try:
        detector = get_detector(version)  # loads the model on this process's first batch
    except ModelUnavailable as exc:
        for key, submission in submissions.items():
            results[key] = _fail(submission, f"the detector is unavailable: {exc}")
        return results

    for key, submission in list(submissions.items()):
        if submission.kind == Submission.Kind.VIDEO:  # a clip is one unit of work of its own (detection/video/)
            results[key] = _score_video(submissions.pop(key), version, detector)
    if not submissions:
        return results

    decoded, failed, probabilities, members, model_seconds = _decode_and_run(
        detector, submissions.values(), version.input_size
    )
    for submission, outcome in failed:
        results[str(submission.pk)] = _fail(submission, f"the stored image could not be read: {outcome}")
    if not decoded:
        return results

    # The batch's model time, shared out per image.
    inference_ms = model_seconds * 1000 / len(decoded)
    scored, at = [], 0
    for submission, found, preprocess_ms in decoded:
        own = [float(p) for p in probabilities[at: at + len(found.crops)]]
        deciding = at + int(np.argmax(own))
        member_scores = [
            {"version": name, "probability": round(float(p), 6)} for name, p in zip(detector.member_names, members[deciding])
        ] if members is not None else []
        at += len(found.crops)
        scored.append((submission, found, own, member_scores, preprocess_ms))
    results.update(_store_detections(version, detector.runtime, scored, inference_ms))
    return results


def _score_video(submission, version, detector):
    """Score a clip's sampled frames with the batch's detector and store its one Detection (or fail it).

    An unreachable file store or database is raised, as for images: the task hands the batch back, and the
    frames scored so far are kept for the next attempt.
    """
    from .tasks import TRANSIENT_ERRORS
    from .video import scoring as video_scoring

    try:
        detection = video_scoring.score_video(submission, version, detector)
    except TRANSIENT_ERRORS:
        raise
    except video_scoring.VideoUnreadable as exc:
        return _fail(submission, f"the stored video could not be read: {exc}")
    except Exception as exc:  # a defect in one clip fails that clip, not the images batched with it
        logger.exception("scoring video %s failed", submission.pk)
        return _fail(submission, f"scoring the video failed: {exc.__class__.__name__}: {exc}")
    return _store_one(detection, detector.runtime)


def _decode_and_run(detector, submissions, size):
    """Decode the batch's images in the decoding pool and run the model on their crops as they come: a pipeline,
    not decode-then-run. The first run starts once the first `detector.run_size` crops are decoded, and the pool
    goes on decoding while the model runs (ONNX Runtime, Pillow and OpenCV release the GIL), so on a worker with
    a core to spare, or a GPU, decoding hides behind the model. A detector that runs whole batches (run_size None)
    waits for every image, as before. Scores do not depend on how the crops are sliced into runs.

    Returns (decoded [(submission, ScoringInput, preprocess_ms)], failed [(submission, exception)], probabilities
    per crop, member probabilities per crop or None, seconds spent in the model). An unreachable file store is
    raised before anything is stored: the batch goes back for later.
    """
    decoded, failed, pending, outputs = [], [], [], []
    model_seconds = 0.0

    def run(crops_):
        nonlocal model_seconds
        started = time.perf_counter()
        outputs.append(detector.predict_with_members(np.stack(crops_)))
        model_seconds += time.perf_counter() - started

    for submission, outcome in zip(submissions, preprocess_stream(submissions, size)):
        if isinstance(outcome, storage.StorageUnavailable):
            raise outcome  # the store is out of reach, not the image broken
        if isinstance(outcome, Exception):
            failed.append((submission, outcome))
            continue
        decoded.append((submission, *outcome))
        pending.extend(outcome[0].crops)
        while detector.run_size and len(pending) >= detector.run_size:
            run(pending[: detector.run_size])
            del pending[: detector.run_size]
    if pending:
        run(pending)
    if not outputs:
        return decoded, failed, None, None, model_seconds
    probabilities = np.concatenate([p for p, _ in outputs])
    members = None if outputs[0][1] is None else np.concatenate([m for _, m in outputs])
    return decoded, failed, probabilities, members, model_seconds


def preprocess_stream(submissions, size):
    """Read and decode each submission's image in the decoding pool: (ScoringInput, ms) or the exception, yielded
    in order as each is ready (all are submitted to the pool at once).

    With VERITY_SCORE_FACES (the default) the crops are the image's faces, cut as the training images were
    (detection/inference/crops.py); otherwise the whole image, resized, as before.
    """
    faces = getattr(settings, "VERITY_SCORE_FACES", True)
    max_faces = getattr(settings, "VERITY_MAX_FACES_SCORED", 16)

    def one(submission):
        started = time.perf_counter()
        try:
            data = storage.read(submission.file)
            if faces:
                found = crops.scoring_input(data, size, max_faces, face_boxes=submission.face_boxes)
            else:
                found = crops.ScoringInput([load_image(data, size)], crops.WHOLE_IMAGE)
        except Exception as exc:  # Pillow and OpenCV raise many types: the submission fails with the reason
            return exc
        return found, (time.perf_counter() - started) * 1000

    return _decoding_pool().map(one, list(submissions))


_pool = None


def _decoding_pool():
    # Created on first use, in the process that scores (never before a fork).
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=DECODE_THREADS, thread_name_prefix="decode")
    return _pool


def classify(probability, version, scored_on=Detection.ScoredOn.IMAGE):
    """Label and uncertain flag for a probability under a version's threshold and band.

    An image with no face gets the NO_FACE label: the face-trained detector's score is kept for information,
    never presented as "real" or "fake".
    """
    threshold = version.threshold
    if scored_on == Detection.ScoredOn.NO_FACE:
        return Detection.Label.NO_FACE, False, threshold
    label = Detection.Label.FAKE if probability >= threshold else Detection.Label.REAL
    uncertain = abs(probability - threshold) < version.uncertain_band
    return label, uncertain, threshold


def _store_detections(version, runtime, scored, inference_ms):
    """Store a batch's detections, mark the submissions scored, audit and announce them: one transaction.

    `scored`: [(submission, ScoringInput, its crops' probabilities, ensemble member scores, preprocess_ms)].
    One insert, one update and one audit append (with the events of the review items the batch opens) for the
    whole batch; per-row bookkeeping cost more than the model itself on small batches. Returns {submission id
    (str): Detection}.
    """
    now = timezone.now()
    detections = []
    for submission, found, probabilities, member_scores, preprocess_ms in scored:
        probability = crops.combine(probabilities)
        label, uncertain, threshold = classify(probability, version, found.subject)
        faces = sorted(
            ({"box": [round(v, 4) for v in box], "probability": round(p, 6)} for box, p in zip(found.boxes, probabilities)),
            key=lambda face: -face["probability"],
        )
        detections.append(
            Detection(
                submission=submission,
                model_version=version,
                probability=probability,
                label=label,
                uncertain=uncertain,
                threshold=threshold,
                scored_on=found.subject,
                faces=faces,
                member_scores=member_scores,
                preprocess_ms=preprocess_ms,
                inference_ms=inference_ms,
                total_ms=(now - submission.created_at).total_seconds() * 1000,
            )
        )
    # The audit events are appended last, so the chain's lock is held only from then until commit. The insert
    # has no savepoint of its own (two round trips a batch): a conflict rolls the whole batch back instead.
    try:
        with transaction.atomic(), audit.deferred():
            Detection.objects.bulk_create(detections)
            submission_ids = [d.submission_id for d in detections]
            Submission.objects.filter(pk__in=submission_ids).update(
                status=Submission.Status.SCORED, scored_at=now, failure_reason="", updated_at=now
            )
            for detection in detections:
                submission = detection.submission
                submission.status, submission.scored_at, submission.failure_reason = Submission.Status.SCORED, now, ""
                audit.record(None, "submission.scored", submission, **_scored_event_data(detection, runtime, len(detections)))
            submissions_scored.send(sender=Submission, scored=[(d.submission, d) for d in detections], runtime=runtime)
    except IntegrityError:
        # Another process stored some of these meanwhile (a redelivered task): keep whichever came first.
        return {str(d.submission_id): _store_one(d, runtime) for d in detections}
    return {str(d.submission_id): d for d in detections}


def _scored_event_data(detection, runtime, batch_size):
    return dict(
        label=detection.label,
        probability=round(detection.probability, 6),
        scored_on=detection.scored_on,
        faces=len(detection.faces),
        uncertain=detection.uncertain,
        model_version=detection.model_version.name,
        runtime=runtime,
        batch_size=batch_size,
    )


def _store_one(detection, runtime):
    """Store one detection unless one exists for its submission and version; audit and announce a new one."""
    with transaction.atomic():
        stored, created = Detection.objects.get_or_create(
            submission=detection.submission,
            model_version=detection.model_version,
            defaults={
                f.name: getattr(detection, f.name)
                for f in Detection._meta.concrete_fields
                if f.name not in ("id", "submission", "model_version")
            },
        )
        _mark_scored(detection.submission, stored)
        if created:
            audit.record(None, "submission.scored", stored.submission, **_scored_event_data(stored, runtime, 1))
            submissions_scored.send(sender=Submission, scored=[(stored.submission, stored)], runtime=runtime)
    return stored


def _mark_scored(submission, detection):
    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.SCORED, scored_at=detection.created_at, failure_reason="", updated_at=timezone.now()
    )
    submission.refresh_from_db()


def _fail(submission, reason):
    logger.warning("scoring %s failed: %s", submission.pk, reason)
    # Never over a verdict another batch stored meanwhile, and never twice: the audit event goes with the change.
    with transaction.atomic():
        changed = (
            Submission.objects.filter(pk=submission.pk)
            .exclude(status__in=[Submission.Status.SCORED, Submission.Status.FAILED])
            .update(status=Submission.Status.FAILED, failure_reason=reason, updated_at=timezone.now())
        )
        if changed:
            audit.record(None, "submission.failed", submission, reason=reason)
    return None


def fail_unfinished(submission_ids, reason):
    """Fail those of `submission_ids` that are neither scored nor failed (a batch that crashed on a defect)."""
    for submission in Submission.objects.filter(pk__in=list(submission_ids)).exclude(
        status__in=[Submission.Status.SCORED, Submission.Status.FAILED]
    ):
        _fail(submission, reason)


def visible_submissions(user):
    """The submissions a signed-in user may see: their organisation's, or all for moderators and admins."""
    qs = Submission.objects.select_related("uploader", "organisation")
    if user.is_superuser or user.has_perm("detection.view_all_submissions"):
        return qs
    if user.organisation_id is None:
        return qs.filter(uploader=user)
    return qs.filter(organisation_id=user.organisation_id)


def export_for_serving(version_id, actor=None):
    """Export a version to ONNX, checked against Keras; returns ExportInfo, or None when refused or gone.

    Until the export exists, workers serve the version with Keras.
    """
    version = registry.ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        return None
    info = export.existing_export(version.artifact_sha256)
    if info is not None:
        return info
    try:
        info = export.export_onnx(version.artifact_path, version.artifact_sha256)
    except export.ExportRefused as exc:
        audit.record(actor, "model.export_refused", version, reason=str(exc))
        logger.warning("export of %s refused: %s", version.name, exc)
        return None
    audit.record(actor, "model.exported", version, runtime="onnx", max_abs_diff=info.max_abs_diff)
    return info
