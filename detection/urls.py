from django.urls import path

from . import views
from .forensics import views as evidence_views

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
]
