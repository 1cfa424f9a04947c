"""Who may use review pages: moderators and admins review; admins resolve disputes, reopen and export."""
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from . import services


def reviewer_required(view):
    """Signed-in moderators and admins; anyone else signed in gets 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not services.can_review(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def resolver_required(view):
    """Signed-in admins (who hold review.resolve_reviews); anyone else signed in gets 403."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not services.can_resolve(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped
