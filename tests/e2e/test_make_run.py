"""`make run`'s start script (platform/run-dev.sh): the portal it shows newcomers has no debug pages, and works."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.e2e.conftest import database_url

pytestmark = [pytest.mark.e2e]
START_TIMEOUT_S = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def run_dev(transactional_db, tmp_path):
    """platform/run-dev.sh on a free port, against the test database; yields (base URL, output file, var dir)."""
    port = free_port()
    output = tmp_path / "run-dev.out"
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    env.update(
        PY=sys.executable, HOST="127.0.0.1", PORT=str(port), VERITY_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=database_url(), MEDIA_ROOT=str(settings.MEDIA_ROOT), CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
    )  # fmt: skip
    with output.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "platform/run-dev.sh"], cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                fetch(base + "/favicon.ico")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"run-dev.sh did not start:\n{output.read_text()}")
                time.sleep(0.3)
        yield base, output, tmp_path / "var"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_make_run_serves_styled_error_pages_static_files_and_a_sign_in_that_works_over_http(run_dev):
    base, output, var = run_dev
    status, _, body = fetch(base + "/no-such-page/")
    assert status == 404
    assert b"There is no page here" in body and b"URLconf" not in body  # DEBUG is off
    status, headers, _ = fetch(base + "/static/css/verity.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert fetch(base + "/favicon.ico")[0] == 200
    status, headers, _ = fetch(base + "/accounts/sign-in/")
    # Plain HTTP on this machine: a Secure cookie would never come back, and nobody could sign in.
    assert status == 200 and "csrftoken=" in headers["Set-Cookie"] and "Secure" not in headers["Set-Cookie"]
    assert (var / "secret-key").stat().st_mode & 0o077 == 0  # the generated key is readable by its owner only


def test_make_run_says_once_that_it_runs_as_root_instead_of_the_workers_warning(run_dev):
    if os.geteuid() != 0:
        pytest.skip("only as root does Celery warn about superuser privileges")
    base, output, var = run_dev
    log = var / "worker.log"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (log.exists() and " ready." in log.read_text(errors="replace")):
        assert time.monotonic() < deadline, "the worker did not start:\n" + (log.read_text(errors="replace") if log.exists() else "")
        time.sleep(0.3)
    assert "superuser privileges" not in log.read_text(errors="replace")
    assert re.search(r"running as root\. Fine in a throwaway container", output.read_text())


def test_make_run_starts_celery_beat_which_sends_the_recovery_sweep(run_dev):
    base, output, var = run_dev
    log = var / "beat.log"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (log.exists() and "Sending due task sweep (detection.tasks.sweep)" in log.read_text(errors="replace")):
        assert time.monotonic() < deadline, "beat sent no sweep:\n" + (log.read_text(errors="replace") if log.exists() else output.read_text())
        time.sleep(0.3)
    assert "recovery sweep every 10 s" in output.read_text()
