"""The audit page (filtered by actor, action, object and time) and its CSV export."""
import csv
import json

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.views.decorators.http import require_safe

import audit

from . import labels
from .forms import AuditFilterForm
from .models import AuditEvent

PAGE_SIZE = 30
CSV_COLUMNS = ["id", "created_at", "actor", "action", "target_type", "target_id", "target_label", "data", "prev_hash", "hash"]


def _filtered(request, actions=()):
    form = AuditFilterForm(request.GET or None, actions=actions)
    return form, form.filter(AuditEvent.objects.order_by("-id"))


@login_required
@permission_required("audit.view_auditevent", raise_exception=True)
@require_safe
def event_list(request):
    """The trail, newest first, a page at a time and grouped by day, each action in words."""
    form, events = _filtered(request, actions=_known_actions())
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/event_list.html",
        {"form": form, "page": page, "days": _by_day(page.object_list), "query": query.urlencode(),
         "actors": _known_actors(), "filtered": any(v for k, v in request.GET.items() if k != "page")},
    )  # fmt: skip


@login_required
@permission_required("audit.view_auditevent", raise_exception=True)
@require_safe
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


def _known_actors():
    actors = AuditEvent.objects.exclude(actor_label="").order_by("actor_label").values_list("actor_label", flat=True)
    return list(actors.distinct()[:200])


def _by_day(events):
    """[(local date, [event, ...]), ...] in the order given, each event with its action and object in words."""
    days = []
    for event in events:
        event.action_label = labels.event_label(event)
        event.target_kind = labels.target_label(event.target_type) if event.target_type else ""
        readable = {key: _readable(value) for key, value in (event.data or {}).items() if value not in ("", None, [], {})}
        event.details = [(key.replace("_", " "), _short(text), text) for key, text in readable.items()]
        day = timezone.localtime(event.created_at).date()
        if not days or days[-1][0] != day:
            days.append((day, []))
        days[-1][1].append(event)
    return days


def _readable(value):
    """A recorded value as a reader writes it: lists joined by commas, a mapping as "key: value" pairs, yes or no,
    a recorded moment as a date and time in the site's zone; never Python's repr (['read', 'submit'], True,
    {'a': 1}) nor ISO 8601 with microseconds."""
    if isinstance(value, str):
        moment = _moment(value)
        return value if moment is None else date_format(moment, "j F Y, H:i:s")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_readable(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{str(k).replace('_', ' ')}: {_readable(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0])))
    return "" if value is None else str(value)


def _moment(text):
    """The timezone-aware datetime an ISO 8601 string records (as `audit.record` stores one), or None."""
    if len(text) < 19 or text[10:11] != "T":
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        return None
    if moment is None or timezone.is_naive(moment):
        return None
    return timezone.localtime(moment)


def _short(value):
    """A hash or path cut to its start (the page is for reading; the CSV export has every character)."""
    text = str(value)
    return f"{text[:12]}…" if len(text) > 40 and " " not in text else text
