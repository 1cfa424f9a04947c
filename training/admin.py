from django.contrib import admin, messages

from . import registry
from .models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "architecture", "input_size", "status", "is_trained", "threshold", "created_at", "activated_at")
    list_filter = ("status", "architecture", "is_trained")
    search_fields = ("name", "architecture", "artifact")
    readonly_fields = ("status", "artifact_sha256", "created_by", "created_at", "activated_by", "activated_at")
    actions = ["promote"]

    @admin.action(description="Promote the selected version to active")
    def promote(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        version = registry.activate(queryset.get(), actor=request.user)
        self.message_user(request, f"{version} is now active.", messages.SUCCESS)
