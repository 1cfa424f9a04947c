"""Detection's business operations: submit an image, score a submission, and who may see what."""
import logging
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from training import registry
from training.preprocessing import load_image

from . import storage
from .inference.runtime import ModelUnavailable, get_detector
from .models import Detection, Submission
from .signals import submission_scored
from .validation import InvalidImage, read_upload, validate_image

logger = logging.getLogger(__name__)


@dataclass
class UploadResult:
    """What happened to each file of one upload: accepted submissions and per-file rejections."""

    accepted: list = field(default_factory=list)
    rejected: list = field(default_factory=list)  # (file name, reason)


def submit(*, data, name, uploader=None, organisation=None, source=Submission.Source.PORTAL, enqueue=True):
    """Validate and store one image, create its queued Submission and enqueue scoring after commit.

    `data` is bytes or an uploaded file (an oversized file is refused before it is read).
    Raises InvalidImage (and records the rejection) when the bytes are not an acceptable image;
    nothing is stored in that case.
    """
    if organisation is None and uploader is not None:
        organisation = uploader.organisation
    try:
        image = validate_image(read_upload(data), name)
    except InvalidImage as exc:
        audit.record(uploader, "submission.rejected", None, name=str(name)[:255], reason=str(exc), source=source)
        raise
    stored_name = storage.store(image)
    with transaction.atomic():
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
        )
        audit.record(uploader, "submission.uploaded", submission, sha256=image.sha256, source=source)
        if enqueue:
            transaction.on_commit(lambda: enqueue_scoring(submission.pk))
    return submission


def submit_many(files, *, uploader=None, organisation=None, source=Submission.Source.PORTAL):
    """Submit several (name, bytes or file) uploads; one bad file never stops the others."""
    result = UploadResult()
    for name, data in files:
        try:
            result.accepted.append(
                submit(data=data, name=name, uploader=uploader, organisation=organisation, source=source)
            )
        except InvalidImage as exc:
            result.rejected.append((name, str(exc)))
    return result


def enqueue_scoring(submission_id):
    """Send the scoring task; with the broker down the submission stays queued and is sent again later."""
    from .tasks import score_submission

    try:
        score_submission.delay(str(submission_id))
    except Exception as exc:  # kombu raises OperationalError and friends when the broker is unreachable
        logger.warning("could not enqueue scoring of %s, it stays queued: %s", submission_id, exc)
        Submission.objects.filter(pk=submission_id).update(enqueue_pending=True)
        return False
    Submission.objects.filter(pk=submission_id, enqueue_pending=True).update(enqueue_pending=False)
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
    """Score one submission with the active model version. Safe to run twice.

    Returns the Detection, or None when the submission is gone or has failed.
    """
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None:
        logger.info("submission %s no longer exists; nothing to score", submission_id)
        return None
    version = registry.active_version()
    existing = Detection.objects.filter(submission=submission, model_version=version).first()
    if existing is not None:
        _mark_scored(submission, existing)
        return existing

    Submission.objects.filter(pk=submission.pk).exclude(status=Submission.Status.SCORED).update(
        status=Submission.Status.PROCESSING, updated_at=timezone.now()
    )
    try:
        detector = get_detector(version)  # loads the model on this process's first task
    except ModelUnavailable as exc:
        return _fail(submission, f"the detector is unavailable: {exc}")
    started = time.perf_counter()
    try:
        pixels = load_image(storage.read(submission.file), version.input_size)
    except (OSError, ValueError) as exc:
        return _fail(submission, f"the stored image could not be read: {exc}")
    preprocessed = time.perf_counter()
    probability = float(detector.predict(pixels)[0])
    inferred = time.perf_counter()

    detection, created = _store_detection(
        submission,
        version,
        probability,
        preprocess_ms=(preprocessed - started) * 1000,
        inference_ms=(inferred - preprocessed) * 1000,
    )
    if created:
        audit.record(
            None,
            "submission.scored",
            submission,
            label=detection.label,
            probability=round(probability, 6),
            uncertain=detection.uncertain,
            model_version=version.name,
        )
        submission_scored.send(sender=Submission, submission=submission, detection=detection)
    return detection


def classify(probability, version):
    """Label and uncertain flag for a probability under a version's threshold and band."""
    threshold = version.threshold
    label = Detection.Label.FAKE if probability >= threshold else Detection.Label.REAL
    uncertain = abs(probability - threshold) < version.uncertain_band
    return label, uncertain, threshold


def _store_detection(submission, version, probability, *, preprocess_ms, inference_ms):
    label, uncertain, threshold = classify(probability, version)
    now = timezone.now()
    with transaction.atomic():
        detection, created = Detection.objects.get_or_create(
            submission=submission,
            model_version=version,
            defaults=dict(
                probability=probability,
                label=label,
                uncertain=uncertain,
                threshold=threshold,
                preprocess_ms=preprocess_ms,
                inference_ms=inference_ms,
                total_ms=(now - submission.created_at).total_seconds() * 1000,
            ),
        )
        _mark_scored(submission, detection)
    return detection, created


def _mark_scored(submission, detection):
    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.SCORED, scored_at=detection.created_at, failure_reason="", updated_at=timezone.now()
    )
    submission.refresh_from_db()


def _fail(submission, reason):
    logger.warning("scoring %s failed: %s", submission.pk, reason)
    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.FAILED, failure_reason=reason, updated_at=timezone.now()
    )
    audit.record(None, "submission.failed", submission, reason=reason)
    return None


def visible_submissions(user):
    """The submissions a signed-in user may see: their organisation's, or all for moderators and admins."""
    qs = Submission.objects.select_related("uploader", "organisation")
    if user.is_superuser or user.has_perm("detection.view_all_submissions"):
        return qs
    if user.organisation_id is None:
        return qs.filter(uploader=user)
    return qs.filter(organisation_id=user.organisation_id)
