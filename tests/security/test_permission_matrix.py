"""Who gets what, for every URL of the project: the table below, checked one request at a time.

Every URL pattern is found by walking Django's resolver (tests/security/urlwalk.py), so a new page or endpoint
fails this test until the table says who may use it. Path parameters are real objects: organisation A's and
organisation B's (rows marked A or B), or shared ones (-). Each request is sent by every role of
tests/security/conftest.py (ROLE_NAMES says who they are) with a browser-like CSRF token, and its changes are
rolled back before the next one. HEAD is not in the table: it must answer exactly what GET answers.

What a cell means:
    ok   200                          in   redirect to the portal's sign-in     ain  redirect to the admin's sign-in
    go   another redirect             4xx  that status (400 a form or body refused, 401 no valid API key,
                                           403 not allowed, 404 not found or not yours, 405 method not allowed)
    adm  the Django admin's own answer to a superuser (what each ModelAdmin allows): anything but a 5xx or a
         redirect to a sign-in. Admin pages that guard something (the append-only audit trail, API keys that
         are revoked rather than deleted) have rows of their own.

Besides each cell, for every request: never a 500, never a debug page, and nothing of organisation A in a
response to organisation B's journalist or keys (and the reverse).
"""
import fnmatch
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

from tests.security.conftest import ROLES, client_as, send
from tests.security.urlwalk import all_routes, variants

# route ("/" and the pattern as Django prints it; * matches anything) | object | method | one cell per role.
# The first row whose route matches is used, so specific admin rows come before the general ones.
TABLE = r"""
route                                                    obj meth  anon jA   jB   mod  admin padmA kA:r kA:s kA:rs kB:rs
/                                                         -  GET   go   go   go   go   go    go    go   go   go    go
/                                                         -  POST  go   go   go   go   go    go    go   go   go    go
/accounts/sign-in/                                        -  GET   ok   go   go   go   go    go    ok   ok   ok    ok
/accounts/sign-in/                                        -  POST  ok   go   go   go   go    go    ok   ok   ok    ok
/accounts/sign-out/                                       -  GET   405  405  405  405  405   405   405  405  405   405
/accounts/sign-out/                                       -  POST  in   in   in   in   in    in    in   in   in    in
/accounts/api-keys/                                       -  GET   in   403  403  403  403   ok    in   in   in    in
/accounts/api-keys/                                       -  POST  in   403  403  403  403   400   in   in   in    in
/accounts/api-keys/<int:pk>/revoke/                       A  GET   in   403  403  403  403   ok    in   in   in    in
/accounts/api-keys/<int:pk>/revoke/                       A  POST  in   403  403  403  403   go    in   in   in    in
/accounts/api-keys/<int:pk>/revoke/                       B  GET   in   403  403  403  403   404   in   in   in    in
/accounts/api-keys/<int:pk>/revoke/                       B  POST  in   403  403  403  403   404   in   in   in    in
/submissions/                                             -  GET   in   ok   ok   ok   ok    ok    in   in   in    in
/submissions/                                             -  POST  in   405  405  405  405   405   in   in   in    in
/submissions/new/                                         -  GET   in   ok   ok   403  ok    ok    in   in   in    in
/submissions/new/                                         -  POST  in   ok   ok   403  ok    ok    in   in   in    in
/submissions/status/                                      -  GET   in   ok   ok   ok   ok    ok    in   in   in    in
/submissions/status/                                      -  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/                                   A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/                                   A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/                                   B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/                                   B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/image/                             A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/image/                             A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/image/                             B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/image/                             B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/report/                            A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/report/                            A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/report/                            B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/report/                            B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/report.pdf                         A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/report.pdf                         A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/report.pdf                         B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/report.pdf                         B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/thumbnail.jpg                      A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/thumbnail.jpg                      A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/thumbnail.jpg                      B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/thumbnail.jpg                      B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/evidence/<str:kind>.png            A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/evidence/<str:kind>.png            A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/evidence/<str:kind>.png            B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/evidence/<str:kind>.png            B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/evidence/heatmap/                  A  GET   in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/evidence/heatmap/                  A  POST  in   go   404  go   go    go    in   in   in    in
/submissions/<uuid:pk>/evidence/heatmap/                  B  GET   in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/evidence/heatmap/                  B  POST  in   404  go   go   go    404   in   in   in    in
/submissions/<uuid:pk>/clip/                              A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/clip/                              A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/clip/                              B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/clip/                              B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/poster.jpg                         A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/poster.jpg                         A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/poster.jpg                         B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/poster.jpg                         B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/frames/<int:index>.jpg             A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/frames/<int:index>.jpg             A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/frames/<int:index>.jpg             B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/frames/<int:index>.jpg             B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/faces/<int:track>.jpg              A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/faces/<int:track>.jpg              A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/faces/<int:track>.jpg              B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/faces/<int:track>.jpg              B  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/faces/<int:track>/heatmap.png      A  GET   in   ok   404  ok   ok    ok    in   in   in    in
/submissions/<uuid:pk>/faces/<int:track>/heatmap.png      A  POST  in   405  405  405  405   405   in   in   in    in
/submissions/<uuid:pk>/faces/<int:track>/heatmap.png      B  GET   in   404  ok   ok   ok    404   in   in   in    in
/submissions/<uuid:pk>/faces/<int:track>/heatmap.png      B  POST  in   405  405  405  405   405   in   in   in    in
/review/                                                  -  GET   in   403  403  ok   ok    403   in   in   in    in
/review/                                                  -  POST  in   403  403  405  405   403   in   in   in    in
/review/next/                                             -  GET   in   403  403  405  405   403   in   in   in    in
/review/next/                                             -  POST  in   403  403  go   go    403   in   in   in    in
/review/agreement/                                        -  GET   in   403  403  ok   ok    403   in   in   in    in
/review/agreement/                                        -  POST  in   403  403  405  405   403   in   in   in    in
/review/<int:pk>/                                         -  GET   in   403  403  ok   ok    403   in   in   in    in
/review/<int:pk>/                                         -  POST  in   403  403  405  405   403   in   in   in    in
/review/<int:pk>/claim/                                   -  GET   in   403  403  405  405   403   in   in   in    in
/review/<int:pk>/claim/                                   -  POST  in   403  403  go   go    403   in   in   in    in
/review/<int:pk>/release/                                 -  GET   in   403  403  405  405   403   in   in   in    in
/review/<int:pk>/release/                                 -  POST  in   403  403  go   go    403   in   in   in    in
/review/<int:pk>/decide/                                  -  GET   in   403  403  405  405   403   in   in   in    in
/review/<int:pk>/decide/                                  -  POST  in   403  403  400  400   403   in   in   in    in
/review/<int:pk>/escalate/                                -  GET   in   403  403  405  405   403   in   in   in    in
/review/<int:pk>/escalate/                                -  POST  in   403  403  400  400   403   in   in   in    in
/review/<int:pk>/reopen/                                  -  GET   in   403  403  403  405   403   in   in   in    in
/review/<int:pk>/reopen/                                  -  POST  in   403  403  403  400   403   in   in   in    in
/audit/                                                   -  GET   in   403  403  ok   ok    403   in   in   in    in
/audit/                                                   -  POST  in   403  403  405  405   403   in   in   in    in
/audit/export.csv                                         -  GET   in   403  403  ok   ok    403   in   in   in    in
/audit/export.csv                                         -  POST  in   403  403  405  405   403   in   in   in    in
/training/                                                -  GET   in   403  403  403  ok    403   in   in   in    in
/training/                                                -  POST  in   403  403  403  405   403   in   in   in    in
/training/compare/                                        -  GET   in   403  403  403  ok    403   in   in   in    in
/training/compare/                                        -  POST  in   403  403  403  405   403   in   in   in    in
/training/runs/new/                                       -  GET   in   403  403  403  ok    403   in   in   in    in
/training/runs/new/                                       -  POST  in   403  403  403  ok    403   in   in   in    in
/training/runs/<int:pk>/                                  -  GET   in   403  403  403  ok    403   in   in   in    in
/training/runs/<int:pk>/                                  -  POST  in   403  403  403  405   403   in   in   in    in
/training/runs/<int:pk>/progress/                         -  GET   in   403  403  403  ok    403   in   in   in    in
/training/runs/<int:pk>/progress/                         -  POST  in   403  403  403  405   403   in   in   in    in
/training/runs/<int:pk>/cancel/                           -  GET   in   403  403  403  405   403   in   in   in    in
/training/runs/<int:pk>/cancel/                           -  POST  in   403  403  403  go    403   in   in   in    in
/training/versions/<int:pk>/                              -  GET   in   403  403  403  ok    403   in   in   in    in
/training/versions/<int:pk>/                              -  POST  in   403  403  403  405   403   in   in   in    in
/training/versions/<int:pk>/report/<str:name>             -  GET   in   403  403  403  ok    403   in   in   in    in
/training/versions/<int:pk>/report/<str:name>             -  POST  in   403  403  403  405   403   in   in   in    in
/training/versions/<int:pk>/promote/                      -  GET   in   403  403  403  405   403   in   in   in    in
/training/versions/<int:pk>/promote/                      -  POST  in   403  403  403  go    403   in   in   in    in
/ops/                                                     -  GET   in   403  403  403  ok    403   in   in   in    in
/ops/                                                     -  POST  in   403  403  403  405   403   in   in   in    in
/ops/status.json                                          -  GET   in   403  403  403  ok    403   in   in   in    in
/ops/status.json                                          -  POST  in   403  403  403  405   403   in   in   in    in
/api/v1/submissions/                                      -  GET   401  401  401  401  401   401   ok   403  ok    ok
/api/v1/submissions/                                      -  POST  401  401  401  401  401   401   403  400  400   400
/api/v1/submissions/batch/                                -  GET   401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/batch/                                -  POST  401  401  401  401  401   401   403  400  400   400
/api/v1/submissions/<uuid:pk>/                            A  GET   401  401  401  401  401   401   ok   403  ok    404
/api/v1/submissions/<uuid:pk>/                            A  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/<uuid:pk>/                            B  GET   401  401  401  401  401   401   404  403  404   ok
/api/v1/submissions/<uuid:pk>/                            B  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/<uuid:pk>/evidence/<str:kind>.png     A  GET   401  401  401  401  401   401   ok   403  ok    404
/api/v1/submissions/<uuid:pk>/evidence/<str:kind>.png     A  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/<uuid:pk>/evidence/<str:kind>.png     B  GET   401  401  401  401  401   401   404  403  404   ok
/api/v1/submissions/<uuid:pk>/evidence/<str:kind>.png     B  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/<uuid:pk>/report.pdf                  A  GET   401  401  401  401  401   401   ok   403  ok    404
/api/v1/submissions/<uuid:pk>/report.pdf                  A  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/<uuid:pk>/report.pdf                  B  GET   401  401  401  401  401   401   404  403  404   ok
/api/v1/submissions/<uuid:pk>/report.pdf                  B  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/<uuid:pk>/frames/<int:index>.jpg      A  GET   401  401  401  401  401   401   ok   403  ok    404
/api/v1/submissions/<uuid:pk>/frames/<int:index>.jpg      A  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/<uuid:pk>/frames/<int:index>.jpg      B  GET   401  401  401  401  401   401   404  403  404   ok
/api/v1/submissions/<uuid:pk>/frames/<int:index>.jpg      B  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/<uuid:pk>/poster.jpg                  A  GET   401  401  401  401  401   401   ok   403  ok    404
/api/v1/submissions/<uuid:pk>/poster.jpg                  A  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/submissions/<uuid:pk>/poster.jpg                  B  GET   401  401  401  401  401   401   404  403  404   ok
/api/v1/submissions/<uuid:pk>/poster.jpg                  B  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/webhook-secret/                                   -  GET   401  401  401  401  401   401   403  ok   ok    ok
/api/v1/webhook-secret/                                   -  POST  401  401  401  401  401   401   405  405  405   405
/api/v1/keys/                                             -  GET   401  403  403  403  403   ok    401  401  401   401
/api/v1/keys/                                             -  POST  401  403  403  403  403   400   401  401  401   401
/api/v1/keys/<int:pk>/revoke/                             A  GET   401  403  403  403  403   405   401  401  401   401
/api/v1/keys/<int:pk>/revoke/                             A  POST  401  403  403  403  403   ok    401  401  401   401
/api/v1/keys/<int:pk>/revoke/                             B  GET   401  403  403  403  403   405   401  401  401   401
/api/v1/keys/<int:pk>/revoke/                             B  POST  401  403  403  403  403   404   401  401  401   401
/api/v1/^[\s\S]*$                                         -  GET   404  404  404  404  404   404   404  404  404   404
/api/v1/^[\s\S]*$                                         -  POST  404  404  404  404  404   404   404  404  404   404
/api/schema/                                              -  GET   ok   ok   ok   ok   ok    ok    ok   ok   ok    ok
/api/schema/                                              -  POST  405  405  405  405  405   405   405  405  405   405
/api/docs/                                                -  GET   ok   ok   ok   ok   ok    ok    ok   ok   ok    ok
/api/docs/                                                -  POST  405  405  405  405  405   405   405  405  405   405
/api/redoc/                                               -  GET   ok   ok   ok   ok   ok    ok    ok   ok   ok    ok
/api/redoc/                                               -  POST  405  405  405  405  405   405   405  405  405   405
/admin/login/                                             -  GET   ok   ok   ok   ok   go    ok    ok   ok   ok    ok
/admin/login/                                             -  POST  ok   ok   ok   ok   ok    ok    ok   ok   ok    ok
/admin/logout/                                            -  GET   go   go   go   go   405   go    go   go   go    go
/admin/logout/                                            -  POST  go   go   go   go   in    go    go   go   go    go
/admin/audit/auditevent/add/                              -  GET   ain  ain  ain  ain  403   ain   ain  ain  ain   ain
/admin/audit/auditevent/add/                              -  POST  ain  ain  ain  ain  403   ain   ain  ain  ain   ain
/admin/audit/auditevent/<path:object_id>/change/          -  GET   ain  ain  ain  ain  ok    ain   ain  ain  ain   ain
/admin/audit/auditevent/<path:object_id>/change/          -  POST  ain  ain  ain  ain  403   ain   ain  ain  ain   ain
/admin/audit/auditevent/<path:object_id>/delete/          -  GET   ain  ain  ain  ain  403   ain   ain  ain  ain   ain
/admin/audit/auditevent/<path:object_id>/delete/          -  POST  ain  ain  ain  ain  403   ain   ain  ain  ain   ain
/admin/accounts/apikey/<path:object_id>/delete/           -  GET   ain  ain  ain  ain  403   ain   ain  ain  ain   ain
/admin/accounts/apikey/<path:object_id>/delete/           -  POST  ain  ain  ain  ain  403   ain   ain  ain  ain   ain
/admin/*                                                  -  GET   ain  ain  ain  ain  adm   ain   ain  ain  ain   ain
/admin/*                                                  -  POST  ain  ain  ain  ain  adm   ain   ain  ain  ain   ain
"""

REDIRECTS = (301, 302, 303, 307, 308)
# Where HEAD may answer otherwise than GET, and why.
HEAD_DIFFERS = {"admin/login/": "Django's admin sign-in sends a signed-in admin to the index on GET only"}
DEBUG_MARKERS = (b"Traceback", b"URLconf", b"DEFAULT_AUTO_FIELD", b"You're seeing this error because you have")


def parse_table(text):
    rows = {}
    for line in text.strip().splitlines()[1:]:
        route, obj, method, *cells = line.split()
        assert len(cells) == len(ROLES), f"{line!r}: {len(cells)} cells for {len(ROLES)} roles"
        rows.setdefault((route, obj), {})[method] = dict(zip(ROLES, cells))
    return rows


EXPECTED = parse_table(TABLE)


def matches(route, pattern):
    return pattern == "/" + route or fnmatch.fnmatchcase("/" + route, pattern)


def expected_for(route, variant):
    for (pattern, obj), methods in EXPECTED.items():
        if obj == variant and matches(route, pattern):
            return methods
    return None


def agrees(want, got):
    """A cell of the table against the class of an answer ("adm": anything the admin site decides itself)."""
    if want == "adm":
        return got in ("ok", "go") or got.startswith("4")
    return want == got


def classify(response):
    status = response.status_code
    if status in REDIRECTS:
        path = urlsplit(response["Location"]).path
        return {reverse("login"): "in", reverse("admin:login"): "ain"}.get(path, "go")
    return "ok" if status == 200 else str(status)


def row(route, variant, method, cells):
    return f"{'/' + route:57} {variant:2} {method:5} " + " ".join(f"{cells.get(r, '?'):4}" for r in ROLES)


def leaks(world, role, body):
    """Identifiers of the other organisation's objects found in a response to `role` (org B's for A's, A's for B's)."""
    side = {"jA": "A", "padmA": "A", "kA:r": "A", "kA:s": "A", "kA:rs": "A", "jB": "B", "kB:rs": "B"}.get(role)
    if side is None:
        return []
    other = world.B if side == "A" else world.A
    secret = other.organisation.webhook_secret.secret
    marks = [str(other.submission.pk), other.submission.original_name, str(other.video.pk), other.video.original_name,
             other.victim_key.prefix, other.journalist.email, secret]  # fmt: skip
    return [mark for mark in marks if mark.encode() in body]


def never_allowed(world, role, where, response):
    """What no answer may be, whatever the table says: a server error, a debug page, the other organisation's data."""
    problems = []
    if response.status_code >= 500:
        problems.append(f"{where}: {response.status_code}")
    if any(marker in response.body for marker in DEBUG_MARKERS):
        problems.append(f"{where}: debug output in the page")
    if found := leaks(world, role, response.body):
        problems.append(f"{where}: shows the other organisation's {found}")
    return problems


@pytest.mark.parametrize("route", all_routes(), ids=lambda route: "/" + route)
def test_every_role_gets_what_the_table_says(world, route):
    problems = []
    for variant, path in variants(route, world).items():
        actual = {"GET": {}, "POST": {}}
        for role in ROLES:
            client = client_as(world, role)
            answers = {method: send(client, method, path) for method in ("GET", "HEAD", "POST")}
            for method, response in answers.items():
                problems += never_allowed(world, role, f"{role} {method} {path}", response)
            get, head = answers["GET"].status_code, answers["HEAD"].status_code
            if head != get and route not in HEAD_DIFFERS:
                problems.append(f"{role} HEAD {path}: {head}, but GET {get}")
            actual["GET"][role], actual["POST"][role] = classify(answers["GET"]), classify(answers["POST"])
        expected = expected_for(route, variant) or {}
        for method, got in actual.items():
            want = expected.get(method)
            if want is None or not all(agrees(want[role], got[role]) for role in ROLES):
                mine = row(route, variant, method, want) if want else "(no row)"
                problems.append(f"table says / actual:\n  {mine}\n  {row(route, variant, method, got)}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_the_table_has_no_row_for_a_url_that_is_gone():
    routes = all_routes()
    stale = [pattern for pattern, _ in EXPECTED if not any(matches(route, pattern) for route in routes)]
    assert not stale, f"rows for URLs that no longer exist: {stale}"


def test_the_leak_check_sees_the_other_organisations_objects(world):
    """The check above is only worth something if it would notice: B's submission or secret on a page shown to A."""
    moderator_page = send(client_as(world, "mod"), "GET", reverse("detection:submission-list")).body
    assert leaks(world, "jA", moderator_page) and leaks(world, "kA:r", moderator_page)  # the moderator sees both
    assert leaks(world, "jB", moderator_page)
    assert leaks(world, "kA:rs", world.B.organisation.webhook_secret.secret.encode())
    assert not leaks(world, "mod", moderator_page)  # moderators may see every organisation's
