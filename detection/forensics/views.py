"""Evidence pages: derivative images behind the same visibility rule as the upload, and on-demand heatmaps."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST, require_safe

from .. import services, storage
from ..models import EVIDENCE_IMAGE_KINDS, Evidence
from .receivers import enqueue_evidence


@login_required
@require_safe
def evidence_image(request, pk, kind):
    """One derivative PNG (heatmap, faces, ela, noise) of a submission the user may see."""
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    evidence = Evidence.objects.filter(submission=submission).first()
    name = evidence.image_name(kind) if evidence is not None and kind in EVIDENCE_IMAGE_KINDS else ""
    return storage.file_response(name, "image/png", max_age=3600, missing="no such evidence image")


@login_required
@require_POST
def request_heatmap(request, pk):
    """Ask for the heatmap of a result that did not get one automatically (real and certain)."""
    submission = get_object_or_404(services.visible_submissions(request.user), pk=pk)
    enqueue_evidence(submission.pk, heatmap=True)
    return redirect("detection:submission-detail", pk=submission.pk)
