"""/ops/: the staff status page and its JSON twin. /healthz and /readyz are answered by ops.middleware."""
from django.urls import path

from . import views

app_name = "ops"

urlpatterns = [
    path("", views.ops_page, name="status"),
    path("status.json", views.ops_status_json, name="status-json"),
]
