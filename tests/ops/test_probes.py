"""/healthz says the process answers; /readyz says whether the database, the broker and the model are there."""
from unittest import mock

import pytest
from django.db import OperationalError, connection

from training.models import ModelVersion

CLOSED_PORT_BROKER = "redis://:hunter2-secret@127.0.0.1:1/0"


def test_healthz_answers_ok_without_touching_the_database(client):
    # No `db` fixture: pytest-django refuses any query, so this fails if liveness reads the database.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ok_when_database_broker_and_model_are_there(client, active_model):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "model"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "tiny-test" in body["checks"]["model"]["detail"]
    assert "Retry-After" not in response


def test_readyz_names_an_unreachable_broker_and_asks_to_retry(client, active_model, settings):
    settings.CELERY_BROKER_URL = CLOSED_PORT_BROKER
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["failing"] == ["broker"]
    assert body["checks"]["broker"] == {"ok": False, "detail": "the task broker is unreachable", "ms": mock.ANY}
    assert body["checks"]["broker"]["ms"] < 5000
    assert response["Retry-After"] == "10"
    text = response.content.decode()
    assert "hunter2" not in text and "127.0.0.1" not in text and "redis" not in text


def test_readyz_fails_without_an_active_model_version(client, db):
    assert not ModelVersion.objects.filter(status="active").exists()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["model"]
    assert response.json()["checks"]["model"]["detail"] == "no model version is active"


def test_readyz_fails_when_the_active_models_file_is_gone(client, active_model):
    ModelVersion.objects.filter(pk=active_model.pk).update(artifact="/nowhere/gone.keras")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["model"]
    assert response.json()["checks"]["model"]["detail"] == "the model file of tiny-test is missing"
    assert "/nowhere" not in response.content.decode()


def test_readyz_fails_when_the_database_is_unreachable(client, active_model):
    down = OperationalError('connection to server at "db.internal" (10.0.0.5), port 5432 failed: password for "verity"')
    with mock.patch.object(connection, "ensure_connection", side_effect=down):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database", "model"]
    assert body["checks"]["database"]["detail"] == "the database is unreachable"
    assert body["checks"]["model"]["detail"] == "not checked: it needs the database"
    assert "db.internal" not in response.content.decode() and "verity" not in response.content.decode()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_a_host_that_allowed_hosts_does_not_list(client, active_model, settings, path):
    # Docker and Kubernetes probe http://127.0.0.1:8000 or the pod's address, never the public name.
    settings.ALLOWED_HOSTS = ["verity.example.org"]
    assert client.get("/submissions/", HTTP_HOST="10.1.2.3:8000").status_code == 400  # the check is on
    assert client.get(path, HTTP_HOST="10.1.2.3:8000").status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_never_sent_to_sign_in(client, active_model, settings, path):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.contrib.auth.middleware.LoginRequiredMiddleware"]
    assert client.get("/submissions/").status_code == 302  # everything else now asks to sign in
    response = client.get(path)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


def test_probes_only_answer_reads(client, db):
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200
