from django.contrib import admin

from .models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """Read-only: the workers write these rows; deleting one of a stopped worker is the only edit."""

    list_display = ("hostname", "pid", "model_version", "runtime", "batches", "last_batch_at", "last_seen", "started_at")
    readonly_fields = [f.name for f in WorkerHeartbeat._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
