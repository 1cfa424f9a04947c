"""Review pages: the queue, one item's decision page, and how often moderators agree with the detector.

Thin: every change goes through review.services; these views read forms and pick a page to show.
"""
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from audit.models import AuditEvent

from . import services
from .forms import DecisionForm, EscalateForm, QueueFilterForm, ReopenForm
from .models import ReviewItem
from .permissions import resolver_required, reviewer_required

PAGE_SIZE = 25


@reviewer_required
@require_safe
def queue(request):
    form = QueueFilterForm(request.GET or None)
    now = timezone.now()
    waiting = services.waiting_items()
    matching = form.apply(waiting)
    items = services.in_queue_order(
        matching.select_related("submission__organisation", "detection__model_version", "claimed_by"),
        disputed_first=services.can_resolve(request.user),
    )
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    live_claim = Q(claimed_by__isnull=False, claim_expires_at__gt=now)
    counts = waiting.aggregate(
        waiting=Count("pk"),
        open=Count("pk", filter=Q(state=ReviewItem.State.OPEN)),
        escalated=Count("pk", filter=Q(state=ReviewItem.State.ESCALATED)),
        disputed=Count("pk", filter=Q(state=ReviewItem.State.DISPUTED)),
        claimed=Count("pk", filter=live_claim),
        uncertain=Count("pk", filter=Q(detection__uncertain=True)),
    )
    counts["stages"] = [
        (n, what)
        for n, what in ((counts["open"], "new"), (counts["escalated"], "for a second opinion"), (counts["disputed"], "disputed"))
        if n
    ]
    counts["matching"] = matching.count()
    counts["claimable"] = form.apply(services.claimable_by(request.user, now)).count()
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "review/queue.html",
        {
            "form": form,
            "page": page,
            "counts": counts,
            "now": now,
            "query": query.urlencode(),
            "current": services.current_claim(request.user, now),
        },
    )


@reviewer_required
@require_POST
def claim_next(request):
    form = QueueFilterForm(request.POST)
    item = services.claim_next(request.user, filters=form.apply)
    if item is None:
        messages.info(request, "Nothing left to review with these filters.")
        return redirect(_queue_url(form))
    return redirect("review:item", pk=item.pk)


@reviewer_required
@require_safe
def item_detail(request, pk):
    item = get_object_or_404(ReviewItem, pk=pk)
    return _render_item(request, item)


@reviewer_required
@require_POST
def claim(request, pk):
    item = get_object_or_404(ReviewItem, pk=pk)
    return _act(request, item, lambda: services.claim(item.pk, request.user), "You are reviewing this item.")


@reviewer_required
@require_POST
def release(request, pk):
    item = get_object_or_404(ReviewItem.objects.select_related("submission"), pk=pk)
    return _act(
        request,
        item,
        lambda: services.release(item.pk, request.user),
        f"{item.submission.original_name} is back in the queue.",
        then="review:queue",
    )


@reviewer_required
@require_POST
def decide(request, pk):
    item = get_object_or_404(ReviewItem.objects.select_related("submission"), pk=pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _render_item(request, item, decision_form=form, status=400)
    try:
        item = services.decide(item.pk, request.user, form.cleaned_data["decision"], form.cleaned_data["note"])
    except services.ClaimedByAnother:
        raise
    except services.ReviewError as exc:
        messages.error(request, str(exc))
        return redirect("review:item", pk=item.pk)
    if item.state == ReviewItem.State.DISPUTED:
        messages.warning(request, f"{item.submission.original_name}: your opinion differs from the first one; an admin will decide.")
    else:
        messages.success(request, f"{item.submission.original_name}: decided {item.get_decision_display()}.")
    if request.POST.get("then") == "next":
        following = services.claim_next(request.user)
        if following is not None:
            return redirect("review:item", pk=following.pk)
        messages.info(request, "Nothing left to review.")
    return redirect("review:queue")


@reviewer_required
@require_POST
def escalate(request, pk):
    item = get_object_or_404(ReviewItem.objects.select_related("submission"), pk=pk)
    form = EscalateForm(request.POST, prefix="escalate")
    if not form.is_valid():
        return _render_item(request, item, escalate_form=form, status=400)
    return _act(
        request,
        item,
        lambda: services.escalate(item.pk, request.user, form.cleaned_data["note"], form.cleaned_data["decision"]),
        f"{item.submission.original_name} goes to a second moderator.",
        then="review:queue",
    )


@resolver_required
@require_POST
def reopen(request, pk):
    item = get_object_or_404(ReviewItem.objects.select_related("submission"), pk=pk)
    form = ReopenForm(request.POST, prefix="reopen")
    if not form.is_valid():
        return _render_item(request, item, reopen_form=form, status=400)
    return _act(
        request, item, lambda: services.reopen(item.pk, request.user, form.cleaned_data["note"]), "The decision is reopened."
    )


@reviewer_required
@require_safe
def agreement(request):
    return render(request, "review/agreement.html", {"rows": services.agreement_by_model_version()})


def _act(request, item, operation, success, then=None):
    try:
        operation()
    except services.ClaimedByAnother:
        raise  # a PermissionDenied: 403
    except services.ReviewError as exc:
        messages.error(request, str(exc))
        return redirect("review:item", pk=item.pk)
    messages.success(request, success)
    return redirect(then) if then else redirect("review:item", pk=item.pk)


def _render_item(request, item, decision_form=None, escalate_form=None, reopen_form=None, status=200):
    item = ReviewItem.objects.select_related(
        "submission__organisation", "submission__uploader", "detection__model_version", "claimed_by", "decided_by"
    ).get(pk=item.pk)
    now = timezone.now()
    submission, detection = item.submission, item.detection
    history = AuditEvent.objects.filter(target_type="detection.submission", target_id=str(submission.pk)).order_by("id")
    context = {
        "item": item,
        "submission": submission,
        "detection": detection,
        "mine": item.claimed_by_id == request.user.pk and not item.is_closed,
        "claimed_by_other": item.claim_is_live(now) and item.claimed_by_id != request.user.pk,
        "can_claim": services.claimable_by(request.user, now).filter(pk=item.pk).exists(),
        "can_resolve": services.can_resolve(request.user),
        "decisions": item.decisions.select_related("moderator"),
        "history": history,
        # The evidence card (heatmap, faces, metadata, error levels) reloads its page while it is being
        # computed, which would throw away a note being typed: shown here once it is complete.
        "evidence_ready": _evidence_ready(submission),
        "decision_form": decision_form or DecisionForm(),
        "escalate_form": escalate_form or EscalateForm(prefix="escalate"),
        "reopen_form": reopen_form or ReopenForm(prefix="reopen"),
    }
    return render(request, "review/item.html", context, status=status)


def _evidence_ready(submission):
    try:
        summary = submission.evidence.as_summary
    except ObjectDoesNotExist:
        return False
    return bool(summary) and summary.get("status") == "done"


def _queue_url(form):
    active = form.active()
    url = reverse("review:queue")
    return f"{url}?{urlencode(active)}" if active else url
