from datetime import datetime, time

from django import forms
from django.db.models import Q
from django.utils import timezone

from . import labels


class AuditFilterForm(forms.Form):
    """Filters of the audit page and its CSV export: actor, action, object and time."""

    actor = forms.CharField(
        required=False, label="Who", help_text="email, or part of it",
        widget=forms.TextInput(attrs={"list": "audit-actors", "autocomplete": "off"}),
    )  # fmt: skip
    # A code ("review.decided") or an area ending in a dot ("review." for every review action); the menu
    # offers the codes in words, and any code still filters (an exported link, a code not yet recorded).
    action = forms.CharField(required=False, label="What", widget=forms.Select())
    target = forms.CharField(
        required=False, label="Object", help_text="file name, email, id, or a type such as detection.submission"
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, actions=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "Any action")]
        areas = {}
        for code in actions:
            areas.setdefault(code.partition(".")[0], []).append(code)
        for area, codes in areas.items():
            name = labels.area_label(area)
            group = [(f"{area}.", f"All: {name.lower()}")] + [(c, labels.action_label(c)) for c in codes]
            choices.append((name, group))
        chosen = self.data.get("action") if self.is_bound else None
        if chosen and chosen not in actions and chosen.rstrip(".") not in areas:
            choices.append((chosen, labels.action_label(chosen)))  # keep a code given in the address selected
        self.fields["action"].widget.choices = choices

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
