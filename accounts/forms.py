from django import forms

from .models import ApiKey


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Name",
        help_text="What the key is for, e.g. “newsroom-bot” or “production ingest”. Uploads it sends show this name.",
    )
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices,
        initial=[ApiKey.Scope.SUBMIT, ApiKey.Scope.READ],
        widget=forms.CheckboxSelectMultiple,
        label="What it may do",
        error_messages={"required": "Choose at least one: submit images, read results or both."},
    )

    def clean_name(self):
        name = self.cleaned_data["name"]
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise forms.ValidationError("Use letters, digits, spaces and punctuation only.")
        return name
