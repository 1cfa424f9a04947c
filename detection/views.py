"""Portal pages: upload, the organisation's submissions with live status, one submission's verdict."""
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import FileResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from . import services, storage
from .forms import UploadForm
from .models import Submission

STATUS_POLL_LIMIT = 100


@login_required
@permission_required("detection.add_submission", raise_exception=True)
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
            form = UploadForm()
    else:
        form = UploadForm()
    return render(request, "detection/upload.html", {"form": form, "result": result})


@login_required
def submission_list(request):
    qs = services.visible_submissions(request.user).prefetch_related("detections__model_version")
    status = request.GET.get("status")
    if status in Submission.Status.values:
        qs = qs.filter(status=status)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "detection/submission_list.html",
        {"page": page, "status": status, "statuses": Submission.Status.choices},
    )


@login_required
def submission_detail(request, pk):
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    return render(
        request,
        "detection/submission_detail.html",
        {"submission": submission, "detection": submission.latest_detection},
    )


@login_required
def submission_image(request, pk):
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    response = FileResponse(storage.open_file(submission.file), content_type=submission.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
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


def status_payload(submission):
    detection = submission.latest_detection
    payload = {
        "id": str(submission.pk),
        "status": submission.status,
        "status_display": submission.get_status_display(),
        "failure_reason": submission.failure_reason,
        "finished": submission.is_settled,
    }
    if detection is not None:
        payload.update(
            label=detection.label,
            probability=round(detection.probability, 4),
            uncertain=detection.uncertain,
            model_version=detection.model_version.name,
            model_trained=detection.model_version.is_trained,
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
    )
    return payload
