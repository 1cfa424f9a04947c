from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("sign-in/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("api-keys/", views.api_key_list, name="api-keys"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
]
