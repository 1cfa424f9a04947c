"""Answer the orchestrator's probes before anything else in the middleware stack runs.

Docker and Kubernetes call http://127.0.0.1:8000/readyz (or the pod's address), a host that a production
ALLOWED_HOSTS does not list: CommonMiddleware would refuse it with 400 before any view ran. A probe builds no
URL from the host, so skipping the host check is safe; it also skips sessions and sign-in redirects.
"""
from . import views

PROBES = {"/healthz": views.healthz, "/readyz": views.readyz}


class ProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path.rstrip("/"))
        if probe is not None:
            return probe(request)
        return self.get_response(request)
