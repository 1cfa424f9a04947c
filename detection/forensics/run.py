"""Compute and store every forensic signal of a submission; each signal fails on its own."""
import logging

from django.db import IntegrityError
from django.utils import timezone

from .. import storage
from ..inference.runtime import ModelUnavailable, get_detector
from ..models import Evidence, Submission
from . import content_credentials, ela, faces, heatmap, metadata
from .imaging import open_working_image
from .limits import capture, signal_seconds, time_limit

logger = logging.getLogger(__name__)

HEATMAP_SKIPPED = "computed only for fake or uncertain results: ask for it on the submission page"
NOT_SCORED = "the submission has not been scored yet"
PIXEL_SIGNALS = ("heatmap", "faces", "error_levels")
SIGNALS = ("metadata", "content_credentials") + PIXEL_SIGNALS
IMAGE_FIELDS = {"heatmap": ("heatmap_image",), "faces": ("faces_image",), "error_levels": ("ela_image", "noise_image")}


def heatmap_wanted(detection):
    return detection is not None and (detection.label == detection.Label.FAKE or detection.uncertain)


def compute(submission_id, heatmap_requested=None):
    """Compute the evidence of one submission and store it. Safe to run twice: done work is not redone.

    `heatmap_requested`: True forces the heatmap, None computes it for fake or uncertain results only.
    Returns the Evidence, or None when the submission is gone.
    """
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None:
        logger.info("submission %s no longer exists; no evidence to compute", submission_id)
        return None
    detection = submission.latest_detection
    evidence = _evidence_for(submission)
    want_heatmap = bool(heatmap_requested) or heatmap_wanted(detection)
    if _up_to_date(evidence, detection, want_heatmap):
        return evidence

    Evidence.objects.filter(pk=evidence.pk).update(status=Evidence.Status.PENDING)
    signals = _compute_signals(submission, detection, want_heatmap)
    evidence.detection = detection
    evidence.status = Evidence.Status.DONE
    evidence.computed_at = timezone.now()
    for field, result in signals.items():
        for key in [k for k in result if k.startswith("_")]:
            setattr(evidence, key[1:], result.pop(key))  # "_ela_image" -> evidence.ela_image
        setattr(evidence, field, result)
    for field, image_fields in IMAGE_FIELDS.items():
        if getattr(evidence, field).get("status") != "ok":
            for image_field in image_fields:
                setattr(evidence, image_field, "")  # an image from an earlier run or model version would mislead
    evidence.save()
    return evidence


def _evidence_for(submission):
    try:
        return Evidence.objects.get_or_create(submission=submission)[0]
    except IntegrityError:  # another worker created it at the same moment
        return Evidence.objects.get(submission=submission)


def _up_to_date(evidence, detection, want_heatmap):
    if evidence.status != Evidence.Status.DONE or evidence.detection_id != (detection.pk if detection else None):
        return False
    return not (want_heatmap and evidence.heatmap.get("status") == "skipped")


def _compute_signals(submission, detection, want_heatmap):
    try:
        data = storage.read(submission.file)
    except OSError as exc:
        failure = {"status": "error", "error": f"the stored image could not be read: {exc}"}
        return {name: dict(failure) for name in SIGNALS}
    if submission.is_video:
        from ..video import evidence as video_evidence

        detector, unavailable = _detector(detection)
        return video_evidence.signals(submission, detection, data, detector, unavailable)

    signals = {
        "metadata": capture("metadata", metadata.read, data),
        "content_credentials": capture("Content Credentials", content_credentials.read, data, submission.content_type),
    }
    working, error = _decode(data)
    if working is None:
        signals.update({name: {"status": "error", "error": error} for name in PIXEL_SIGNALS})
        return signals

    signals["error_levels"] = capture("error-level analysis", ela.compute, working, submission.pk)
    detector, unavailable = _detector(detection)
    if detector is None:
        signals.update(faces=dict(unavailable), heatmap=dict(unavailable))
    else:
        probability = round(detection.probability, 4)
        signals["faces"] = capture("face detection", faces.compute, detector, working, submission.pk, probability)
        if want_heatmap:
            signals["heatmap"] = capture("heatmap", heatmap.compute, detector, data, working, submission.pk)
        else:
            signals["heatmap"] = {"status": "skipped", "message": HEATMAP_SKIPPED}
    for name in PIXEL_SIGNALS:  # say on each pixel signal that later frames were not looked at
        if working.notes and signals[name].get("status") in ("ok", "not_applicable"):
            signals[name]["limits"] = working.notes + signals[name].get("limits", [])
    return signals


def _decode(data):
    """(working image, None) or (None, why not), within the signal time budget."""
    try:
        with time_limit(signal_seconds()):
            return open_working_image(data), None
    except Exception as exc:  # Pillow raises many types for a damaged or hostile file
        return None, f"the image could not be decoded for analysis: {str(exc)[:300]}"


def _detector(detection):
    """(detector, None) or (None, a signal result saying why there is none)."""
    if detection is None:
        return None, {"status": "skipped", "message": NOT_SCORED}
    try:
        return get_detector(detection.model_version), None
    except ModelUnavailable as exc:
        return None, {"status": "error", "error": str(exc)}
