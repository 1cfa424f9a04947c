from datetime import datetime, time

from django import forms
from django.db.models import Q
from django.utils import timezone


class AuditFilterForm(forms.Form):
    """Filters of the audit page and its CSV export: actor, action, object and time."""

    actor = forms.CharField(required=False, label="Actor", help_text="email, or part of it")
    action = forms.CharField(
        required=False,
        label="Action",
        help_text="e.g. review.decided, or review. for all review actions",
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
    )
    target = forms.CharField(required=False, label="Object", help_text="id, name, or type such as detection.submission")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"}))

    def filter(self, qs):
        """`qs` narrowed by the valid filters (an invalid form filters nothing it could not read)."""
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("actor"):
            qs = qs.filter(actor_label__icontains=data["actor"])
        if data.get("action"):
            action = data["action"]
            qs = qs.filter(action__startswith=action) if action.endswith(".") else qs.filter(action=action)
        if data.get("target"):
            target = data["target"].strip()
            qs = qs.filter(Q(target_id=target) | Q(target_type=target) | Q(target_label__icontains=target))
        tz = timezone.get_current_timezone()
        if data.get("since"):
            qs = qs.filter(created_at__gte=datetime.combine(data["since"], time.min, tzinfo=tz))
        if data.get("until"):
            qs = qs.filter(created_at__lte=datetime.combine(data["until"], time.max, tzinfo=tz))
        return qs
