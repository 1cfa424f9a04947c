"""Who may call what: API-key scopes for submissions and results, a permission for managing keys."""
from rest_framework.permissions import BasePermission

from accounts.models import ApiKey


class HasScope(BasePermission):
    """The request's API key carries the scope the view names for this method (`view.required_scopes`).

    HEAD needs what GET needs (it is a GET without the body). A method the view does not answer at all is let
    through to DRF, which says 405 with the methods allowed: a key's scopes do not change what the URL offers.
    """

    message = "This API key does not have the scope this request needs."

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        method = "GET" if request.method == "HEAD" else request.method
        if method == "OPTIONS" or not hasattr(view, method.lower()):
            return True
        scope = view.required_scopes.get(method)
        if scope is None:
            return False  # a method the view answers but did not give a scope: refused, never open
        if not key.has_scope(scope):
            self.message = f"This API key does not have the '{scope}' scope."
            return False
        return True


class ManagesOrganisationKeys(BasePermission):
    """A signed-in member of an organisation allowed to create and revoke its keys (a partner admin)."""

    message = "You may not manage API keys; ask a Verity admin."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.may_manage_api_keys)
