from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from detection.api.schema import CachedSchemaGenerator

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="detection:submission-list", permanent=False)),
    path("accounts/", include("accounts.urls")),
    path("submissions/", include("detection.urls")),
    path("review/", include("review.urls")),
    path("audit/", include("audit.urls")),
    path("training/", include("training.urls")),
    path("ops/", include("ops.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("detection.api.urls")),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(generator_class=CachedSchemaGenerator, authentication_classes=[], permission_classes=[AllowAny]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", authentication_classes=[], permission_classes=[AllowAny]),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", authentication_classes=[], permission_classes=[AllowAny]),
        name="api-redoc",
    ),
]

admin.site.site_header = "Verity administration"
admin.site.site_title = "Verity admin"

# A database outage answers 503 with Retry-After (config/errors.py); any other unhandled error the 500 page.
handler500 = "config.errors.server_error"
