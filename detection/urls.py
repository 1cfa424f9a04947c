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
    path("<uuid:pk>/evidence/<str:kind>.png", evidence_views.evidence_image, name="evidence-image"),
    path("<uuid:pk>/evidence/heatmap/", evidence_views.request_heatmap, name="evidence-request-heatmap"),
]
