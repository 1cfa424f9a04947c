from django.contrib import admin

from .models import Detection, Submission


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
