"""Portal views of a clip: the clip itself (seekable), its poster, sampled frames, and the faces that drove it.

Every one checks that the user may see the submission (detection.services.visible_submissions), like the
image views. Frames and faces are JPEGs Verity made from bare pixels: they carry no metadata.
"""
import io
import re

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_safe
from .. import services, storage
from . import frames

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def visible_video(user, pk):
    submission = get_object_or_404(services.visible_submissions(user), pk=pk)
    if not submission.is_video:
        raise Http404("not a video")
    return submission


def clip_response(request, submission):
    """The stored clip with its content type, answering a single byte range (browsers seek with them)."""
    size = submission.size_bytes
    match = RANGE.match(request.headers.get("Range", ""))
    if not match or not any(match.groups()):
        response = FileResponse(storage.open_file(submission.file), content_type=submission.content_type)
    else:
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:  # bytes=-N: the last N bytes
            start, end = max(0, size - int(last)), size - 1
        if start > end or start >= size:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        with storage.open_file(submission.file) as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
        response = HttpResponse(body, status=206, content_type=submission.content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(len(body))
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_safe
def clip(request, pk):
    return clip_response(request, visible_video(request.user, pk))


def _jpeg(name):
    return storage.file_response(name, "image/jpeg", max_age=86400, missing="no such frame")


@login_required
@require_safe
def poster(request, pk):
    return _jpeg(visible_video(request.user, pk).video_info.get("poster"))


def frame_name(submission, index):
    detection = submission.latest_detection
    timeline = detection.timeline if detection else []
    if not 0 <= index < len(timeline):
        raise Http404("no such frame")
    return timeline[index]["image"]


@login_required
@require_safe
def frame(request, pk, index):
    return _jpeg(frame_name(visible_video(request.user, pk), index))


def face_crop(submission, track_id):
    """A JPEG of a track's most suspicious face, cut (with some margin) from its sampled frame."""
    detection = submission.latest_detection
    track = next((t for t in (detection.tracks if detection else []) if t["id"] == track_id), None)
    if track is None:
        raise Http404("no such face track")
    image = frames.open_frame(detection.timeline[track["best"]["index"]]["image"])
    buffer = io.BytesIO()
    image.crop(frames.face_region(track["best"]["box"], image.size)).save(buffer, "JPEG", quality=frames.JPEG_QUALITY)
    return buffer.getvalue()


@login_required
@require_safe
def face(request, pk, track):
    response = HttpResponse(face_crop(visible_video(request.user, pk), track), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_safe
def face_heatmap(request, pk, track):
    submission = visible_video(request.user, pk)
    evidence = getattr(submission, "evidence", None)
    faces = (evidence.heatmap.get("faces") or []) if evidence is not None else []
    name = next((f["image"] for f in faces if f.get("track") == track), "")
    return storage.file_response(name, "image/png", max_age=3600, missing="no heatmap for this face")
