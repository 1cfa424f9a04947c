import os

import pytest
from django.conf import settings

from tests.xdist_isolation import worker_broker_url


@pytest.mark.parametrize("url, worker, expected", [
    ("redis://127.0.0.1:6379/0", "gw0", "redis://127.0.0.1:6379/1"),
    ("redis://127.0.0.1:6379/0", "gw1", "redis://127.0.0.1:6379/2"),
    ("redis://127.0.0.1:6379", "gw0", "redis://127.0.0.1:6379/1"),
    ("redis://:secret@redis:6379/3?socket_timeout=5", "gw2", "redis://:secret@redis:6379/6?socket_timeout=5"),
    ("sqla+sqlite:////repo/var/test-broker.sqlite", "gw1", "sqla+sqlite:////repo/var/test-broker-gw1.sqlite"),
    ("memory://", "gw0", "memory://"),
])  # fmt: skip
def test_each_xdist_worker_gets_a_broker_of_its_own(url, worker, expected):
    assert worker_broker_url(url, worker) == expected


def test_more_workers_than_redis_has_databases_is_a_clear_error():
    with pytest.raises(pytest.UsageError, match="fewer xdist workers"):
        worker_broker_url("redis://127.0.0.1:6379/0", "gw15")


@pytest.mark.skipif("PYTEST_XDIST_WORKER" not in os.environ, reason="runs inside a pytest-xdist worker")
def test_this_worker_uses_its_own_broker_and_cache():
    from config.celery import app

    worker = os.environ["PYTEST_XDIST_WORKER"]
    url = settings.CELERY_BROKER_URL
    assert app.conf.broker_url == url
    if url.startswith("redis://"):
        assert url.rsplit("/", 1)[1] == str(1 + int(worker.removeprefix("gw")))
        assert settings.CACHES["default"]["LOCATION"].endswith(url.rsplit("/", 1)[1])
    else:
        assert url.endswith(f"-{worker}.sqlite")
