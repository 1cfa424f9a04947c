from django.urls import path

from . import views
from .forensics import views as evidence_views
from .video import views as video_views

app_name = "detection"

urlpatterns = [
    path("", views.submission_list, name="submission-list"),
    path("new/", views.upload, name="upload"),
    path("status/", views.submission_status, name="submission-status"),
    path("<uuid:pk>/", views.submission_detail, name="submission-detail"),
    path("<uuid:pk>/image/", views.submission_image, name="submission-image"),
    path("<uuid:pk>/report/", views.submission_report, name="submission-report"),
    path("<uuid:pk>/report.pdf", views.submission_report_pdf, name="submission-report-pdf"),
    path("<uuid:pk>/thumbnail.jpg", views.submission_thumbnail, name="submission-thumbnail"),
    path("<uuid:pk>/evidence/<str:kind>.png", evidence_views.evidence_image, name="evidence-image"),
    path("<uuid:pk>/evidence/heatmap/", evidence_views.request_heatmap, name="evidence-request-heatmap"),
    path("<uuid:pk>/clip/", video_views.clip, name="video-clip"),
    path("<uuid:pk>/poster.jpg", video_views.poster, name="video-poster"),
    path("<uuid:pk>/frames/<int:index>.jpg", video_views.frame, name="video-frame"),
    path("<uuid:pk>/faces/<int:track>.jpg", video_views.face, name="video-face"),
    path("<uuid:pk>/faces/<int:track>/heatmap.png", video_views.face_heatmap, name="video-face-heatmap"),
]
