from django import forms
from django.conf import settings

from .validation import ACCEPTED_FORMATS, allowed_extensions
from .video.probe import ACCEPTED_VIDEO, VIDEO_EXTENSIONS


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """A file field that accepts several files; per-file checks happen in detection.validation."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ",".join(sorted(set(allowed_extensions()) | VIDEO_EXTENSIONS | {".gif"})), "multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else ([data] if data else [])
        if not files:
            raise forms.ValidationError("Choose at least one image to upload.")
        if len(files) > settings.VERITY_MAX_FILES_PER_UPLOAD:
            raise forms.ValidationError(
                f"Upload at most {settings.VERITY_MAX_FILES_PER_UPLOAD} images at once; you chose {len(files)}."
            )
        return files


class UploadForm(forms.Form):
    images = MultipleImageField(label="Images")
    request_review = forms.BooleanField(
        required=False,
        label="Ask a moderator to review these images",
        help_text="A moderator looks at them whatever the detector says.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # From the same constants validation checks against, read when the form is built (settings may change).
        mb = settings.VERITY_MAX_UPLOAD_BYTES / (1024 * 1024)
        video_mb = settings.VERITY_MAX_VIDEO_BYTES / (1024 * 1024)
        minutes = settings.VERITY_MAX_VIDEO_SECONDS / 60
        self.fields["images"].help_text = (
            f"{ACCEPTED_FORMATS}, up to {mb:g} MB each; up to {settings.VERITY_MAX_FILES_PER_UPLOAD} at once. "
            f"Videos: {ACCEPTED_VIDEO}, up to {video_mb:g} MB and {minutes:g} minutes each."
        )
