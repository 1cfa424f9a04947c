"""The portal's API keys page: partner admins list, create and revoke their own organisation's keys.

The same operations as the session-authenticated `/api/v1/keys/` endpoints, through the same functions
(`accounts.api_keys`), so both are audited alike. A new key is rendered into the response that made it
and stored nowhere: it is shown exactly once.
"""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from . import api_keys
from .forms import ApiKeyForm
from .models import ApiKey


def organisation_keys(user):
    return ApiKey.objects.filter(organisation_id=user.organisation_id).select_related("created_by", "revoked_by")


def with_scope_labels(keys):
    labels = dict(ApiKey.Scope.choices)
    for key in keys:
        key.scope_labels = [labels.get(scope, scope) for scope in key.scopes]
    return keys


def _require_key_manager(request):
    if not request.user.may_manage_api_keys:
        raise PermissionDenied("Only your organisation's partner admins manage its API keys.")


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_key_list(request):
    """GET: the organisation's keys and a form for a new one. POST: make the key and show it, once."""
    _require_key_manager(request)
    new_key = None
    if request.method == "POST":
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            key, raw_key = api_keys.create_api_key(
                organisation=request.user.organisation,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                actor=request.user,
            )
            new_key = {"key": key, "secret": raw_key}
            form = ApiKeyForm()
    else:
        form = ApiKeyForm()
    response = render(
        request,
        "accounts/api_keys.html",
        {"keys": with_scope_labels(list(organisation_keys(request.user))), "form": form, "new_key": new_key},
        status=400 if request.method == "POST" and new_key is None else 200,
    )
    if new_key is not None:
        response["Cache-Control"] = "no-store"  # the one page that holds the key: not kept by the browser
    return response


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def api_key_revoke(request, pk):
    """GET: ask to confirm. POST: revoke; the key stops working at once and stays listed."""
    _require_key_manager(request)
    key = get_object_or_404(organisation_keys(request.user), pk=pk)  # another organisation's key: 404
    if request.method == "POST":
        if key.is_active:
            api_keys.revoke_api_key(key, actor=request.user)
            messages.success(request, f"Revoked “{key.name}” ({key.prefix}…). Requests with it are now refused.")
        return redirect("api-keys")
    return render(request, "accounts/api_key_revoke.html", {"key": key})
