"""Partner API views: thin, calling detection.services; every use of a key is written to the audit trail."""
from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Prefetch, Q, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from drf_standardized_errors.openapi_validation_errors import extend_validation_errors
from rest_framework import generics, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import APIException, ErrorDetail, NotFound, Throttled, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

import audit
from accounts import api_keys
from accounts.models import ApiKey

from .. import fetch, services, storage, webhooks
from ..models import EVIDENCE_IMAGE_KINDS, Detection, Evidence, Submission
from ..validation import InvalidImage
from . import idempotency
from .authentication import PortalSessionAuthentication
from .permissions import HasScope, ManagesOrganisationKeys
from .schema import AutoSchema
from .serializers import (
    ApiKeySerializer,
    BatchByFilesSerializer,
    BatchByUrlsSerializer,
    ConflictErrorResponseSerializer,
    StorageUnavailableErrorResponseSerializer,
    NewApiKeySerializer,
    SubmissionBatchResultSerializer,
    SubmissionBatchSerializer,
    SubmissionByFileSerializer,
    SubmissionByUrlSerializer,
    SubmissionCreateSerializer,
    SubmissionFilterSerializer,
    SubmissionResultSerializer,
    WebhookSecretSerializer,
)
from .throttles import (
    ApiKeyRateThrottle,
    DailySubmissionQuota,
    OrganisationRateThrottle,
    count_submission,
    seconds_until_tomorrow,
    submissions_today,
)

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    idempotency.HEADER,
    {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID): a retry with the same key returns the first response.",
)
CONFLICT_RESPONSE = OpenApiResponse(ConflictErrorResponseSerializer, description="Idempotency-Key conflict")
# Seconds a client is asked to wait when the file store is out of reach (botocore has already retried by then).
STORAGE_RETRY_AFTER_SECONDS = 30
STORAGE_UNAVAILABLE_RESPONSE = OpenApiResponse(
    StorageUnavailableErrorResponseSerializer,
    description="Images cannot be stored right now; nothing was stored. Send the same request again after `Retry-After` seconds.",
)
RETRY_AFTER_HEADER = OpenApiParameter(
    "Retry-After", int, OpenApiParameter.HEADER, description="seconds to wait before sending the request again", response=[503]
)


class StorageUnavailableError(APIException):
    """503 with Retry-After: the file store is out of reach, nothing was stored, the same request may be sent again."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Images cannot be stored right now; nothing was stored. Try again after Retry-After seconds."
    default_code = "storage_unavailable"
    wait = STORAGE_RETRY_AFTER_SECONDS  # drf-standardized-errors sends it as Retry-After


class SubmissionCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        """`page_size` from 1 up; more than the maximum gives the maximum; anything else is a 400."""
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not value.isascii() or not value.isdigit() or int(value) < 1:
            raise ValidationError({self.page_size_query_param: [ErrorDetail("must be a whole number from 1", code="invalid")]})
        return min(int(value), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = f"results per page (default {self.page_size}; above {self.max_page_size} gives {self.max_page_size})"
        return parameters


class PartnerAPIView(generics.GenericAPIView):
    """Base for API-key views: scopes per method, rate limits, and an audit event for every use of a key."""

    permission_classes = [IsAuthenticated, HasScope]
    throttle_classes = [ApiKeyRateThrottle, OrganisationRateThrottle]
    required_scopes = {}
    schema = AutoSchema()  # says in each operation which scope it needs
    audit_data = None

    @property
    def organisation(self):
        return self.request.auth.organisation

    _use_recorded = False

    def record_use(self, request, status_code):
        """The audit event of this use of the key, once a request.

        A view that stores something records it itself, inside the transaction that stores it, so that both
        events go into the audit chain in one append; otherwise finalize_response records it.
        """
        key = getattr(request, "_auth", None)  # set once authentication ran; never re-run it here
        if self._use_recorded or not isinstance(key, ApiKey):
            return
        self._use_recorded = True
        audit.record(
            request.user,
            "api_key.used",
            key,
            prefix=key.prefix,
            method=request.method,
            path=request.path,
            status=status_code,
            ip=request.META.get("REMOTE_ADDR", ""),
            **(self.audit_data or {}),
        )

    def handle_exception(self, exc):
        self._use_recorded = False  # what the failed request recorded was rolled back with it
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        self.record_use(request, response.status_code)
        return response

    def organisation_submissions(self):
        """This organisation's submissions, with their detections fetched in one query."""
        return Submission.objects.filter(organisation=self.organisation).select_related("api_key", "uploader").prefetch_related(
            Prefetch("detections", queryset=Detection.objects.select_related("model_version"))
        )


def submit_one(request, *, image=None, url=None, callback_url=""):
    """Validate, store and queue one image (a file or a URL to fetch). Raises fetch.FetchError or InvalidImage."""
    if url is not None:
        fetched = fetch.fetch_image(url)
        data, name = fetched.data, fetched.name
    else:
        data, name = image, image.name
    submission = services.submit(
        data=data,
        name=name,
        uploader=request.user,
        organisation=request.auth.organisation,
        source=Submission.Source.API,
        # Stored with the row, so that the result's webhook knows where to go; the key names the uploader.
        callback_url=callback_url,
        api_key=request.auth,
    )
    organisation_id = request.auth.organisation_id
    transaction.on_commit(lambda: count_submission(organisation_id))
    return known_new(submission)


def known_new(submission):
    """A submission just created has no detection and no evidence yet: cached as such, its response costs no query.

    (The caches are the ones prefetch_related and a reverse one-to-one lookup fill.)
    """
    submission._prefetched_objects_cache = {"detections": Detection.objects.none()}
    Submission.evidence.related.set_cached_value(submission, None)
    return submission


def check_callback_url(callback_url):
    """Refuse a callback URL the platform must not call (same guard as the fetcher); '' means none."""
    if not callback_url:
        return ""
    try:
        fetch.check_url(callback_url)
    except fetch.FetchError as exc:
        raise ValidationError({"callback_url": [ErrorDetail(str(exc), code=exc.code)]}) from None
    return callback_url


FETCH_ERROR_CODES = [fetch.FetchError.code, fetch.UnsafeURL.code, fetch.TooLarge.code]
SUBMIT_ERRORS = [
    # Codes raised in the views and services, beside those drf-standardized-errors finds in the serializers.
    (FETCH_ERROR_CODES, "callback_url"),
    (["invalid", "blank"], idempotency.HEADER),
]


def document_submit_errors(view, extra=()):
    for codes, field_name in list(SUBMIT_ERRORS) + list(extra):
        view = extend_validation_errors(codes, field_name=field_name, methods=["post"])(view)
    return view


@extend_validation_errors(["invalid_choice"], field_name="status", methods=["get"])
@extend_validation_errors(["invalid_choice"], field_name="verdict", methods=["get"])
@extend_validation_errors(["invalid"], field_name="created_after", methods=["get"])
@extend_validation_errors(["invalid"], field_name="created_before", methods=["get"])
@extend_validation_errors(["invalid"], field_name="page_size", methods=["get"])
@extend_validation_errors(["image_or_url_required", "unknown_field"], field_name="non_field_errors", methods=["post"])
class SubmissionListCreateView(PartnerAPIView):
    """Your organisation's submissions, newest first; or a new one."""

    required_scopes = {"GET": "read", "POST": "submit"}
    serializer_class = SubmissionResultSerializer
    validation_serializer_class = SubmissionCreateSerializer
    schema = AutoSchema()
    pagination_class = SubmissionCursorPagination

    def get_throttles(self):
        throttles = super().get_throttles()
        return throttles + [DailySubmissionQuota()] if self.request.method == "POST" else throttles

    def get_queryset(self):
        qs = self.organisation_submissions()
        filters = SubmissionFilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        if "status" in f:
            qs = qs.filter(status=f["status"])
        if "created_after" in f:
            qs = qs.filter(created_at__gte=f["created_after"])
        if "created_before" in f:
            qs = qs.filter(created_at__lt=f["created_before"])
        if "verdict" in f:
            qs = filter_by_verdict(qs, f["verdict"])
        return qs

    @extend_schema(
        summary="List your organisation's submissions",
        parameters=[SubmissionFilterSerializer],
        responses={200: SubmissionResultSerializer(many=True)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Submit one image or clip (a file or a URL to fetch)",
        description="Exactly one of `image` (multipart) or `url` (JSON or multipart). The `201` response links to "
        "the result (`GetSubmissionResult`): poll it, or give a `callback_url` for a webhook.",
        request={
            "application/json": SubmissionByUrlSerializer,
            "multipart/form-data": PolymorphicProxySerializer(
                component_name="SubmissionUpload",
                serializers=[SubmissionByFileSerializer, SubmissionByUrlSerializer],
                resource_type_field_name=None,
            ),
        },
        examples=[
            OpenApiExample(
                "an image on the web",
                value={"url": "https://images.example.com/protest.jpg", "callback_url": "https://hooks.example.com/verity"},
                request_only=True,
            )
        ],
        parameters=[IDEMPOTENCY_PARAMETER, RETRY_AFTER_HEADER],
        responses={201: SubmissionResultSerializer, 409: CONFLICT_RESPONSE, 503: STORAGE_UNAVAILABLE_RESPONSE},
    )
    def post(self, request):
        serializer = SubmissionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        callback_url = check_callback_url(data.get("callback_url", ""))

        def create():
            field = "url" if data.get("url") else "image"
            try:
                submission = submit_one(request, image=data.get("image"), url=data.get("url"), callback_url=callback_url)
            except fetch.FetchError as exc:
                raise ValidationError({"url": [ErrorDetail(str(exc), code=exc.code)]}) from None
            except InvalidImage as exc:
                raise ValidationError({field: [ErrorDetail(str(exc), code="invalid_image")]}) from None
            except storage.StorageUnavailable:
                raise StorageUnavailableError() from None
            self.audit_data = {"submissions": [str(submission.pk)]}
            body = self.get_serializer(submission).data
            self.record_use(request, status.HTTP_201_CREATED)
            return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["status_url"]})

        return idempotency.respond(request, self.organisation, create)


@extend_validation_errors(
    ["images_or_urls_required", "batch_too_large", "unknown_field"], field_name="non_field_errors", methods=["post"]
)
class SubmissionBatchView(PartnerAPIView):
    """Several images in one request."""

    required_scopes = {"POST": "submit"}
    serializer_class = SubmissionBatchSerializer
    validation_serializer_class = SubmissionBatchSerializer
    schema = AutoSchema()

    def get_throttles(self):
        return super().get_throttles() + [DailySubmissionQuota()]

    @extend_schema(
        summary=f"Submit up to {settings.VERITY_API_MAX_BATCH} images in one request",
        description="Exactly one of `images` (multipart, the field repeated) or `urls` (JSON or multipart). "
        "Items that cannot be read are listed in `rejected`; `400` when none was accepted.",
        request={
            "application/json": BatchByUrlsSerializer,
            "multipart/form-data": PolymorphicProxySerializer(
                component_name="BatchUpload",
                serializers=[BatchByFilesSerializer, BatchByUrlsSerializer],
                resource_type_field_name=None,
            ),
        },
        examples=[
            OpenApiExample(
                "two images on the web",
                value={"urls": ["https://images.example.com/a.jpg", "https://images.example.com/b.png"]},
                request_only=True,
            )
        ],
        parameters=[IDEMPOTENCY_PARAMETER, RETRY_AFTER_HEADER],
        responses={201: SubmissionBatchResultSerializer, 409: CONFLICT_RESPONSE, 503: STORAGE_UNAVAILABLE_RESPONSE},
    )
    def post(self, request):
        serializer = SubmissionBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        callback_url = check_callback_url(data.get("callback_url", ""))
        items = [("image", f) for f in data.get("images", [])] + [("url", u) for u in data.get("urls", [])]
        if submissions_today(self.organisation) + len(items) > settings.VERITY_API_DAILY_QUOTA:
            raise Throttled(wait=seconds_until_tomorrow(), detail="This batch would exceed the daily submission quota.")

        def create():
            accepted, rejected = [], []
            for index, (kind, item) in enumerate(items):
                name = item if kind == "url" else item.name
                try:
                    accepted.append(submit_one(request, callback_url=callback_url, **{kind: item}))
                except (fetch.FetchError, InvalidImage) as exc:
                    code = getattr(exc, "code", "invalid_image")
                    rejected.append({"index": index, "name": str(name)[:255], "code": code, "detail": str(exc)})
                except storage.StorageUnavailable:
                    # The store would refuse the rest too: this item and the later ones were not stored.
                    rejected.extend(not_stored(items, index))
                    break
            self.audit_data = {"submissions": [str(s.pk) for s in accepted], "rejected": len(rejected)}
            if not accepted and any(r["code"] == StorageUnavailableError.default_code for r in rejected):
                raise StorageUnavailableError()
            if not accepted:
                raise ValidationError(
                    {kind_field(items): [ErrorDetail(f"item {r['index']}: {r['detail']}", code=r["code"]) for r in rejected]}
                )
            body = SubmissionBatchResultSerializer(
                {"accepted": accepted, "rejected": rejected}, context=self.get_serializer_context()
            ).data
            self.record_use(request, status.HTTP_201_CREATED)
            return Response(body, status=status.HTTP_201_CREATED)

        return idempotency.respond(request, self.organisation, create)


SubmissionListCreateView = document_submit_errors(
    SubmissionListCreateView, extra=[(FETCH_ERROR_CODES + ["invalid_image"], "url"), (["invalid_image"], "image")]
)
SubmissionBatchView = document_submit_errors(
    SubmissionBatchView, extra=[(FETCH_ERROR_CODES + ["invalid_image"], "urls"), (["invalid_image"], "images")]
)


def not_stored(items, start):
    """Batch rejections for items[start:], which were not stored because the file store is out of reach."""
    return [
        {
            "index": index,
            "name": str(item if kind == "url" else item.name)[:255],
            "code": StorageUnavailableError.default_code,
            "detail": "not stored: images cannot be stored right now; send it again later",
        }
        for index, (kind, item) in enumerate(items[start:], start)
    ]


def kind_field(items):
    return "urls" if items and items[0][0] == "url" else "images"


class SubmissionDetailView(PartnerAPIView):
    """One submission and where it is on its way to a verdict; another organisation's is not found (404)."""

    required_scopes = {"GET": "read"}
    serializer_class = SubmissionResultSerializer

    @extend_schema(summary="One submission's result", responses={200: SubmissionResultSerializer})
    def get(self, request, pk):
        # Another organisation's submission is "not found", never "forbidden": its existence is not told.
        submission = get_object_or_404(self.organisation_submissions(), pk=pk)
        return Response(self.get_serializer(submission).data)


class EvidenceImageView(PartnerAPIView):
    """A forensic image, once the forensics of the submission are computed (404 before)."""

    required_scopes = {"GET": "read"}

    @extend_schema(
        operation_id="submissions_evidence_retrieve",
        parameters=[OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=EVIDENCE_IMAGE_KINDS)],
        summary="A forensic image of a submission (heatmap, faces, ela, noise), as PNG",
        responses={(200, "image/png"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk, kind):
        submission = get_object_or_404(self.organisation_submissions(), pk=pk)
        evidence = Evidence.objects.filter(submission=submission).first()
        name = evidence.image_name(kind) if evidence is not None else ""
        return storage.file_response(name, "image/png", not_found=NotFound, missing="no such evidence image")


class VideoFrameView(PartnerAPIView):
    """A sampled frame of a scored clip (its index in the detection's timeline), or the clip's poster frame."""

    required_scopes = {"GET": "read"}

    @extend_schema(
        operation_id="submissions_frames_retrieve",
        summary="A sampled frame of a video submission, as JPEG",
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk, index=None):
        from ..video.views import frame_name

        submission = get_object_or_404(self.organisation_submissions(), pk=pk)
        if not submission.is_video:
            raise NotFound("not a video")
        try:
            name = submission.video_info.get("poster", "") if index is None else frame_name(submission, index)
        except Http404:
            name = ""
        return storage.file_response(name, "image/jpeg", not_found=NotFound, missing="no such frame")


class VideoPosterView(VideoFrameView):
    @extend_schema(
        operation_id="submissions_poster_retrieve",
        summary="The first frame of a video submission, as JPEG",
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY},
    )
    def get(self, request, pk):
        return super().get(request, pk)


class WebhookSecretView(PartnerAPIView):
    """The secret your webhooks are signed with (docs/api.md shows how to check a signature)."""

    # Whoever holds the secret can sign a forged result; webhooks go to the callback URLs that submitting keys
    # give. So `submit`, not `read`: a key that may only read results must not be able to forge them.
    required_scopes = {"GET": "submit"}
    serializer_class = WebhookSecretSerializer

    @extend_schema(summary="The secret your webhooks are signed with", responses={200: WebhookSecretSerializer})
    def get(self, request):
        return Response(self.get_serializer(webhooks.signing_secret(self.organisation)).data)


# Key management: for partner admins signed in to the portal (Verity admins use the Django admin). ----

class KeyManagementView(generics.GenericAPIView):
    """For partner admins signed in to the portal (the portal's API keys page does the same)."""

    authentication_classes = [PortalSessionAuthentication]
    permission_classes = [ManagesOrganisationKeys]
    parser_classes = [JSONParser]
    serializer_class = ApiKeySerializer

    def get_queryset(self):
        return ApiKey.objects.filter(organisation_id=self.request.user.organisation_id).select_related(
            "created_by", "revoked_by"
        )


class ApiKeyListCreateView(KeyManagementView):
    pagination_class = None

    @extend_schema(summary="Your organisation's API keys (never the keys themselves)", responses={200: ApiKeySerializer(many=True)})
    def get(self, request):
        return Response(self.get_serializer(self.get_queryset(), many=True).data)

    @extend_schema(
        summary="Create an API key; the response is the only time the key is shown",
        request=ApiKeySerializer,
        responses={201: NewApiKeySerializer},
        examples=[OpenApiExample("read and submit", value={"name": "ingest", "scopes": ["submit", "read"]}, request_only=True)],
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw_key = api_keys.create_api_key(
            organisation=request.user.organisation,
            name=serializer.validated_data["name"],
            scopes=serializer.validated_data["scopes"],
            actor=request.user,
        )
        key.key = raw_key
        return Response(NewApiKeySerializer(key).data, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(KeyManagementView):
    @extend_schema(
        operation_id="keys_revoke",
        summary="Revoke an API key (it stops working at once)",
        request=None,
        responses={200: ApiKeySerializer},
    )
    def post(self, request, pk):
        key = get_object_or_404(self.get_queryset(), pk=pk)
        return Response(self.get_serializer(api_keys.revoke_api_key(key, actor=request.user)).data)


def filter_by_verdict(qs, verdict):
    """Submissions whose final verdict is `verdict`: the moderator's decision, else the newest detection's label."""
    if verdict not in Detection.Label.values:
        return qs.filter(decision=verdict)
    newest_label = Detection.objects.filter(submission=OuterRef("pk")).order_by("-created_at").values("label")[:1]
    return qs.annotate(detector_label=Subquery(newest_label)).filter(Q(decision="") & Q(detector_label=verdict))



@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@authentication_classes([])
@permission_classes([AllowAny])
def not_found(request, *args, **kwargs):
    """Any other path under /api/v1/ (including a malformed id): the API's JSON 404, not the portal's page."""
    raise NotFound()
