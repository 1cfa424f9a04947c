"""Every URL pattern of the project, walked from the root resolver, and a concrete path for each.

New URLs are found here without anyone listing them: the permission matrix then fails until its table has a
row for them.
"""
import re

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver

PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def walk(resolver=None, prefix=""):
    """(route, URLPattern) for every pattern, the route being the patterns' texts joined (as Django prints them)."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from walk(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def all_routes():
    return [route for route, _ in walk()]


# Regular-expression routes cannot be filled in from their parameters: the path each one is tried with, by the
# start of the route (the admin's app list names every app with a ModelAdmin, so its end changes).
REGEX_ROUTES = {
    r"api/v1/^[\s\S]*$": "/api/v1/no-such-endpoint/",
    r"admin/^(?P<app_label>": "/admin/detection/",
    r"admin/(?P<url>.*)$": "/admin/no-such-page/",
}
ADMIN_OBJECT = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/<path:object_id>/")


def object_params(world):
    """Route -> {variant: path parameters}: each org-owned object is tried as organisation A's and as B's."""
    by_org = lambda make: {"A": make(world.A), "B": make(world.B)}  # noqa: E731
    submission = by_org(lambda org: {"pk": org.submission.pk})
    evidence = by_org(lambda org: {"pk": org.submission.pk, "kind": "heatmap"})
    key = by_org(lambda org: {"pk": org.victim_key.pk})
    video = by_org(lambda org: {"pk": org.video.pk, "index": 0, "track": 0})
    item = {"-": {"pk": world.review_item.pk}}
    run = {"-": {"pk": world.run.pk}}
    version = {"-": {"pk": world.version.pk}}
    return {
        "accounts/api-keys/<int:pk>/revoke/": key,
        "submissions/<uuid:pk>/": submission,
        "submissions/<uuid:pk>/image/": submission,
        "submissions/<uuid:pk>/report/": submission,
        "submissions/<uuid:pk>/report.pdf": submission,
        "submissions/<uuid:pk>/thumbnail.jpg": submission,
        "submissions/<uuid:pk>/evidence/<str:kind>.png": evidence,
        "submissions/<uuid:pk>/evidence/heatmap/": submission,
        "submissions/<uuid:pk>/clip/": video,
        "submissions/<uuid:pk>/poster.jpg": video,
        "submissions/<uuid:pk>/frames/<int:index>.jpg": video,
        "submissions/<uuid:pk>/faces/<int:track>.jpg": video,
        "submissions/<uuid:pk>/faces/<int:track>/heatmap.png": video,
        "review/<int:pk>/": item,
        "review/<int:pk>/claim/": item,
        "review/<int:pk>/release/": item,
        "review/<int:pk>/decide/": item,
        "review/<int:pk>/escalate/": item,
        "review/<int:pk>/reopen/": item,
        "training/runs/<int:pk>/": run,
        "training/runs/<int:pk>/progress/": run,
        "training/runs/<int:pk>/cancel/": run,
        "training/versions/<int:pk>/": version,
        "training/versions/<int:pk>/report/<str:name>": {"-": {"pk": world.version.pk, "name": "report.html"}},
        "training/versions/<int:pk>/promote/": version,
        "api/v1/submissions/<uuid:pk>/": submission,
        "api/v1/submissions/<uuid:pk>/evidence/<str:kind>.png": evidence,
        "api/v1/submissions/<uuid:pk>/report.pdf": submission,
        "api/v1/submissions/<uuid:pk>/frames/<int:index>.jpg": video,
        "api/v1/submissions/<uuid:pk>/poster.jpg": video,
        "api/v1/keys/<int:pk>/revoke/": key,
        "admin/r/<path:content_type_id>/<path:object_id>/": {
            "-": {"content_type_id": ContentType.objects.get_for_model(world.A.submission).pk, "object_id": world.A.submission.pk}
        },
        "admin/accounts/user/<id>/password/": {"-": {"id": world.A.journalist.pk}},
    }


def admin_object_params(route):
    """An admin change/delete/history route: the first object of its model (or an id that matches none)."""
    match = ADMIN_OBJECT.match(route)
    model = apps.get_model(match["app"], match["model"])
    first = model._default_manager.order_by("pk").first()
    return {"-": {"object_id": first.pk if first is not None else 0}}


def variants(route, world):
    """{variant: concrete path} for a route; raises KeyError for a route with parameters no one described."""
    for start, path in REGEX_ROUTES.items():
        if route.startswith(start):
            return {"-": path}
    if not PARAM.search(route):
        return {"-": "/" + route}
    params = object_params(world).get(route) or (admin_object_params(route) if ADMIN_OBJECT.match(route) else None)
    if params is None:
        raise KeyError(f"{route}: say in tests/security/urlwalk.py which objects fill its parameters")
    return {label: "/" + PARAM.sub(lambda m: str(values[m["name"]]), route) for label, values in params.items()}
