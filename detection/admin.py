from django.contrib import admin

from . import webhooks
from .models import Detection, Submission, WebhookAttempt, WebhookDelivery, WebhookSigningSecret


class DetectionInline(admin.TabularInline):
    model = Detection
    extra = 0
    can_delete = False
    readonly_fields = ("model_version", "probability", "label", "uncertain", "threshold", "inference_ms", "total_ms", "created_at")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("original_name", "organisation", "uploader", "source", "status", "width", "height", "size_bytes", "created_at")
    list_filter = ("status", "source", "organisation", "content_type", "created_at")
    search_fields = ("original_name", "sha256", "id", "uploader__email", "organisation__name")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Submission._meta.fields]
    inlines = [DetectionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organisation", "uploader")

    def has_add_permission(self, request):
        return False  # uploads go through the portal, the API or `manage.py score`, which validate them


@admin.register(Detection)
class DetectionAdmin(admin.ModelAdmin):
    list_display = ("submission", "label", "probability", "uncertain", "model_version", "inference_ms", "total_ms", "created_at")
    list_filter = ("label", "uncertain", "model_version")
    search_fields = ("submission__original_name", "submission__id", "model_version__name")
    readonly_fields = [f.name for f in Detection._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("submission", "model_version")

    def has_add_permission(self, request):
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "started_at", "duration_ms", "response_status", "response_body", "error")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """Every webhook sent, with every attempt; an admin can send one again."""

    list_display = ("event", "url", "organisation", "status", "attempt_count", "created_at", "delivered_at", "next_attempt_at")
    list_filter = ("status", "event", "organisation")
    search_fields = ("url", "submission__id", "id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]
    actions = ["resend_deliveries"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organisation", "submission")

    @admin.action(description="Send the selected webhooks again")
    def resend_deliveries(self, request, queryset):
        for delivery in queryset:
            webhooks.resend(delivery, actor=request.user)
        self.message_user(request, f"Queued {queryset.count()} webhook(s) again.")

    def has_add_permission(self, request):
        return False


@admin.register(WebhookSigningSecret)
class WebhookSigningSecretAdmin(admin.ModelAdmin):
    list_display = ("organisation", "created_at", "rotated_at")
    readonly_fields = ("organisation", "secret", "created_at", "rotated_at")
    actions = ["rotate_secrets"]

    @admin.action(description="Rotate the selected signing secrets")
    def rotate_secrets(self, request, queryset):
        for secret in queryset.select_related("organisation"):
            webhooks.rotate_signing_secret(secret.organisation, actor=request.user)
        self.message_user(request, "Rotated; tell the partners to fetch the new secret.")

    def has_add_permission(self, request):
        return False
