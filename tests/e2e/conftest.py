"""A real Celery worker process against the configured broker and the test database."""
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import set_celery_eager

READY_TIMEOUT_S = 90


def database_url():
    """DATABASE_URL for the test database this session created, for the worker process."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class WorkerProcess:
    def __init__(self, log_path, **extra_env):
        self.log_path = log_path
        self.extra_env = extra_env
        self.proc = None

    def start(self):
        env = dict(
            os.environ,
            DATABASE_URL=database_url(),
            MEDIA_ROOT=str(settings.MEDIA_ROOT),
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            **self.extra_env,
        )
        cmd = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "-Q", "inference,prepare,sweep,default", "--concurrency", "1", "--pool", "prefork",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"e2e-{uuid.uuid4().hex[:8]}@%h", "-l", "info",
        ]  # fmt: skip
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, cwd=settings.BASE_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.output()}")
            if " ready." in self.output():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {READY_TIMEOUT_S}s:\n{self.output()}")

    def output(self):
        return Path(self.log_path).read_text(errors="replace")

    def children(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()


@pytest.fixture
def start_worker(transactional_db, tmp_path):
    """Start `celery worker` processes (with extra environment variables); tasks are published for real."""
    set_celery_eager(False)
    workers = []

    def start(**extra_env):
        worker = WorkerProcess(tmp_path / f"worker-{len(workers)}.log", **extra_env)
        workers.append(worker)
        return worker.start()

    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        # Release connections so that the test database can be flushed and dropped.
        connection.close()


@pytest.fixture
def celery_worker_process(start_worker):
    return start_worker()


def wait_for(predicate, timeout, what, worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    log = f"\nworker log:\n{worker.output()[-4000:]}" if worker else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{log}")
