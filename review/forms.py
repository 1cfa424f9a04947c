from django import forms
from django.utils import timezone

from accounts.models import Organisation
from detection.models import Decision, Detection

from .models import ReviewItem

AGES = {"1h": timezone.timedelta(hours=1), "24h": timezone.timedelta(hours=24), "7d": timezone.timedelta(days=7)}


class QueueFilterForm(forms.Form):
    """The queue's filters; `apply` narrows a ReviewItem queryset (and claim_next uses the same)."""

    organisation = forms.ModelChoiceField(Organisation.objects.all(), required=False, empty_label="Any")
    verdict = forms.ChoiceField(required=False, label="Detector's verdict", choices=[("", "Any"), *Detection.Label.choices])
    uncertain = forms.ChoiceField(
        required=False, label="Certainty", choices=[("", "Any"), ("yes", "Uncertain only"), ("no", "Confident only")]
    )
    age = forms.ChoiceField(
        required=False,
        label="Age",
        choices=[("", "Any"), ("1h", "Older than 1 hour"), ("24h", "Older than 24 hours"), ("7d", "Older than 7 days")],
    )
    model_version = forms.ChoiceField(required=False, label="Model version")
    state = forms.ChoiceField(
        required=False,
        label="Stage",
        choices=[("", "Any"), *[(s, label) for s, label in ReviewItem.State.choices if s != ReviewItem.State.DECIDED]],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = (
            ReviewItem.objects.exclude(detection=None)
            .order_by("detection__model_version__name")
            .values_list("detection__model_version__name", flat=True)
            .distinct()
        )
        self.fields["model_version"].choices = [("", "Any"), *[(n, n) for n in names]]

    def apply(self, qs):
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("organisation"):
            qs = qs.filter(submission__organisation=data["organisation"])
        if data.get("verdict"):
            qs = qs.filter(detection__label=data["verdict"])
        if data.get("uncertain"):
            qs = qs.filter(detection__uncertain=data["uncertain"] == "yes")
        if data.get("age"):
            qs = qs.filter(submission__created_at__lte=timezone.now() - AGES[data["age"]])
        if data.get("model_version"):
            qs = qs.filter(detection__model_version__name=data["model_version"])
        if data.get("state"):
            qs = qs.filter(state=data["state"])
        return qs

    def active(self):
        """The filters in use, as (name, value) pairs, to carry into the claim-next form."""
        if not self.is_valid():
            return []
        return [(name, self.data[name]) for name, value in self.cleaned_data.items() if value not in (None, "")]


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required for anything but authentic: what you saw, and how you checked.",
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") and data["decision"] != Decision.AUTHENTIC and not (data.get("note") or "").strip():
            self.add_error("note", "A note is required for any decision but authentic.")
        return data


class EscalateForm(forms.Form):
    note = forms.CharField(
        label="Why a second opinion?", widget=forms.Textarea(attrs={"rows": 2}), help_text="Required."
    )
    decision = forms.ChoiceField(
        required=False, label="Your own opinion, if you have one", choices=[("", "No opinion"), *Decision.choices]
    )


class ReopenForm(forms.Form):
    note = forms.CharField(label="Why reopen this decision?", widget=forms.Textarea(attrs={"rows": 2}))
