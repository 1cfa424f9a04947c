"""Who may call what: API-key scopes for submissions and results, a permission for managing keys."""
from rest_framework.permissions import BasePermission

from accounts.models import ApiKey


class HasScope(BasePermission):
    """The request's API key carries the scope the view names for this method (`view.required_scopes`)."""

    message = "This API key does not have the scope this request needs."

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        scope = view.required_scopes.get(request.method)
        if scope is None:
            return request.method == "OPTIONS"
        if not key.has_scope(scope):
            self.message = f"This API key does not have the '{scope}' scope."
            return False
        return True


class ManagesOrganisationKeys(BasePermission):
    """A signed-in member of an organisation allowed to create and revoke its keys (a partner admin)."""

    message = "You may not manage API keys; ask a Verity admin."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.may_manage_api_keys)
