from django.urls import path, re_path

from . import views
from .report import SubmissionReportView

app_name = "api"

urlpatterns = [
    path("submissions/", views.SubmissionListCreateView.as_view(), name="submission-list"),
    path("submissions/batch/", views.SubmissionBatchView.as_view(), name="submission-batch"),
    path("submissions/<uuid:pk>/", views.SubmissionDetailView.as_view(), name="submission-detail"),
    path(
        "submissions/<uuid:pk>/evidence/<str:kind>.png", views.EvidenceImageView.as_view(), name="evidence-image"
    ),
    path("submissions/<uuid:pk>/frames/<int:index>.jpg", views.VideoFrameView.as_view(), name="video-frame"),
    path("submissions/<uuid:pk>/poster.jpg", views.VideoPosterView.as_view(), name="video-poster"),
    path("submissions/<uuid:pk>/report.pdf", SubmissionReportView.as_view(), name="submission-report"),
    path("webhook-secret/", views.WebhookSecretView.as_view(), name="webhook-secret"),
    path("keys/", views.ApiKeyListCreateView.as_view(), name="key-list"),
    path("keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="key-revoke"),
    re_path(r"^[\s\S]*$", views.not_found),  # any path, control characters included (fuzzing found one)
]
