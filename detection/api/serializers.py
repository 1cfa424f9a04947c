"""What the partner API accepts and returns. The result shape is also the `data` of every webhook event."""
import re

from django.conf import settings
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_keys import SCOPES
from accounts.models import ApiKey

from ..models import Decision, Detection, ReviewState, Submission, WebhookSigningSecret

VERDICTS = list(Detection.Label.values) + list(Decision.values)


# Results ---------------------------------------------------------------------------------------------

class FaceScoreSerializer(serializers.Serializer):
    box = serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4,
        help_text="x, y, width, height as fractions of the image's width and height",
    )
    probability = serializers.FloatField(help_text="this face crop's probability of being fake")


class MemberScoreSerializer(serializers.Serializer):
    version = serializers.CharField(help_text="the member model version's name")
    probability = serializers.FloatField(help_text="the member's own probability of 'fake'")


class VideoFaceSerializer(FaceScoreSerializer):
    track = serializers.IntegerField(required=False, help_text="the face track this face belongs to (see tracks)")


class VideoFrameScoreSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="position among the sampled frames, from 0")
    t = serializers.FloatField(help_text="seconds from the start of the clip")
    probability = serializers.FloatField(help_text="the frame's score: its most suspicious face, or the whole frame")
    faces = VideoFaceSerializer(many=True, help_text="the frame's scored faces, most suspicious first")
    frame_url = serializers.URLField(help_text="the sampled frame as a JPEG (no metadata)")


class TrackBestSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="the sampled frame where this face scored highest")
    t = serializers.FloatField()
    box = serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4)
    probability = serializers.FloatField()


class VideoTrackSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    probability = serializers.FloatField(help_text="the track's score: the mean of its most suspicious half of frames")
    frames = serializers.IntegerField(help_text="sampled frames the face was found in")
    start = serializers.FloatField(help_text="seconds")
    end = serializers.FloatField(help_text="seconds")
    best = TrackBestSerializer()


class VideoSegmentSerializer(serializers.Serializer):
    start = serializers.FloatField(help_text="seconds")
    end = serializers.FloatField(help_text="seconds")
    probability = serializers.FloatField(help_text="the highest frame score in the segment")
    mean = serializers.FloatField(help_text="the mean frame score in the segment")
    frames = serializers.IntegerField()


class DetectionResultSerializer(serializers.ModelSerializer):
    model_version = serializers.CharField(source="model_version.name", help_text="the detector version that scored")
    probability = serializers.FloatField(
        help_text="probability that the image is fake, 0 to 1: the most suspicious face's when faces were scored; "
        "for label no_face, the whole image's score, for information only"
    )
    faces = FaceScoreSerializer(many=True, read_only=True, help_text="each scored face, most suspicious first")
    member_scores = MemberScoreSerializer(
        many=True, read_only=True, help_text="for an ensemble version: each member's own probability on the deciding crop"
    )
    timeline = serializers.SerializerMethodField(help_text="videos: every sampled frame's score, in time order ([] for images)")
    tracks = VideoTrackSerializer(many=True, read_only=True, help_text="videos: the face tracks, most suspicious first")
    segments = VideoSegmentSerializer(many=True, read_only=True, help_text="videos: the timeline in 5-second segments")

    class Meta:
        model = Detection
        fields = [
            "probability", "label", "uncertain", "threshold", "scored_on", "faces", "member_scores", "model_version",
            "timeline", "tracks", "segments", "created_at",
        ]

    @extend_schema_field(VideoFrameScoreSerializer(many=True))
    def get_timeline(self, detection):
        request = self.context.get("request")
        frames = []
        for frame in detection.timeline or []:
            path = reverse("api:video-frame", args=[detection.submission_id, frame["index"]])
            frames.append({
                "index": frame["index"], "t": frame["t"], "probability": frame["probability"], "faces": frame["faces"],
                "frame_url": request.build_absolute_uri(path) if request is not None else path,
            })
        return frames


class VideoInfoSerializer(serializers.Serializer):
    duration_seconds = serializers.FloatField()
    frame_rate = serializers.FloatField(help_text="average frames per second")
    frame_count = serializers.IntegerField(help_text="frames in the file")
    codec = serializers.CharField()
    rotation = serializers.IntegerField(help_text="degrees the frames were turned to show upright")
    variable_frame_rate = serializers.BooleanField()
    frames_to_score = serializers.IntegerField(allow_null=True, help_text="frames sampled for scoring, once known")
    frames_scored = serializers.IntegerField(help_text="progress while the clip is scored")
    poster_url = serializers.URLField(help_text="the first frame as a JPEG")
    metadata = serializers.DictField(help_text="container and stream metadata, location removed")


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
    video = serializers.SerializerMethodField()
    callback_url = serializers.SerializerMethodField()
    review_state = serializers.ChoiceField(choices=ReviewState.choices, read_only=True)
    uploaded_by = serializers.CharField(
        source="uploader_label", read_only=True, help_text='the API key\'s name (API key “ingest”) or the uploader\'s email'
    )

    class Meta:
        model = Submission
        fields = [
            "id",
            "status",
            "status_url",
            "original_name",
            "kind",
            "content_type",
            "size_bytes",
            "width",
            "height",
            "sha256",
            "source",
            "uploaded_by",
            "callback_url",
            "failure_reason",
            "detection",
            "final_verdict",
            "review_state",
            "forensics",
            "video",
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
        return DetectionResultSerializer(detection, context=self.context).data if detection is not None else None

    @extend_schema_field(VideoInfoSerializer(allow_null=True))
    def get_video(self, submission):
        if not submission.is_video:
            return None
        info = submission.video_info or {}
        path = reverse("api:video-poster", args=[submission.pk])
        request = self.context.get("request")
        return {
            "duration_seconds": submission.duration_seconds,
            "frame_rate": submission.frame_rate,
            "frame_count": submission.frame_count,
            "codec": info.get("codec", ""),
            "rotation": info.get("rotation", 0),
            "variable_frame_rate": info.get("variable_frame_rate", False),
            "frames_to_score": submission.frames_to_score,
            "frames_scored": submission.frames_scored,
            "poster_url": request.build_absolute_uri(path) if request is not None else path,
            "metadata": info.get("metadata", {}),
        }

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

URL_HELP = "an http(s) URL the platform downloads the image from (public internet addresses only)"
CALLBACK_HELP = "where to POST the signed webhook events (http or https; empty for none)"
CONTENT_ERROR_CODES = ["invalid_image", "url_not_allowed", "url_fetch_failed", "url_too_large"]


class StrictCharField(serializers.CharField):
    """A string as the contract says: not trimmed, and a JSON number is not a string (DRF would take 0 as "0")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# What the schema says of these strings is what the API checks (RegexValidator → `pattern`).
NO_NUL = RegexValidator(r"^[^\x00]*$", "must not contain NUL characters", code="null_characters_not_allowed")
VISIBLE_NAME = RegexValidator(
    r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
    "must contain a visible character and no control characters",
    code="invalid",
)


def url_field(**kwargs):
    # Not trimmed: " https://…" is refused as a URL (url_not_allowed), the same as the fetcher sees it.
    return StrictCharField(max_length=2000, validators=[NO_NUL], **kwargs)


class CallbackUrlField(StrictCharField):
    """Optional, may be empty (no webhook). schema.one_plain_callback_url_schema states it without a oneOf."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", CALLBACK_HELP)
        super().__init__(required=False, allow_blank=True, max_length=2000, validators=[NO_NUL], **kwargs)


def refuse_unknown_fields(serializer):
    """A misspelt field (`callbackurl`) is an error, not silently ignored: the contract lists every field."""
    unknown = sorted(set(serializer.initial_data) - set(serializer.fields)) if hasattr(serializer.initial_data, "keys") else []
    if unknown:
        raise serializers.ValidationError(
            f"unknown field(s): {', '.join(str(name)[:100] for name in unknown)}", code="unknown_field"
        )


def sent_fields(serializer, *names):
    """How many of `names` the request contains, even empty (a multipart `image=` counts as sent)."""
    return sum(name in serializer.initial_data for name in names)


class SubmissionCreateSerializer(serializers.Serializer):
    """Either `image` (multipart) or `url` (JSON or multipart), plus an optional `callback_url`."""

    image = serializers.FileField(required=False, help_text="the image (JPEG, PNG, WebP or HEIC) or video (MP4, MOV, WebM, animated GIF or WebP) file")
    url = url_field(required=False, help_text=URL_HELP)
    callback_url = CallbackUrlField()

    def validate(self, attrs):
        refuse_unknown_fields(self)
        if sent_fields(self, "image", "url") != 1 or not ("image" in attrs or "url" in attrs):
            raise serializers.ValidationError("send exactly one of 'image' or 'url'", code="image_or_url_required")
        return attrs


class SubmissionBatchSerializer(serializers.Serializer):
    """Several images in one request: `images` (multipart, repeated) or `urls` (JSON), not both."""

    images = serializers.ListField(child=serializers.FileField(), required=False, allow_empty=False)
    urls = serializers.ListField(child=url_field(), required=False, allow_empty=False)
    callback_url = CallbackUrlField()

    def validate(self, attrs):
        refuse_unknown_fields(self)
        items = attrs.get("images") or attrs.get("urls") or []
        if sent_fields(self, "images", "urls") != 1 or not ("images" in attrs or "urls" in attrs):
            raise serializers.ValidationError("send either 'images' or 'urls'", code="images_or_urls_required")
        if len(items) > settings.VERITY_API_MAX_BATCH:
            raise serializers.ValidationError(
                f"at most {settings.VERITY_API_MAX_BATCH} images per batch; this one has {len(items)}",
                code="batch_too_large",
            )
        return attrs


# The request bodies as the contract gives them: one shape per way of sending (see schema.py). -------

class SubmissionByFileSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="the image (JPEG, PNG, WebP or HEIC) or video (MP4, MOV, WebM, animated GIF or WebP) file")
    callback_url = CallbackUrlField()


class SubmissionByUrlSerializer(serializers.Serializer):
    url = url_field(min_length=1, help_text=URL_HELP)
    callback_url = CallbackUrlField()


class BatchByFilesSerializer(serializers.Serializer):
    images = serializers.ListField(
        child=serializers.FileField(), min_length=1, max_length=settings.VERITY_API_MAX_BATCH, help_text="image files"
    )
    callback_url = CallbackUrlField()


class BatchByUrlsSerializer(serializers.Serializer):
    urls = serializers.ListField(
        child=url_field(min_length=1), min_length=1, max_length=settings.VERITY_API_MAX_BATCH, help_text=URL_HELP
    )
    callback_url = CallbackUrlField()


class BatchRejectionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="position of the item in the request, from 0")
    name = serializers.CharField(help_text="file name or URL")
    code = serializers.CharField()
    detail = serializers.CharField()


class SubmissionBatchResultSerializer(serializers.Serializer):
    accepted = SubmissionResultSerializer(many=True)
    rejected = BatchRejectionSerializer(many=True)


RFC3339_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


class Rfc3339DateTimeField(serializers.DateTimeField):
    """An RFC 3339 date-time, as the contract's `format: date-time` says; not the looser forms Django parses."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not RFC3339_DATE_TIME.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DDThh:mm:ss[.ffffff]Z or ±hh:mm")
        return super().to_internal_value(value)


class SubmissionFilterSerializer(serializers.Serializer):
    """The list's filters. Give it the query as a plain dict: an empty `?verdict=` is then refused (400), not
    read as "no filter" the way HTML forms are."""

    status = serializers.ChoiceField(choices=Submission.Status.choices, required=False)
    verdict = serializers.ChoiceField(choices=VERDICTS, required=False, help_text="the final verdict")
    created_after = Rfc3339DateTimeField(required=False, help_text="created at or after this time (RFC 3339)")
    created_before = Rfc3339DateTimeField(required=False, help_text="created before this time (RFC 3339)")


# Webhooks and keys -----------------------------------------------------------------------------------

class WebhookSecretSerializer(serializers.ModelSerializer):
    signing_secret = serializers.CharField(source="secret", help_text="verify Verity-Signature with this (docs/api.md)")

    class Meta:
        model = WebhookSigningSecret
        fields = ["signing_secret", "created_at", "rotated_at"]


class ApiKeySerializer(serializers.ModelSerializer):
    name = StrictCharField(max_length=100, validators=[VISIBLE_NAME], help_text="what the key is for, e.g. 'production ingest'")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES), allow_empty=False, min_length=1)
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


class StorageUnavailableErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=["storage_unavailable"])
    detail = serializers.CharField()
    attr = serializers.CharField(allow_null=True)


class StorageUnavailableErrorResponseSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["server_error"])
    errors = StorageUnavailableErrorSerializer(many=True)

