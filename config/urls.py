from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="detection:submission-list", permanent=False)),
    path("accounts/", include("accounts.urls")),
    path("submissions/", include("detection.urls")),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Verity administration"
admin.site.site_title = "Verity admin"
