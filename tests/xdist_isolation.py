"""pytest -n N (pytest-xdist): each test process gets a broker and a cache of its own.

The test database is already one per process (pytest-django suffixes its name with the worker id, and the SQLite
test file carries the process id). The broker and the cache are not: two processes on one Redis database would
take each other's Celery tasks (a real worker started by one test scoring another process's uploads against the
wrong database) and share rate-limit and quota counters. So worker `gwN` moves to Redis database base + 1 + N
(the cache follows the broker, as in settings), or to a SQLite broker file of its own.

Loaded with `-p tests.xdist_isolation` (`PYTEST_PARALLEL` in the Makefile): it must run before pytest-django reads the settings, which is
earlier than any conftest.py. It runs after pytest-env has set the suite's defaults (both are `tryfirst`; a `-p`
plugin is registered before the installed ones, and pluggy calls the later-registered first).
"""
import os
from urllib.parse import urlsplit

import pytest

REDIS_DATABASES = 16  # Redis's default `databases`


def worker_broker_url(url, worker):
    """The broker URL for xdist worker `worker` ("gw0", "gw1"...) given the suite's URL."""
    index = int(worker.removeprefix("gw"))
    if url.startswith(("redis://", "rediss://")):
        parts = urlsplit(url)
        database = int(parts.path.strip("/") or 0) + 1 + index
        if database >= REDIS_DATABASES:
            raise pytest.UsageError(f"{worker} would need Redis database {database}: run fewer xdist workers")
        return parts._replace(path=f"/{database}").geturl()
    if url.startswith("sqla+sqlite:///"):
        path, dot, suffix = url.rpartition(".")
        return f"{path}-{worker}.{suffix}" if dot else f"{url}-{worker}"
    return url


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("CELERY_BROKER_URL")
    if worker and url:
        os.environ["CELERY_BROKER_URL"] = worker_broker_url(url, worker)
