from django.urls import path

from . import views

app_name = "detection"

urlpatterns = [
    path("", views.submission_list, name="submission-list"),
    path("new/", views.upload, name="upload"),
    path("status/", views.submission_status, name="submission-status"),
    path("<uuid:pk>/", views.submission_detail, name="submission-detail"),
    path("<uuid:pk>/image/", views.submission_image, name="submission-image"),
]
