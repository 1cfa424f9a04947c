"""bench/faults.py, short: a burst of uploads with the inference worker SIGKILLed whole mid-batch.

The harness starts its own PostgreSQL, Redis, gunicorn, workers and beat (never the suite's), so this test
reads the same whatever DATABASE_URL and CELERY_BROKER_URL the suite runs with.
"""
import json
import shutil
import signal
import subprocess
import sys
import uuid

import pytest
from django.conf import settings

pytestmark = pytest.mark.e2e

MISSING = [tool for tool in ("initdb", "pg_ctl", "redis-server") if not shutil.which(tool)]
UPLOADS = 80
# The stack starts in about 20 s and the burst recovers in about 30; the first run on a checkout also exports
# the default model to ONNX once (about 2 minutes, kept in var/faults/models for later runs).
TIMEOUT_S = 480


@pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not on PATH: the harness runs its own PostgreSQL and Redis")
def test_a_worker_killed_mid_burst_loses_strands_and_doubles_nothing(tmp_path):
    out = tmp_path / "results.json"
    run = f"test-{uuid.uuid4().hex[:8]}"
    harness = subprocess.Popen(
        [sys.executable, "bench/faults.py", "--uploads", str(UPLOADS), "--rate", "0", "--scenario", "worker-kill",
         "--sweep-interval", "2", "--stuck-after", "8", "--drain-timeout", "120", "--run", run, "--out", str(out)],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        output, _ = harness.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        harness.send_signal(signal.SIGTERM)  # the harness stops every service it started on SIGTERM
        output, _ = harness.communicate(timeout=90)
        pytest.fail(f"the harness ran past {TIMEOUT_S}s:\n{output[-4000:]}")
    finally:
        shutil.rmtree(settings.BASE_DIR / "var" / "faults" / run, ignore_errors=True)
    assert out.exists(), output[-4000:]
    figures = json.loads(out.read_text())["scenarios"]["worker-kill"]
    report = f"{json.dumps(figures, indent=1)}\n{output[-3000:]}"

    # The kill hit a worker that was scoring the burst, and the recovery path (the sweep) had work to do.
    assert figures["processing_at_fault"] > 0, report
    assert figures["requeued_by_sweeper"] > 0, report
    # Every upload accepted, each scored exactly once; nothing lost or left behind; the audit chain intact.
    assert figures["accepted_client"] == figures["accepted_db"] == UPLOADS, report
    assert figures["scored"] == UPLOADS and figures["failed"] == 0, report
    assert figures["lost"] == figures["stuck"] == figures["duplicates"] == figures["duplicate_submissions"] == 0, report
    assert figures["audit_verified"], report
    assert harness.returncode == 0, report
