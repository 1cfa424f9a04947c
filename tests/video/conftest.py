"""The real-worker fixtures of tests/e2e, for the clip tests that score through a worker process."""
from tests.e2e.conftest import celery_worker_process, start_worker  # noqa: F401
