"""What the partner API accepts and returns. The result shape is also the `data` of every webhook event."""
from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_keys import SCOPES
from accounts.models import ApiKey

from ..models import Decision, Detection, ReviewState, Submission, WebhookSigningSecret

VERDICTS = list(Detection.Label.values) + list(Decision.values)


# Results ---------------------------------------------------------------------------------------------

class DetectionResultSerializer(serializers.ModelSerializer):
    model_version = serializers.CharField(source="model_version.name", help_text="the detector version that scored")
    probability = serializers.FloatField(help_text="probability that the image is fake, 0 to 1")

    class Meta:
        model = Detection
        fields = ["probability", "label", "uncertain", "threshold", "model_version", "created_at"]


class FinalVerdictSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(
        choices=VERDICTS, allow_null=True, help_text="the moderator's decision when there is one, else the detector's label"
    )
    source = serializers.ChoiceField(choices=["detector", "moderator"], allow_null=True)


class SubmissionResultSerializer(serializers.ModelSerializer):
    """One submission and where it is on its way to a verdict."""

    status_url = serializers.SerializerMethodField()
    detection = serializers.SerializerMethodField()
    final_verdict = serializers.SerializerMethodField()
    forensics = serializers.SerializerMethodField()
    callback_url = serializers.SerializerMethodField()
    review_state = serializers.ChoiceField(choices=ReviewState.choices, read_only=True)

    class Meta:
        model = Submission
        fields = [
            "id",
            "status",
            "status_url",
            "original_name",
            "content_type",
            "size_bytes",
            "width",
            "height",
            "sha256",
            "source",
            "callback_url",
            "failure_reason",
            "detection",
            "final_verdict",
            "review_state",
            "forensics",
            "created_at",
            "updated_at",
            "scored_at",
        ]
        read_only_fields = fields

    def get_status_url(self, submission) -> str:
        path = reverse("api:submission-detail", args=[submission.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_callback_url(self, submission):
        return submission.callback_url or None

    @extend_schema_field(DetectionResultSerializer(allow_null=True))
    def get_detection(self, submission):
        detection = latest_detection(submission)
        return DetectionResultSerializer(detection).data if detection is not None else None

    @extend_schema_field(FinalVerdictSerializer)
    def get_final_verdict(self, submission):
        if submission.decision:
            return {"verdict": submission.decision, "source": "moderator"}
        detection = latest_detection(submission)
        if detection is not None:
            return {"verdict": detection.label, "source": "detector"}
        return {"verdict": None, "source": None}

    @extend_schema_field(
        {"type": "object", "nullable": True, "additionalProperties": True, "description": "forensic signals, when computed"}
    )
    def get_forensics(self, submission):
        # The forensics work (issue 7) keeps one Evidence row per submission; absent until it is computed.
        evidence = getattr(submission, "evidence", None)
        if evidence is None:
            return None
        from detection.forensics.summary import API_IMAGE_ROUTE, evidence_summary

        summary = evidence_summary(evidence, image_route=API_IMAGE_ROUTE)
        request = self.context.get("request")
        if request is not None:  # absolute URLs, like status_url
            for signal in summary["signals"].values():
                for key, value in signal.items():
                    if key.endswith("image_url") and value:
                        signal[key] = request.build_absolute_uri(value)
        return summary


def latest_detection(submission):
    """The newest detection, from the prefetched list when the queryset prefetched one."""
    cache = getattr(submission, "_prefetched_objects_cache", {})
    if "detections" in cache:
        detections = list(cache["detections"])
        return max(detections, key=lambda d: d.created_at) if detections else None
    return submission.latest_detection


# Submitting ------------------------------------------------------------------------------------------

class SubmissionCreateSerializer(serializers.Serializer):
    """Either `image` (multipart) or `url` (JSON or multipart), plus an optional `callback_url`."""

    image = serializers.FileField(required=False, help_text="the image file (JPEG, PNG, WebP or HEIC)")
    url = serializers.CharField(
        required=False, max_length=2000, help_text="an http(s) URL the platform downloads the image from"
    )
    callback_url = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="where to POST the signed webhook events"
    )

    def validate(self, attrs):
        if bool(attrs.get("image")) == bool(attrs.get("url")):
            raise serializers.ValidationError("send exactly one of 'image' or 'url'", code="image_or_url_required")
        return attrs


class SubmissionBatchSerializer(serializers.Serializer):
    """Several images in one request: `images` (multipart, repeated) or `urls` (JSON), not both."""

    images = serializers.ListField(child=serializers.FileField(), required=False, allow_empty=False)
    urls = serializers.ListField(child=serializers.CharField(max_length=2000), required=False, allow_empty=False)
    callback_url = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    def validate(self, attrs):
        items = attrs.get("images") or attrs.get("urls") or []
        if bool(attrs.get("images")) == bool(attrs.get("urls")):
            raise serializers.ValidationError("send either 'images' or 'urls'", code="images_or_urls_required")
        if len(items) > settings.VERITY_API_MAX_BATCH:
            raise serializers.ValidationError(
                f"at most {settings.VERITY_API_MAX_BATCH} images per batch; this one has {len(items)}",
                code="batch_too_large",
            )
        return attrs


class BatchRejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="position of the item in the request, from 0")
    name = serializers.CharField(help_text="file name or URL")
    code = serializers.CharField()
    detail = serializers.CharField()


class SubmissionBatchResultSerializer(serializers.Serializer):
    accepted = SubmissionResultSerializer(many=True)
    rejected = BatchRejectionSerializer(many=True)


class SubmissionFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Submission.Status.choices, required=False)
    verdict = serializers.ChoiceField(choices=VERDICTS, required=False, help_text="the final verdict")
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


# Webhooks and keys -----------------------------------------------------------------------------------

class WebhookSecretSerializer(serializers.ModelSerializer):
    signing_secret = serializers.CharField(source="secret", help_text="verify Verity-Signature with this (docs/api.md)")

    class Meta:
        model = WebhookSigningSecret
        fields = ["signing_secret", "created_at", "rotated_at"]


class ApiKeySerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES), allow_empty=False)
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    revoked_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by"]
        read_only_fields = ["id", "prefix", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by"]


class NewApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="the key itself: shown only in this response")

    class Meta(ApiKeySerializer.Meta):
        fields = ApiKeySerializer.Meta.fields + ["key"]
        read_only_fields = ApiKeySerializer.Meta.read_only_fields + ["key"]


# Documented error shapes that drf-standardized-errors does not know -----------------------------------

class ConflictErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=["idempotency_key_reused", "idempotency_request_in_progress"])
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class ConflictErrorResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["client_error"])
    errors = ConflictErrorSerializer(many=True)

