"""The audit page (filtered by actor, action, object and time) and its CSV export."""
import csv
import json

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

import audit

from .forms import AuditFilterForm
from .models import AuditEvent

PAGE_SIZE = 50
CSV_COLUMNS = ["id", "created_at", "actor", "action", "target_type", "target_id", "target_label", "data", "prev_hash", "hash"]


def _filtered(request):
    form = AuditFilterForm(request.GET or None)
    return form, form.filter(AuditEvent.objects.order_by("-id"))


@login_required
@permission_required("audit.view_auditevent", raise_exception=True)
@require_GET
def event_list(request):
    form, events = _filtered(request)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/event_list.html",
        {"form": form, "page": page, "query": query.urlencode(), "actions": _known_actions()},
    )


@login_required
@permission_required("audit.view_auditevent", raise_exception=True)
@require_GET
def event_export(request):
    """CSV of the filtered events, streamed; the export itself is audited."""
    form, events = _filtered(request)
    audit.record(request.user, "audit.exported", None, filters={k: v for k, v in request.GET.items() if v})

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for e in events.iterator(chunk_size=2000):
            yield writer.writerow(
                [e.pk, e.created_at.isoformat(), e.actor_label, e.action, e.target_type, e.target_id,
                 e.target_label, _json(e.data), e.prev_hash, e.hash]
            )  # fmt: skip

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="verity-audit-{stamp}.csv"'
    return response


def _json(data):
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def _known_actions():
    return list(AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct()[:200])
