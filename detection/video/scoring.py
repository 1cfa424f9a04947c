"""Score one clip: sampled frames, their faces, the active model version in batches, and the verdict.

One clip is one unit of work, taken up by the same batched scoring task as images
(detection.services.score_many). It is resumable: each chunk of scored frames is stored (`VideoFrame`)
before the next is decoded, so a worker killed half-way leaves its frames behind and the next attempt
decodes and scores only the rest. It is idempotent: the Detection is stored once per model version
(the same unique constraint as an image's), by detection.services.
"""
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from PIL import Image

from training.preprocessing import image_to_array

from .. import storage
from ..inference import crops
from ..models import Detection, Submission, VideoFrame
from . import frames as kept_frames
from . import facesearch, reader, tracks, verdict

logger = logging.getLogger(__name__)

# Frames scored together in one run of the model (their faces together), and stored as one checkpoint.
CHUNK_FRAMES = 16
# Frames are scored at most this large: crops are cut from this copy. 720p is scored at its own size; larger
# frames shrink (the detector's input is 256 px; faces in video are rarely smaller).
SCORING_SIDE = 1280
# Faces are looked for on a copy at most this large (images: 1,024 px). The cascade's cost grows with the
# pixels and a clip has up to VERITY_VIDEO_MAX_FRAMES frames to search: one 720p frame took 0.70 s at 1,024 px
# and 0.32 s at 640 on the shared 2-core machine. Faces under 24 px at this size (1/15 of the frame's height)
# are missed. Only every few sampled frames are searched whole (facesearch.py).
DETECT_SIDE = 640
# Decoded frames waiting for the scorer: decoding runs ahead in its own thread, this far at most.
DECODE_AHEAD = 2 * CHUNK_FRAMES
THREADS = 2

_pool = None


class VideoUnreadable(Exception):
    """The stored clip cannot be decoded (it passed validation, so it changed or the decoder disagrees)."""


def _threads():
    # Created on first use in the process that scores (never before a fork). OpenCV and PyAV release the GIL.
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="video")
    return _pool


def planned_times(submission):
    """The sample times of a clip, from the settings in force: rate per second, at most the maximum."""
    return reader.sample_times(
        submission.duration_seconds or 0.0, settings.VERITY_VIDEO_SAMPLE_RATE, settings.VERITY_VIDEO_MAX_FRAMES
    )


def score_video(submission, version, detector):
    """An unsaved Detection for `submission` (a video) by `version`; frames already scored are not redone.

    Raises VideoUnreadable when the stored clip cannot be decoded, storage.StorageUnavailable when the file
    store is out of reach (the task hands the clip back for later; frames scored so far are kept).
    """
    started = time.perf_counter()
    times = planned_times(submission)
    done = set(VideoFrame.objects.filter(submission=submission, model_version=version).values_list("index", flat=True))
    _progress(submission, len(times), len(done))
    if done:
        logger.info("video %s resuming: %d of %d frames already scored", submission.pk, len(done), len(times))
    todo = [index for index in range(len(times)) if index not in done]
    timing = {"preprocess": 0.0, "inference": 0.0}
    if todo:
        try:
            data = storage.read(submission.file)
        except FileNotFoundError as exc:
            raise VideoUnreadable(f"the clip is no longer in the file store ({exc})") from exc
        _score_frames(submission, version, detector, data, [(index, times[index]) for index in todo], len(done), timing)
    rows = list(VideoFrame.objects.filter(submission=submission, model_version=version).order_by("index"))
    if not rows:
        raise VideoUnreadable("no frame of the clip could be decoded")
    return _detection(submission, version, rows, timing, started)


def _score_frames(submission, version, detector, data, wanted, already, timing):
    """Decode `wanted` [(index, time)] in a thread, score them CHUNK_FRAMES at a time, store each chunk."""
    decoded = queue.Queue(maxsize=DECODE_AHEAD)
    failure = []

    def decode():
        try:
            with reader.open_clip(data, submission.video_info.get("container", "MP4")) as clip:
                for (index, _), (t, image) in zip(wanted, clip.frames_at([t for _, t in wanted])):
                    decoded.put((index, t, image))
        except Exception as exc:  # PyAV and Pillow raise many types; the scorer reports it
            failure.append(exc)
        finally:
            decoded.put(None)

    decoder = threading.Thread(target=decode, name="video-decode", daemon=True)
    decoder.start()
    count, chunk = already, []
    while True:
        item = decoded.get()
        if item is not None:
            chunk.append(item)
        if chunk and (item is None or len(chunk) == CHUNK_FRAMES):
            count += _score_chunk(submission, version, detector, chunk, timing)
            _progress(submission, None, count)
            chunk = []
        if item is None:
            break
    decoder.join()
    if failure:
        raise VideoUnreadable(f"the clip could not be decoded after {count} frames: {failure[0]}") from failure[0]


def _scoring_size(image):
    if max(image.size) > SCORING_SIDE:
        image = image.copy()
        image.thumbnail((SCORING_SIDE, SCORING_SIDE), Image.Resampling.BILINEAR)
    return image


def _prepare(item, boxes, signature, size, max_faces, sha256):
    """(index, t, ScoringInput, frame storage name, signature) for one decoded frame (`boxes`: its faces, or
    None when faces are not scored; `signature`: its tracks.frame_signature): its faces cut, the frame kept."""
    index, t, image = item
    if boxes is not None:
        found = crops.scoring_input_from_boxes(image, size, boxes, max_faces)
    else:
        found = crops.ScoringInput([image_to_array(image, size)], crops.WHOLE_IMAGE)
    name = kept_frames.save(kept_frames.frame_name(sha256, t), image)
    return index, t, found, name, signature


def _score_chunk(submission, version, detector, chunk, timing):
    faces = getattr(settings, "VERITY_SCORE_FACES", True)
    max_faces = getattr(settings, "VERITY_MAX_FACES_SCORED", 16)
    started = time.perf_counter()
    pool = _threads()
    chunk = [(index, t, _scoring_size(image)) for index, t, image in chunk]
    images = [image for _, _, image in chunk]
    signatures = list(pool.map(tracks.frame_signature, images))  # cuts for the face search, and kept per frame
    found = facesearch.search(images, DETECT_SIDE, pool.map, signatures) if faces else [None] * len(chunk)
    prepared = list(pool.map(
        lambda item, boxes, signature: _prepare(item, boxes, signature, version.input_size, max_faces, submission.sha256),
        chunk, found, signatures,
    ))
    timing["preprocess"] += time.perf_counter() - started
    started = time.perf_counter()
    probabilities, members = detector.predict_with_members(
        np.stack([crop for _, _, found, _, _ in prepared for crop in found.crops])
    )
    timing["inference"] += time.perf_counter() - started
    rows, at = [], 0
    for index, t, found, name, signature in prepared:
        own = [float(p) for p in probabilities[at: at + len(found.crops)]]
        own_members = members[at: at + len(found.crops)] if members is not None else None
        at += len(found.crops)
        scored = [
            {"box": [round(v, 4) for v in box], "probability": round(p, 6),
             **({"members": [round(float(m), 6) for m in own_members[k]]} if own_members is not None else {})}
            for k, (box, p) in enumerate(zip(found.boxes, own))
        ]
        rows.append(VideoFrame(
            submission=submission, model_version=version, index=index, time=round(t, 4),
            probability=crops.combine(own), subject=found.subject,
            faces=sorted(scored, key=lambda face: -face["probability"]), image=name, signature=signature,
        ))
    try:
        VideoFrame.objects.bulk_create(rows)
    except IntegrityError:
        # Another worker scored some of these frames meanwhile (a redelivered task): keep theirs.
        for row in rows:
            VideoFrame.objects.get_or_create(
                submission=row.submission, model_version=row.model_version, index=row.index,
                defaults={f: getattr(row, f) for f in ("time", "probability", "subject", "faces", "image", "signature")},
            )
    return len(rows)


def _progress(submission, total, done):
    fields = {"frames_scored": done, "updated_at": timezone.now()}  # updated_at: a sign of life for the sweeper
    if total is not None:
        fields["frames_to_score"] = total
    Submission.objects.filter(pk=submission.pk).update(**fields)


def _detection(submission, version, rows, timing, started):
    from ..services import classify  # services calls into this module; import at call time

    face_scoring = getattr(settings, "VERITY_SCORE_FACES", True)
    timeline = [
        {
            "index": row.index, "t": row.time, "probability": round(row.probability, 6), "subject": row.subject,
            "faces": [{"box": face["box"], "probability": face["probability"]} for face in row.faces]
            if row.subject != crops.NO_FACE else [],
            "image": row.image,
        }
        for row in rows
    ]
    for frame, marked in zip(timeline, tracks.mark_cuts([{"signature": row.signature} for row in rows])):
        frame["cut"] = marked["cut"]
    found_faces = tracks.frames_with_faces(timeline, lambda frame: frame["subject"] != crops.NO_FACE)
    face_tracks = tracks.follow_faces(found_faces) if face_scoring else []
    if not face_scoring:
        scored_on = Detection.ScoredOn.FRAMES
        probability = verdict.top_frames([frame["probability"] for frame in timeline])
    elif not found_faces:
        scored_on = Detection.ScoredOn.NO_FACE
        probability = verdict.top_frames([frame["probability"] for frame in timeline])
    else:
        scored_on = Detection.ScoredOn.TRACKS
        probability = verdict.combine([frame["probability"] for frame in found_faces], face_tracks)
    label, uncertain, threshold = classify(probability, version, scored_on)
    deciding = _deciding_members(rows, face_tracks)
    detector_names = version.member_names
    member_scores = (
        [{"version": name, "probability": p} for name, p in zip(detector_names, deciding)] if deciding else []
    )
    now = timezone.now()
    return Detection(
        submission=submission,
        model_version=version,
        probability=float(probability),
        label=label,
        uncertain=uncertain,
        threshold=threshold,
        scored_on=scored_on,
        faces=[track["best"] | {"track": track["id"]} for track in face_tracks][:16],
        member_scores=member_scores,
        timeline=timeline,
        tracks=face_tracks,
        segments=verdict.segments(timeline, submission.duration_seconds or 0.0),
        preprocess_ms=timing["preprocess"] * 1000,
        inference_ms=timing["inference"] * 1000,
        total_ms=(now - submission.created_at).total_seconds() * 1000,
    )


def _deciding_members(rows, face_tracks):
    """An ensemble's member scores on the face that decided (the top track's best frame), or []."""
    if not face_tracks:
        return []
    best = face_tracks[0]["best"]
    for row in rows:
        if row.index == best["index"]:
            for face in row.faces:
                if face["box"] == best["box"]:
                    return face.get("members", [])
    return []
