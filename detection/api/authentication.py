"""`Authorization: Bearer <key>`: the request acts as the organisation's API service account."""
from django.core.exceptions import SuspiciousOperation
from django.http.multipartparser import MultiPartParserError
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header

import audit
from accounts import api_keys


class ApiKeyAuthentication(BaseAuthentication):
    """request.user is the organisation's service user, request.auth the ApiKey."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the key as 'Authorization: Bearer <key>'.")
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
        key = api_keys.find_api_key(raw_key)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        if not key.is_active:
            audit.record(None, "api_key.refused", key, reason="revoked", ip=request.META.get("REMOTE_ADDR", ""))
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        user = api_keys.service_user(key.organisation)
        if not user.is_active:
            raise exceptions.AuthenticationFailed("API access for this organisation is switched off.")
        api_keys.mark_used(key)
        return user, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "detection.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from your organisation's admin or `manage.py create_api_key`.",
        }


class PortalSessionAuthentication(SessionAuthentication):
    """The portal's sign-in, for partner admins managing keys; 401 (not 403) when not signed in."""

    def authenticate_header(self, request):
        return 'Session realm="portal"'

    def enforce_csrf(self, request):
        """Check the CSRF token on Django's request, as the middleware would.

        DRF's request parses the body when the check reads the form field, so a body the view does not take (a
        form, where key management takes JSON) answered 415 before anyone's rights were checked. A form body
        Django cannot read (a multipart without boundary, too many fields) leaves only the header's token.
        """
        django_request = request._request
        try:
            django_request.POST
        except (MultiPartParserError, SuspiciousOperation):
            django_request._mark_post_parse_error()  # what Django does itself: an empty form from now on
        return super().enforce_csrf(django_request)


class PortalSessionAuthenticationScheme(OpenApiAuthenticationExtension):
    """The session cookie; and for POST, Django's CSRF check: the `csrftoken` cookie and the same token in a header."""

    target_class = "detection.api.authentication.PortalSessionAuthentication"
    name = ["cookieAuth", "csrfCookie", "csrfToken"]

    def get_security_requirement(self, auto_schema):
        if auto_schema.method in ("GET", "HEAD", "OPTIONS"):
            return {"cookieAuth": []}
        return {name: [] for name in self.name}

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "Signed in to the portal."},
            {"type": "apiKey", "in": "cookie", "name": "csrftoken", "description": "The portal's CSRF cookie."},
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-CSRFToken",
                "description": "The value of the `csrftoken` cookie, on every POST.",
            },
        ]
