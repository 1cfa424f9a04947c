"""Portal pages: upload, the organisation's submissions with live status, one submission's verdict."""
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_safe

from . import presentation, report, services, storage
from .forensics.imaging import open_working_image
from .forms import UploadForm
from .models import Submission

STATUS_POLL_LIMIT = 100
STORAGE_UNAVAILABLE_MESSAGE = (
    "Images cannot be stored right now, so the files listed below were not uploaded. Please try again in a few minutes."
)


@login_required
@permission_required("detection.add_submission", raise_exception=True)
@require_http_methods(["GET", "HEAD", "POST"])
def upload(request):
    result = None
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            result = services.submit_many(
                [(f.name, f) for f in form.cleaned_data["images"]],
                uploader=request.user,
                source=Submission.Source.PORTAL,
                review_requested=form.cleaned_data["request_review"],
            )
            _note_earlier_uploads(request.user, result.accepted)
            if result.storage_unavailable:
                messages.error(request, STORAGE_UNAVAILABLE_MESSAGE)
            form = UploadForm()
    else:
        form = UploadForm()
    return render(request, "detection/upload.html", {"form": form, "result": result})


def _note_earlier_uploads(user, submissions):
    """Give each new submission `.earlier`: the first one the user can see of the same file (same SHA-256), if any."""
    earlier = {}
    visible = services.visible_submissions(user).filter(sha256__in={s.sha256 for s in submissions}).order_by("created_at")
    for previous in visible.select_related(None).only("pk", "sha256", "original_name", "created_at"):
        earlier.setdefault(previous.sha256, previous)
    for submission in submissions:
        first = earlier.get(submission.sha256)
        submission.earlier = first if first is not None and first.pk != submission.pk else None


@login_required
@require_safe
def submission_list(request):
    qs = services.visible_submissions(request.user).prefetch_related("detections__model_version")
    status = request.GET.get("status")
    if status in Submission.Status.values:
        qs = qs.filter(status=status)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "detection/submission_list.html",
        {
            "page": page,
            "status": status,
            "status_query": urlencode({"status": status}) if status else "",
            "statuses": Submission.Status.choices,
        },
    )


@login_required
@require_safe
def submission_detail(request, pk):
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    detection = submission.latest_detection
    return render(
        request,
        "detection/submission_detail.html",
        {"submission": submission, "detection": detection, "state": state_key(submission, detection)},
    )


@login_required
@require_safe
def submission_image(request, pk):
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    return storage.file_response(submission.file, submission.content_type, max_age=3600, missing="no such image")


THUMBNAIL_SIDE = 160


@login_required
@require_safe
def submission_thumbnail(request, pk):
    """A small JPEG of the image for lists (made once per stored file, kept beside it, no metadata)."""
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    name = f"thumbnails/{submission.sha256[:2]}/{submission.sha256}-{THUMBNAIL_SIDE}.jpg"
    if not default_storage.exists(name):
        try:
            # A clip's thumbnail is made from its poster frame.
            source = submission.video_info.get("poster") if submission.is_video else submission.file
            working = open_working_image(storage.read(source), max_side=THUMBNAIL_SIDE)
        except Exception as exc:  # Pillow raises many types for a damaged file; the list shows no thumbnail
            raise Http404("no thumbnail for this image") from exc
        buffer = io.BytesIO()
        working.image.save(buffer, "JPEG", quality=80)
        if not default_storage.exists(name):  # another request may have made it meanwhile
            default_storage.save(name, ContentFile(buffer.getvalue()))
    return storage.file_response(name, "image/jpeg", max_age=86400)


@login_required
@require_safe
def submission_status(request):
    """Status of the given submissions, for the list page's live updates."""
    ids = [i for i in request.GET.get("ids", "").split(",") if i][:STATUS_POLL_LIMIT]
    valid_ids = []
    for i in ids:
        try:
            valid_ids.append(Submission._meta.pk.to_python(i))
        except Exception:
            continue
    qs = services.visible_submissions(request.user).filter(pk__in=valid_ids).prefetch_related("detections__model_version")
    return JsonResponse({"submissions": [status_payload(s) for s in qs]})


def state_key(submission, detection):
    """What the submission page shows, in one string: the page refreshes its verdict when this changes.

    A clip being scored changes it with every chunk of frames, so its progress ("frame 48 of 120") shows.
    """
    progress = [str(submission.frames_scored)] if submission.is_video else []
    return "|".join([submission.status, submission.review_state, submission.decision, str(detection.pk if detection else "")] + progress)


def status_payload(submission):
    """One submission's live status: the raw fields, and the verdict as the pages word it."""
    detection = submission.latest_detection
    payload = {
        "id": str(submission.pk),
        "state": state_key(submission, detection),
        "status": submission.status,
        "status_display": submission.get_status_display(),
        "failure_reason": submission.failure_reason,
        "finished": submission.is_settled,
    }
    if submission.is_video:
        payload["progress"] = {"frames_scored": submission.frames_scored, "frames_to_score": submission.frames_to_score}
    if detection is not None:
        payload.update(
            label=detection.label,
            probability=round(detection.probability, 4),
            uncertain=detection.uncertain,
            model_version=detection.model_version.name,
            model_trained=detection.model_version.is_trained,
            verdict=presentation.describe(detection).as_dict(),
        )
    # The final verdict: a moderator's decision when there is one, otherwise the detector's label.
    verdict, source = submission.final_verdict
    payload.update(
        final_verdict=verdict,
        final_verdict_source=source,
        under_review=submission.review_state == "open",
        decided_by=submission.decided_by.get_username() if submission.decision and submission.decided_by else None,
        decided_at=submission.decided_at.isoformat() if submission.decision and submission.decided_at else None,
        decision_display=submission.get_decision_display() if submission.decision else None,
        # The list's verdict cell as the list page renders it, so that a live update reads like a reload.
        verdict_html=render_to_string("detection/_verdict.html", {"s": submission, "d": detection}).strip(),
    )
    return payload


@login_required
@require_safe
def submission_report(request, pk):
    """The verdict report as a page (printable: static/css/print.css)."""
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    return render(request, "detection/report.html", {"report": report.build_report(submission)})


@login_required
@require_safe
def submission_report_pdf(request, pk):
    """The verdict report as a PDF download."""
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    return report.pdf_response(report.build_report(submission))
