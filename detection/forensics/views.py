"""Evidence pages: derivative images behind the same visibility rule as the upload, and on-demand heatmaps."""
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST, require_safe

from .. import services
from ..models import EVIDENCE_IMAGE_KINDS, Evidence
from .receivers import enqueue_evidence


@login_required
@require_safe
def evidence_image(request, pk, kind):
    """One derivative PNG (heatmap, faces, ela, noise) of a submission the user may see."""
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    evidence = Evidence.objects.filter(submission=submission).first()
    name = evidence.image_name(kind) if evidence is not None and kind in EVIDENCE_IMAGE_KINDS else ""
    if not name or not default_storage.exists(name):
        raise Http404("no such evidence image")
    response = FileResponse(default_storage.open(name, "rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def request_heatmap(request, pk):
    """Ask for the heatmap of a result that did not get one automatically (real and certain)."""
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    enqueue_evidence(submission.pk, heatmap=True)
    return redirect("detection:submission-detail", pk=submission.pk)
