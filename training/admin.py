from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import services
from .models import ModelVersion, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "architecture", "input_size", "status", "is_trained", "test_auc", "threshold", "created_at", "activated_at")
    list_filter = ("status", "architecture", "is_trained")
    search_fields = ("name", "architecture", "artifact")
    readonly_fields = (
        "status", "artifact_sha256", "created_by", "created_at", "activated_by", "activated_at", "report_link", "metrics_summary",
    )
    actions = ["promote"]

    @admin.display(description="test AUC")
    def test_auc(self, obj):
        value = (obj.metrics or {}).get("test", {}).get("all", {}).get("roc_auc")
        return f"{value:.4f}" if value is not None else "—"

    @admin.display(description="report")
    def report_link(self, obj):
        if not obj.pk or not obj.report:
            return "—"
        return format_html(
            '<a href="{}">evaluation report</a> · <a href="{}">details page</a>',
            reverse("training:version-report-file", args=[obj.pk, "report.html"]),
            reverse("training:version-detail", args=[obj.pk]),
        )

    @admin.display(description="metrics (test split, per source)")
    def metrics_summary(self, obj):
        test = (obj.metrics or {}).get("test", {})
        if not test:
            return "—"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, _fmt(m.get("roc_auc")), _fmt(m.get("accuracy")), _fmt(m.get("f1"))) for name, m in test.items()),
        )
        return format_html("<table><tr><th>source</th><th>ROC AUC</th><th>accuracy</th><th>F1</th></tr>{}</table>", rows)

    @admin.action(description="Promote the selected version to active")
    def promote(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        try:
            version = services.promote(queryset.get(), actor=request.user)
        except services.CannotPromote as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(request, f"{version} is now active.", messages.SUCCESS)


def _fmt(value):
    return f"{value:.4f}" if isinstance(value, float) else "—"


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "epoch", "total_epochs", "created_by", "created_at", "finished_at")
    list_filter = ("status",)
    readonly_fields = ("status", "epoch", "total_epochs", "epochs", "output_dir", "message", "model_version", "created_by", "created_at", "started_at", "finished_at")
