"""Schemathesis fuzzes every operation of the committed contract against the app: no 5xx, no schema violations.

Requests go to the WSGI app in this process, inside the test's transaction. The URL fetcher and webhooks
are pointed at a resolver that refuses every name, so no generated URL can leave this machine.
"""
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from detection import fetch, services
from tests.conftest import make_image_bytes

CONTRACT = Path(__file__).resolve().parents[2] / "openapi.yaml"
EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app():
    """The WSGI app without its per-request connection closing, which would end the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(host, port):
        raise fetch.FetchError(f"the host name {host!r} could not be resolved")

    monkeypatch.setattr(fetch, "resolve", refuse)


@pytest.fixture
def partner_admin_session(partner):
    """Cookie and CSRF headers of a signed-in partner admin, for the key-management operations."""
    partner.user_permissions.add(Permission.objects.get(codename="manage_organisation_api_keys"))
    client = Client()
    client.force_login(partner)
    csrf = _get_new_csrf_string()
    return {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf}, {"X-CSRFToken": csrf}


def test_every_operation_answers_within_the_contract(
    wsgi_app, no_network, partner, partner_key, partner_admin_session, active_model
):
    known = services.submit(data=make_image_bytes(), name="known.jpg", uploader=partner, source="api", enqueue=False)
    services.score(known.pk)
    schema = schemathesis.openapi.from_path(str(CONTRACT))
    bearer = {"Authorization": f"Bearer {partner_key[1]}"}
    # Key management last: fuzzing its revoke operation may revoke the key the other operations use.
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=lambda op: op.path.startswith("/api/v1/keys/"))
    assert len(operations) >= 6
    answers = Counter()
    # Random bytes are never an image: send one real upload and one real batch through the same checks.
    for label, body in [
        ("POST /api/v1/submissions/", {"image": make_image_bytes()}),
        ("POST /api/v1/submissions/batch/", {"images": [make_image_bytes(), b"not an image"]}),
    ]:
        operation = next(op for op in operations if op.label == label)
        case = operation.Case(body=body, media_type="multipart/form-data")
        answers[(label, case.call_and_validate(headers=bearer, checks=CHECKS, app=wsgi_app).status_code)] += 1
    for operation, mode in [(op, mode) for op in operations for mode in EXAMPLES_PER_OPERATION]:
        cookies, headers = partner_admin_session if operation.path.startswith("/api/v1/keys/") else (None, bearer)
        # Random ids are all unknown (404); in positive mode, ask for the one that exists (200).
        known_id = {"id": str(known.pk)} if "{id}" in operation.path and "submissions" in operation.path else None
        if mode == GenerationMode.NEGATIVE:
            known_id = None
        strategy = operation.as_strategy(generation_mode=mode, cookies=cookies, path_parameters=known_id)

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION[mode],
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def fuzz(case):
            response = case.call_and_validate(headers=dict(headers), checks=CHECKS, app=wsgi_app)
            answers[(operation.label, response.status_code)] += 1

        try:
            fuzz()
        except Unsatisfiable:
            # Negative mode on an operation with nothing left to make invalid (no parameters, fixed cookies).
            assert mode == GenerationMode.NEGATIVE, operation.label
    print("schemathesis:", sum(answers.values()), "requests;", dict(sorted(answers.items())))
    # The key was accepted: the fuzzing reached past authentication.
    assert answers[("GET /api/v1/submissions/", 200)] > 0
    assert answers[("GET /api/v1/keys/", 200)] > 0
    assert answers[("GET /api/v1/submissions/{id}/", 200)] > 0
    assert answers[("POST /api/v1/submissions/", 201)] == answers[("POST /api/v1/submissions/batch/", 201)] == 1
