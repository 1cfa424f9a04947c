"""Health probes (public, answered by ops.middleware.ProbeMiddleware) and the staff status page."""
from functools import wraps

from django.contrib.auth.decorators import login_not_required, login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import probes, status

# Seconds an orchestrator or load balancer is asked to wait before asking /readyz again.
RETRY_AFTER_SECONDS = 10


@login_not_required
@never_cache
@require_safe
def healthz(request):
    """Liveness: this process answers. Checks nothing else, so a database outage never restarts the web tier."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_safe
def readyz(request):
    """Readiness: the database, the broker and the active model's file; 503 naming what fails."""
    checks = probes.readiness()
    failing = [name for name, check in checks.items() if not check.ok]
    body = {
        "status": "unavailable" if failing else "ok",
        "failing": failing,
        "checks": {name: check.as_dict() for name, check in checks.items()},
    }
    response = JsonResponse(body, status=503 if failing else 200)
    if failing:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def staff_only(view):
    """Staff members only: others get 403, anonymous visitors go to sign in."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("staff only")
        return view(request, *args, **kwargs)

    return wrapper


@staff_only
@never_cache
@require_safe
def ops_page(request):
    """Queues, uploads, stuck items, workers and failed webhooks, in plain words for whoever is on call."""
    return render(request, "ops/status.html", status.collect())


@staff_only
@never_cache
@require_safe
def ops_status_json(request):
    """The same figures as the page, for scripts."""
    return JsonResponse(status.as_json(status.collect()))
