"""Shared helpers for the benchmarks: Django setup, the faces test split, timing and tables."""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "faces"


def setup_django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import django

    django.setup()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(command, cores):
    """`command` run on `cores` only (taskset, inherited by every thread and child it starts); as is without cores."""
    if not cores:
        return command
    if not shutil.which("taskset"):
        sys.exit("--pin needs taskset (util-linux)")
    return ["taskset", "-c", ",".join(map(str, cores)), *command]


def start_redis(workdir, cores=None):
    """A private redis-server on a free loopback port (nothing kept on disk): (process, its URL)."""
    if not shutil.which("redis-server"):
        sys.exit("no --broker given and no redis-server installed: pass --broker redis://HOST:PORT/DB")
    port = free_port()
    proc = subprocess.Popen(
        pinned(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(workdir)], cores),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    sys.exit("redis-server did not start")


def private_stack_env(workdir, broker, database_url=None, unthrottled=False):
    """Point this process (and every process it starts with its environment) at a stack of its own under
    `workdir`, deployed as in production: DEBUG off (with it on, Django records every SQL query in every
    process), a fresh secret key. `unthrottled`: API rates high enough never to refuse, while the throttles
    still do their bookkeeping on every request."""
    os.environ.update(
        DATABASE_URL=database_url or f"sqlite:///{workdir / 'db.sqlite3'}",
        CELERY_BROKER_URL=broker,
        VERITY_VAR_DIR=str(workdir / "var"),
        DJANGO_SETTINGS_MODULE="config.settings",
        TF_CPP_MIN_LOG_LEVEL="2",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(32),
    )
    if unthrottled:
        os.environ.update(
            VERITY_API_KEY_RATE="1000000/min", VERITY_API_ORGANISATION_RATE="1000000/min", VERITY_API_DAILY_QUOTA="1000000"
        )
    sys.path.insert(0, str(ROOT))


def images_per_second(fn, batch, min_seconds=3.0, min_iterations=3):
    """Calls fn(batch) (after one warm-up call) until both minimums are met; returns images per second."""
    fn(batch)
    n, started = 0, time.perf_counter()
    while n < min_iterations or time.perf_counter() - started < min_seconds:
        fn(batch)
        n += 1
    return n * len(batch) / (time.perf_counter() - started)


def print_table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


def write_json(path, figures):
    if path:
        Path(path).write_text(json.dumps(figures, indent=2, sort_keys=True))
        print(f"\nfigures written to {path}")
