"""Fault injection: break each service under a burst of uploads, then count what was lost, stuck or doubled.

    .venv/bin/python bench/faults.py [--uploads N] [--scenario NAME|all|together] [--rate R] [--out var/faults/results.json]

Starts a private stack on loopback ports, everything under var/faults/<run>/: PostgreSQL (initdb, trust auth),
Redis (AOF on), the web tier (gunicorn with platform/gunicorn.conf.py), one inference worker, one default-queue
worker and celery beat, each in its own session so that a fault can SIGKILL it whole. The shared services on
5432 and 6379 are never touched. Then, for each scenario, a fresh burst of N unique small JPEGs on the same
stack (half through the partner API with an Idempotency-Key each, half through `detection.services.submit` in
this process), paced at --rate uploads/s; once --fault-at of them are sent the fault is injected, the service
brought back, and the harness waits until every accepted upload is scored or failed (or --drain-timeout).

Scenarios: worker-kill (SIGKILL the inference worker's process group, restart it), child-kill (SIGKILL its
pool child only), redis-kill (SIGKILL Redis, restart it on its AOF), postgres-restart (`pg_ctl restart -m
immediate`), web-kill (SIGKILL gunicorn mid-upload, restart it), broker-down (Redis stopped for --outage
seconds while uploads go on), storage-refuses (the media directories made immutable with `chattr +i` for
--outage seconds; where the filesystem has no such flag, MEDIA_ROOT, a symlink, is pointed nowhere instead);
`all` runs each of them, then `together` (all of them overlapping in one burst).

The client behaves as a careful partner: an upload refused (5xx, 409 "still in progress", a dropped
connection, the file store out of reach) is sent again, after Retry-After capped at --max-retry-wait
seconds, until it is accepted or --give-up-after seconds have passed since its first try.

Per scenario it prints and writes (JSON): accepted (by the client and in the database), rejections during and
after the outage window, scored, failed (by reason), stuck, duplicates, lost, seconds to recover, whether the
audit chain verifies, and the end-to-end rate. Exits 1 when anything was lost, stuck or doubled, or an upload
was still refused when the client gave up on it.
"""
import argparse
import hashlib
import io
import json
import logging
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from _common import ROOT, free_port, print_table, setup_django, write_json

SCENARIOS = ("worker-kill", "child-kill", "redis-kill", "postgres-restart", "web-kill", "broker-down", "storage-refuses")
FINISHED = ("scored", "failed")
KILLS_WORKER = ("worker-kill", "child-kill", "together")
FAULTS_DIR = ROOT / "var" / "faults"
# The ONNX export of the default model is kept across runs: exporting it costs a minute of TensorFlow.
MODELS_CACHE = FAULTS_DIR / "models"
READY_TIMEOUT_S = 180
POLL_S = 0.5


def wait_until(predicate, timeout, what, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tail = f"\n--- last lines of {log} ---\n{tail_of(log)}" if log else ""
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}{tail}")


def tail_of(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def as_postgres(argv):
    """initdb and pg_ctl refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


def kill_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


class Process:
    """One service process started in its own session, so that a fault (or the cleanup) reaches its children."""

    def __init__(self, name, argv, env, log_path, ready, port=None):
        self.name, self.argv, self.env, self.log_path, self.ready = name, argv, env, Path(log_path), ready
        self.port = port
        self.proc = None
        self.offset = 0  # where this start's output begins in the (appended) log

    def start(self):
        self.offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail_of(self.log_path)}")
            return self.ready(self)

        wait_until(up, READY_TIMEOUT_S, f"{self.name} to be ready", self.log_path)
        return self

    def output(self):
        with open(self.log_path, "rb") as fh:
            fh.seek(self.offset)
            return fh.read().decode(errors="replace")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def children(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    def kill(self):
        """SIGKILL the whole process group, as a crashed container or an OOM kill of the lot."""
        kill_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout=20):
        if self.proc is None:
            return
        kill_group(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        kill_group(self.proc.pid, signal.SIGKILL)  # and whatever of its group outlived it
        self.proc.wait()


class Postgres:
    """A private PostgreSQL cluster managed with pg_ctl (which daemonises the postmaster itself)."""

    def __init__(self, root, port):
        self.home = root / "pg"  # owned by the postgres user when we are root
        self.data, self.log, self.port = self.home / "data", self.home / "postgres.log", port
        self.url = f"postgres://postgres@127.0.0.1:{port}/postgres"

    def pg_ctl(self, *args, check=True):
        # Output to a file, never a pipe: a postmaster that pg_ctl starts inherits it and would hold it open.
        with open(self.home.parent / "logs" / "pg_ctl.log", "ab") as out:
            done = subprocess.run(
                as_postgres(["pg_ctl", "-D", str(self.data), *args]), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed:\n{tail_of(self.home.parent / 'logs' / 'pg_ctl.log')}")
        return done

    def init(self):
        self.home.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        subprocess.run(
            as_postgres(["initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]),
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        self.start()

    def start(self):
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.home} -c max_connections=200"
        self.pg_ctl("-l", str(self.log), "-w", "-t", "60", "-o", options, "start")

    def ready(self):
        import psycopg

        try:
            psycopg.connect(self.url, connect_timeout=1).close()
            return True
        except psycopg.Error:
            return False

    def restart_immediate(self):
        """Crash-stop (no checkpoint, as a killed server) and start again with the same options; returns when up."""
        self.pg_ctl("-l", str(self.log), "-m", "immediate", "-w", "-t", "60", "restart")
        wait_until(self.ready, 60, "PostgreSQL to accept connections again", self.log)

    def stop(self):
        if self.data.exists() and self.pg_ctl("-m", "fast", "-w", "-t", "30", "stop", check=False).returncode != 0:
            self.pg_ctl("-m", "immediate", "stop", check=False)


def redis_ready(process):
    try:
        with socket.create_connection(("127.0.0.1", process.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")  # "-LOADING" while it replays its AOF
    except OSError:
        return False


def http_ready(process):
    import urllib3

    try:
        return urllib3.request("GET", f"http://127.0.0.1:{process.port}/healthz", timeout=1, retries=False).status == 200
    except urllib3.exceptions.HTTPError:
        return False


def says(text):
    return lambda process: text in process.output()


class Media:
    """MEDIA_ROOT, and a way to make it refuse writes while we are root (chmod would not stop root).

    MEDIA_ROOT is a symlink to media-store/. With `chattr +i` on every directory of the store, nothing can
    be created in it but every stored image can still be read: a store that refuses writes. Where the
    filesystem has no immutable flag, the symlink is pointed at nothing instead (then reads fail too).
    """

    def __init__(self, root):
        self.link, self.store = root / "media", root / "media-store"
        self.store.mkdir()
        (self.store / "uploads").mkdir()
        self.link.symlink_to(self.store)
        self.method = "chattr +i" if self._chattr_works(root) else "dangling MEDIA_ROOT symlink"
        self.locked = []

    @staticmethod
    def _chattr_works(root):
        probe = root / "chattr-probe"
        probe.mkdir()
        try:
            if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
                return False
            try:
                (probe / "x").write_bytes(b"x")
                return False
            except OSError:
                return True
        except FileNotFoundError:  # no chattr at all
            return False
        finally:
            subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
            shutil.rmtree(probe, ignore_errors=True)

    # Paths per chattr call: a store of tens of thousands of uploads has more directories than one command line
    # may name ("Argument list too long").
    CHATTR_CHUNK = 1000

    def _chattr(self, flag):
        for start in range(0, len(self.locked), self.CHATTR_CHUNK):
            subprocess.run(["chattr", flag, *self.locked[start: start + self.CHATTR_CHUNK]], check=True)

    def refuse(self):
        if self.method == "chattr +i":
            self.locked = [str(self.store)] + [str(Path(d) / n) for d, names, _ in os.walk(self.store) for n in names]
            self._chattr("+i")
        else:
            nowhere = self.link.with_name("media.tmp")
            nowhere.symlink_to(self.link.with_name("no-such-store"))
            os.replace(nowhere, self.link)

    def accept(self):
        if self.method == "chattr +i":
            self._chattr("-i")
            self.locked = []
        else:
            back = self.link.with_name("media.tmp")
            back.symlink_to(self.store)
            os.replace(back, self.link)

    def release(self):
        """Never leave immutable files behind (they could not be deleted)."""
        if self.store.exists() and shutil.which("chattr"):
            subprocess.run(["chattr", "-R", "-i", str(self.store)], capture_output=True)


def kill_leftovers(root):
    """Processes an earlier, killed run left in this run's folder: recognised by the folder in their command or environment."""
    marker = f"{root}/".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes() or marker in (entry / "environ").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


class Stack:
    """The private platform: PostgreSQL, Redis, web, inference worker, default worker, beat."""

    def __init__(self, root, args):
        self.root, self.args = root, args
        self.logs = root / "logs"
        self.postgres = None
        self.media = None
        self.processes = {}

    @property
    def redis(self):
        return self.processes["redis"]

    @property
    def web(self):
        return self.processes["web"]

    @property
    def inference(self):
        return self.processes["inference"]

    def start(self):
        """PostgreSQL and Redis; returns the environment every process of the platform runs with."""
        for folder in (self.logs, self.root / "var", self.root / "redis"):
            folder.mkdir(parents=True)
        self.media = Media(self.root)
        self.postgres = Postgres(self.root, free_port())
        self.postgres.init()
        redis_port, web_port = free_port(), free_port()
        self.env = self._env(redis_port, web_port)
        py = sys.executable
        celery = [py, "-m", "celery", "-A", "config"]
        # As platform/entrypoint.sh starts them, on our ports and with logs of their own.
        specs = {
            "redis": (["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--appendonly", "yes",
                       "--save", "", "--dir", str(self.root / "redis")], redis_ready, redis_port),
            "web": ([py, "-m", "gunicorn", "config.wsgi:application", "-c", "platform/gunicorn.conf.py"], http_ready, web_port),
            "inference": (celery + ["worker", "-Q", "inference", "--concurrency", "1", "-l", "info", "-n", "cpu@%h"],
                          says(" ready."), None),
            "default": (celery + ["worker", "-Q", "sweep,default", "--concurrency", "1", "--prefetch-multiplier", "1",
                                  "-l", "info", "-n", "default@%h"], says(" ready."), None),
            "beat": (celery + ["beat", "-l", "info", "--schedule", str(self.root / "var" / "celerybeat-schedule")],
                     says("beat: Starting"), None),
        }  # fmt: skip
        for name, (argv, ready, port) in specs.items():
            self.processes[name] = Process(name, argv, self.env, self.logs / f"{name}.log", ready, port)
        self.redis.start()
        return self.env

    def start_services(self):
        """Web, workers and beat: after the database is migrated and the model is in place."""
        for name in ("web", "inference", "default", "beat"):
            self.processes[name].start()

    def _env(self, redis_port, web_port):
        env = dict(os.environ)
        for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "AWS_STORAGE_BUCKET_NAME"):
            env.pop(name, None)  # the suite's or the shell's services are not ours
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=self.postgres.url,
            CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
            MEDIA_ROOT=str(self.media.link),
            VERITY_VAR_DIR=str(self.root / "var"),
            VERITY_MODELS_DIR=str(MODELS_CACHE),
            SECRET_KEY=secrets.token_urlsafe(40),
            DEBUG="0",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="0",
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
            GUNICORN_BIND=f"127.0.0.1:{web_port}",
            GUNICORN_WORKERS=str(self.args.web_workers),
            VERITY_SCORE_FACES="0",  # the burst's images have no faces; scoring the whole image is faster
            VERITY_SWEEP_INTERVAL_SECONDS=str(self.args.sweep_interval),
            VERITY_STUCK_AFTER_SECONDS=str(self.args.stuck_after),
            VERITY_API_KEY_RATE="1000000/min",
            VERITY_API_ORGANISATION_RATE="1000000/min",
            VERITY_API_DAILY_QUOTA="100000000",
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONUNBUFFERED="1",
            PYTHONWARNINGS="ignore:You're running the worker with superuser privileges",
        )
        return env

    def heal(self):
        """Between scenarios: every service up, the store writable (a fault that went wrong leaves nothing broken)."""
        if self.media.locked:
            self.media.accept()
        if not self.postgres.ready():
            self.postgres.start()
        for process in self.processes.values():
            if not process.alive():
                process.start()

    def log_offsets(self):
        return {name: p.log_path.stat().st_size for name, p in self.processes.items() if p.log_path.exists()}

    def log_since(self, name, offsets):
        with open(self.processes[name].log_path, "rb") as fh:
            fh.seek(offsets.get(name, 0))
            return fh.read().decode(errors="replace")

    def log_errors(self, offsets):
        """How many ERROR (or CRITICAL) lines each service logged since `offsets`."""
        return {
            name: sum(1 for line in self.log_since(name, offsets).splitlines() if " ERROR " in line or " CRITICAL " in line)
            for name in self.processes
        }

    def sweeper_resent(self, offsets):
        """Submissions the sweep sent to the inference queue again since `offsets` (it runs on the default worker)."""
        return sum(int(n) for n in re.findall(r"sent (\d+) stuck submission", self.log_since("default", offsets)))

    def stop(self):
        for name in ("beat", "web", "default", "inference", "redis"):
            process = self.processes.get(name)
            if process is not None:
                try:
                    process.stop()
                except Exception as exc:  # keep stopping the others
                    print(f"stopping {name}: {exc}", file=sys.stderr)
        if self.postgres is not None:
            self.postgres.stop()
        if self.media is not None:
            self.media.release()


# Faults: each breaks something, waits, brings it back, and returns once it is back.


def worker_kill(stack, args):
    stack.inference.kill()
    time.sleep(args.down)
    stack.inference.start()


def child_kill(stack, args):
    before = stack.inference.children()
    if not before:
        raise RuntimeError("the inference worker has no pool child to kill")
    os.kill(before[0], signal.SIGKILL)
    wait_until(lambda: set(stack.inference.children()) - set(before), 60, "a new pool child", stack.inference.log_path)


def redis_kill(stack, args):
    stack.redis.kill()
    time.sleep(args.down)
    stack.redis.start()


def postgres_restart(stack, args):
    stack.postgres.restart_immediate()


def web_kill(stack, args):
    stack.web.kill()
    time.sleep(args.down)
    stack.web.start()


def broker_down(stack, args):
    stack.redis.stop()  # SIGTERM: Redis writes its AOF and exits, as `docker compose stop redis`
    time.sleep(args.outage)
    stack.redis.start()


def storage_refuses(stack, args):
    stack.media.refuse()
    try:
        time.sleep(args.outage)
    finally:
        stack.media.accept()


def together(stack, args):
    """Every fault in one window, overlapping; those on the same service one after the other."""
    lanes = [
        [storage_refuses],
        [child_kill, worker_kill],
        [web_kill],
        [postgres_restart],
        [redis_kill, broker_down],
    ]
    errors = []

    def run(lane, delay):
        time.sleep(delay)
        try:
            for fault in lane:
                fault(stack, args)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(lane, i * 0.5), daemon=True) for i, lane in enumerate(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


FAULTS = {
    "worker-kill": worker_kill,
    "child-kill": child_kill,
    "redis-kill": redis_kill,
    "postgres-restart": postgres_restart,
    "web-kill": web_kill,
    "broker-down": broker_down,
    "storage-refuses": storage_refuses,
    "together": together,
}


# The load: unique images, half through the API, half through the service layer.


@dataclass
class Upload:
    index: int
    via: str  # "api" or "service"
    name: str
    data: bytes
    sha256: str
    key: str  # Idempotency-Key, the same on every retry
    first_sent: float = 0.0
    accepted: bool = False
    gave_up: bool = False


@dataclass
class Attempt:
    index: int
    via: str
    started: float
    ended: float
    outcome: str  # "accepted", an HTTP status ("503"), or what went wrong ("connection-error", "StorageUnavailable")
    retry_after: bool = False


def make_uploads(n, prefix, seed):
    """N small JPEGs of noise, each with its own hash (content-addressed storage would not write a repeat)."""
    rng = np.random.default_rng(seed)
    uploads, seen = [], set()
    for i in range(n):
        while True:
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
            data = buf.getvalue()
            sha = hashlib.sha256(data).hexdigest()
            if sha not in seen:
                break
        seen.add(sha)
        via = "api" if i % 2 == 0 else "service"
        uploads.append(Upload(i, via, f"{prefix}-{i:05d}.jpg", data, sha, uuid.uuid4().hex))
    return uploads


class Load:
    """Client threads sending uploads at a pace, and sending refused ones again later, as a partner would."""

    def __init__(self, uploads, args, api_url, api_key, uploader):
        import urllib3

        self.uploads, self.args = uploads, args
        self.url, self.uploader = api_url, uploader
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.http = urllib3.PoolManager(maxsize=args.clients)
        self.due = queue.PriorityQueue()
        self.attempts = []
        self.lock = threading.Lock()
        self.sent = 0  # uploads tried at least once
        self.outstanding = len(uploads)
        self.stop = threading.Event()
        self.threads = []

    def start(self):
        self.started = time.time()
        interval = 1.0 / self.args.rate if self.args.rate > 0 else 0.0
        for u in self.uploads:
            self.due.put((self.started + u.index * interval, u.index, u))
        self.threads = [threading.Thread(target=self._client, daemon=True, name=f"client-{i}") for i in range(self.args.clients)]
        for t in self.threads:
            t.start()
        return self.started

    def done(self):
        return self.outstanding == 0

    def join(self, timeout=None):
        for t in self.threads:
            t.join(timeout)

    def _client(self):
        from django.db import connections

        try:
            while not self.stop.is_set() and not self.done():
                try:
                    due, index, upload = self.due.get(timeout=0.1)
                except queue.Empty:
                    continue
                wait = due - time.time()
                if wait > 0:
                    self.due.put((due, index, upload))
                    time.sleep(min(wait, 0.02))
                    continue
                self._try(upload)
        finally:
            connections.close_all()

    def _try(self, upload):
        started = time.time()
        if not upload.first_sent:
            upload.first_sent = started
            with self.lock:
                self.sent += 1
        outcome, retry_after = (self._send_api if upload.via == "api" else self._send_service)(upload)
        ended = time.time()
        with self.lock:
            self.attempts.append(Attempt(upload.index, upload.via, started, ended, outcome, retry_after is not None))
        if outcome == "accepted":
            upload.accepted = True
        elif outcome.isdigit() and 400 <= int(outcome) < 500 and outcome not in ("409", "429"):
            upload.gave_up = True  # refused for good: a harness or platform defect, reported as such
        elif ended - upload.first_sent > self.args.give_up_after:
            upload.gave_up = True
        else:
            wait = min(float(retry_after) if retry_after else 1.0, self.args.max_retry_wait)
            self.due.put((ended + wait, upload.index, upload))
            return
        with self.lock:
            self.outstanding -= 1

    def _send_api(self, upload):
        import urllib3

        try:
            response = self.http.request(
                "POST", self.url, headers={**self.headers, "Idempotency-Key": upload.key},
                fields={"image": (upload.name, upload.data, "image/jpeg")},
                timeout=urllib3.Timeout(connect=2, read=30), retries=False,
            )  # fmt: skip
        except urllib3.exceptions.HTTPError:
            return "connection-error", None
        if response.status == 201:
            return "accepted", None
        return str(response.status), response.headers.get("Retry-After")

    def _send_service(self, upload):
        from django import db

        from detection import services
        from detection.models import Submission

        db.close_old_connections()  # what a request would do: drop a connection the database closed
        try:
            services.submit(data=upload.data, name=upload.name, uploader=self.uploader, source=Submission.Source.PORTAL)
        except Exception as exc:  # StorageUnavailable, OperationalError...: refused, send it again later
            try:
                db.connection.close()
            except Exception:
                pass
            return exc.__class__.__name__, None
        return "accepted", None


# Counting.


class Monitor:
    """Polls the database during a scenario: when was every accepted upload (and every exposed one) finished?"""

    def __init__(self, prefix, since):
        self.prefix, self.since = prefix, since
        self.zero_since = None  # since when no accepted upload has been unfinished
        self.finished_at = None  # the load is done, and every accepted upload finished (since zero_since)
        self.exposed_finished_at = None  # every upload accepted before the last service came back is finished

    def poll(self, load_done, restored_at):
        from django import db
        from django.db.models import Count, Q

        db.close_old_connections()
        try:
            counts = self.burst().aggregate(
                total=Count("pk"),
                unfinished=Count("pk", filter=~Q(status__in=FINISHED)),
                exposed=Count("pk", filter=~Q(status__in=FINISHED) & Q(created_at__lte=_dt(restored_at or 0))),
            )
        except db.Error:
            db.connection.close()
            return None
        now = time.time()
        if restored_at and counts["exposed"] == 0 and self.exposed_finished_at is None:
            self.exposed_finished_at = now
        if counts["unfinished"]:
            self.zero_since = None
        elif self.zero_since is None:
            self.zero_since = now
        if load_done and self.zero_since is not None and self.finished_at is None:
            # Not the moment the client stopped retrying (an upload it gave up on kept it busy): the moment the
            # last accepted upload finished.
            self.finished_at = max(self.zero_since, restored_at or 0)
        return counts

    def burst(self):
        from detection.models import Submission

        return Submission.objects.filter(created_at__gte=_dt(self.since - 5), original_name__startswith=self.prefix)


def _dt(ts):
    import datetime

    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)


def count(scenario, load, monitor, times):
    """The scenario's figures, from the client's records and from the database."""
    from django.db.models import Count

    import audit.services
    from audit.models import AuditEvent
    from detection.models import Detection, Evidence

    rows = list(
        monitor.burst().values(
            "pk", "sha256", "status", "failure_reason", "scoring_attempts", "enqueue_pending", "requeued_at", "updated_at"
        )
    )
    ids = {str(r["pk"]) for r in rows}
    by_sha = Counter(r["sha256"] for r in rows)
    client_accepted = {u.sha256 for u in load.uploads if u.accepted}
    statuses = Counter(r["status"] for r in rows)
    stuck = [r for r in rows if r["status"] not in FINISHED]
    scored_events = Counter(
        t for t in AuditEvent.objects.filter(action="submission.scored", created_at__gte=_dt(times["burst_started"] - 5))
        .values_list("target_id", flat=True) if t in ids
    )  # fmt: skip
    double_detections = (
        Detection.objects.filter(submission__in=monitor.burst()).values("submission_id", "model_version_id")
        .annotate(n=Count("pk")).filter(n__gt=1).count()
    )  # fmt: skip
    broken_link = audit.services.verify()

    window = (times["fault_started"], times["restored"])

    def during(a):
        return a.started <= window[1] and a.ended >= window[0]

    refused = [a for a in load.attempts if a.outcome != "accepted"]
    gave_up = [u for u in load.uploads if u.gave_up]
    api_5xx = [a for a in refused if a.via == "api" and a.outcome.isdigit() and int(a.outcome) >= 500]
    the_503s = [a for a in api_5xx if a.outcome == "503"]
    finished_at = monitor.finished_at
    accepted_db = len(by_sha)
    return {
        "scenario": scenario,
        "uploads": len(load.uploads),
        "accepted_client": len(client_accepted),
        "accepted_db": accepted_db,
        "accepted_db_not_told_client": len(set(by_sha) - client_accepted),
        "gave_up": len(gave_up),
        "gave_up_examples": [
            {
                "name": u.name,
                "via": u.via,
                "in_database": u.sha256 in by_sha,
                "answers": dict(Counter(a.outcome for a in load.attempts if a.index == u.index)),
            }
            for u in gave_up[:10]
        ],
        "rejected_during_outage": sum(during(a) for a in refused),
        "rejected_after_outage": sum(not during(a) for a in refused),
        "uploads_rejected_after_outage": len({a.index for a in refused if not during(a)}),
        "rejections": dict(Counter(f"{a.via} {a.outcome}" for a in refused)),
        "scored": statuses.get("scored", 0),
        "failed": statuses.get("failed", 0),
        "failure_reasons": dict(Counter(r["failure_reason"] for r in rows if r["status"] == "failed")),
        "stuck": len(stuck),
        "stuck_examples": [
            {k: str(v) for k, v in r.items() if k != "sha256"} for r in sorted(stuck, key=lambda r: r["updated_at"])[:10]
        ],
        "duplicates": double_detections + sum(n - 1 for n in scored_events.values() if n > 1),
        "duplicate_detections": double_detections,
        "duplicate_scored_events": sum(n - 1 for n in scored_events.values() if n > 1),
        "duplicate_submissions": sum(n - 1 for n in by_sha.values() if n > 1),
        "lost": len(client_accepted - set(by_sha)),
        "api_5xx_during": sum(during(a) for a in api_5xx),
        "api_5xx_after": sum(not during(a) for a in api_5xx),
        "api_503": len(the_503s),
        "api_503_with_retry_after": sum(a.retry_after for a in the_503s),
        "requeued_by_sweeper": sum(1 for r in rows if r["requeued_at"] is not None),
        "sweeper_resent": times["sweeper_resent"],
        "max_scoring_attempts": max((r["scoring_attempts"] for r in rows), default=0),
        "evidence": dict(Counter(Evidence.objects.filter(submission__in=monitor.burst()).values_list("status", flat=True))),
        "audit_verified": broken_link is None,
        "audit_broken_link": None if broken_link is None else str(broken_link),
        "unfinished_at_fault": times["unfinished_at_fault"],
        "processing_at_fault": times["processing_at_fault"],
        "fault_started_s": round(times["fault_started"] - times["burst_started"], 2),
        "restored_s": round(times["restored"] - times["burst_started"], 2),
        "load_done_s": round(times["load_done"] - times["burst_started"], 2),
        "seconds_to_recover": round(finished_at - times["restored"], 2) if finished_at else None,
        "seconds_to_finish_exposed": (
            round(monitor.exposed_finished_at - times["restored"], 2) if monitor.exposed_finished_at else None
        ),
        # The burst goes on after the service is back, so "all" includes the rest of the burst: this is how long
        # the last upload waited for its verdict (a stack that has caught up answers in about one batch).
        "seconds_after_last_upload": round(finished_at - times["load_done"], 2) if finished_at else None,
        "drain_timed_out": finished_at is None,
        "end_to_end_per_s": round(accepted_db / (finished_at - times["burst_started"]), 2) if finished_at else None,
        "scenario_seconds": round(time.time() - times["scenario_started"], 1),
        "log_errors": times["log_errors"],
    }


def problems(figures):
    if "error" in figures:
        return [figures["error"]]
    found = []
    for key in ("lost", "stuck", "duplicates", "duplicate_submissions", "gave_up"):
        if figures[key]:
            found.append(f"{key}={figures[key]}")
    if not figures["audit_verified"]:
        found.append("audit chain broken")
    return found


def at_fault(scenario, monitor):
    """What the fault is about to hit; for worker kills, first wait (a while) until the worker is scoring the burst."""
    from django import db

    # A kill of an idle worker tests nothing, so worker kills wait (up to 30 s) for a batch in progress. The counts
    # that end the wait are the ones reported: a batch can finish between two queries, and a count taken after the
    # wait would read 0 for a kill that hit one.
    deadline = time.monotonic() + (30 if scenario in KILLS_WORKER else 0)
    try:
        while True:
            unfinished = monitor.burst().exclude(status__in=FINISHED).count()
            processing = monitor.burst().filter(status="processing").count()
            if processing or time.monotonic() >= deadline:
                return {"unfinished_at_fault": unfinished, "processing_at_fault": processing}
            time.sleep(0.01)
    finally:
        db.connections.close_all()


def run_scenario(scenario, stack, ctx, args, seed):
    """One fresh burst on the running stack, with `scenario`'s fault injected once --fault-at of it is sent."""
    times = {"scenario_started": time.time()}
    stack.heal()
    offsets = stack.log_offsets()
    prefix = f"faults-{scenario}-{seed}"
    uploads = make_uploads(args.uploads, prefix, seed)
    load = Load(uploads, args, ctx["api_url"], ctx["api_key"], ctx["uploader"])
    times["burst_started"] = load.start()
    monitor = Monitor(prefix, times["burst_started"])
    fault_error = []

    def inject():
        try:
            wait_until(lambda: load.sent >= args.fault_at * len(uploads) or load.stop.is_set(), 3600, "the fault's moment")
            times.update(at_fault(scenario, monitor))
            times["fault_started"] = time.time()
            print(f"  {scenario}: fault at {times['fault_started'] - times['burst_started']:.1f}s", flush=True)
            FAULTS[scenario](stack, args)
        except BaseException as exc:
            fault_error.append(exc)
        finally:
            times.setdefault("fault_started", time.time())
            times["restored"] = time.time()
        print(f"  {scenario}: back at {times['restored'] - times['burst_started']:.1f}s", flush=True)

    injector = threading.Thread(target=inject, daemon=True)
    injector.start()
    try:
        wait_for_drain(scenario, load, monitor, times, fault_error, args)
    finally:
        load.stop.set()
        load.join(timeout=30)
    if fault_error:
        raise fault_error[0]
    times["log_errors"] = stack.log_errors(offsets)
    times["sweeper_resent"] = stack.sweeper_resent(offsets)
    return count(scenario, load, monitor, times)


def wait_for_drain(scenario, load, monitor, times, fault_error, args):
    """Until every accepted upload is finished, the load is done and the service is back; or the drain timeout."""
    deadline = None
    while not fault_error:
        restored = times.get("restored")
        if load.done() and "load_done" not in times:
            times["load_done"] = time.time()
        monitor.poll("load_done" in times, restored)
        if monitor.finished_at and restored:
            return
        if "load_done" in times and restored:
            deadline = deadline or time.time() + args.drain_timeout
            if time.time() > deadline:
                print(f"  {scenario}: drain timed out after {args.drain_timeout:g}s", flush=True)
                return
        time.sleep(POLL_S)


def prepare(stack, env):
    """Migrate the private database, install the default model (ONNX export cached), make a partner key and a user."""
    os.environ.update(env, LOG_LEVEL="WARNING")
    setup_django()
    # This process's own log (an enqueue that failed while Redis was down...) goes beside the services' logs.
    handler = logging.FileHandler(stack.logs / "harness.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().handlers = [handler]
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from accounts.api_keys import create_api_key
    from accounts.models import Organisation, User

    call_command("migrate", verbosity=0)
    if stack.args.model == "default":
        call_command("ensure_default_model", stdout=io.StringIO())
    else:
        from detection.inference.runtime import load_keras_model
        from training import registry

        path = tiny_detector(MODELS_CACHE / "faults-tiny.keras") if stack.args.model == "tiny" else Path(stack.args.model).resolve()
        input_size = load_keras_model(str(path)).input_shape[1]
        registry.activate(registry.register(name=f"faults-{path.stem}", artifact=path, architecture="Custom",
                                            input_size=input_size, is_trained=True))  # fmt: skip
    MODELS_CACHE.mkdir(parents=True, exist_ok=True)
    # In a process of its own: exporting loads TensorFlow, which this process has no further use for.
    with open(stack.logs / "export.log", "ab") as log:
        subprocess.run([sys.executable, "manage.py", "export_model"], cwd=ROOT, env=env, check=True, stdout=log, stderr=log)
    organisation = Organisation.objects.create(name="Fault Partner", slug="fault-partner", kind=Organisation.Kind.PARTNER)
    _, raw_key = create_api_key(organisation=organisation, name="faults", scopes=["submit", "read"])
    uploader = User.objects.create_user(email="faults@example.test", password=secrets.token_urlsafe(16), organisation=organisation)
    uploader.groups.add(Group.objects.get(name="journalist"))
    stack.start_services()
    return {"api_url": f"http://127.0.0.1:{stack.web.port}/api/v1/submissions/", "api_key": raw_key, "uploader": uploader}


TINY_INPUT_SIZE = 32


def tiny_detector(path):
    """`--model tiny`: a 32-pixel Keras model of four weights (its probability from the image's channel means).

    Scoring then costs next to nothing, so a burst larger than the shipped model can score on shared cores in
    the time of a scenario measures the platform's recovery (redelivery, the sweep, idempotency), not the
    model's speed. The platform treats it like any version: registered, activated, exported to ONNX.
    """
    import keras

    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = keras.Input((TINY_INPUT_SIZE, TINY_INPUT_SIZE, 3), name="image")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="fake_probability")(x))
    model.get_layer("fake_probability").set_weights([np.array([[6.0], [-4.0], [-4.0]]), np.array([-1.0])])
    model.save(path)
    return path


def warm_up(ctx, args):
    """One upload each way, scored, before any burst: the worker has loaded the model."""
    uploads = make_uploads(2, "faults-warm-up", 0)
    load = Load(uploads, args, ctx["api_url"], ctx["api_key"], ctx["uploader"])
    started = load.start()
    monitor = Monitor("faults-warm-up", started)
    wait_until(lambda: load.done(), 120, "the warm-up uploads to be accepted")
    wait_until(lambda: (monitor.poll(True, None) or {}).get("unfinished") == 0, READY_TIMEOUT_S, "the warm-up uploads to be scored")
    if not all(u.accepted for u in uploads):
        raise RuntimeError(f"warm-up uploads were refused: {[a.outcome for a in load.attempts]}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=10_000, help="uploads per scenario (default 10000)")
    parser.add_argument("--scenario", default="all", help=f"one of {', '.join(SCENARIOS)}, together, all; or a comma list")
    parser.add_argument("--rate", type=float, default=40.0, help="uploads per second, both paths together (0: as fast as it goes)")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--fault-at", type=float, default=0.3, help="inject once this share of the burst is sent")
    parser.add_argument("--down", type=float, default=3.0, help="seconds a killed service stays down before its restart")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds of broker-down and storage-refuses")
    parser.add_argument("--sweep-interval", type=float, default=5.0, help="VERITY_SWEEP_INTERVAL_SECONDS")
    parser.add_argument("--stuck-after", type=int, default=20, help="VERITY_STUCK_AFTER_SECONDS")
    parser.add_argument(
        "--drain-timeout", type=float, help="seconds to wait for the drain after the load (default: 300, or N/10 when longer)"
    )
    parser.add_argument("--give-up-after", type=float, default=120.0, help="a client stops retrying an upload after this")
    parser.add_argument("--max-retry-wait", type=float, default=5.0, help="cap on Retry-After before a retry")
    parser.add_argument("--model", default="default",
                        help="default (the shipped detector), tiny (a 32-px model of four weights: the burst measures "
                             "recovery, not the model's speed), or the path of a .keras file")  # fmt: skip
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--run", default="run", help="folder under var/faults/ (emptied first)")
    parser.add_argument("--keep", action="store_true", help="keep the database, Redis and media folders afterwards")
    parser.add_argument("--out", default=str(FAULTS_DIR / "results.json"), help="JSON results")
    args = parser.parse_args(argv)
    names = SCENARIOS + ("together",) if args.scenario == "all" else tuple(args.scenario.split(","))
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(FAULTS)}, all")
    args.scenarios = names
    if args.drain_timeout is None:
        args.drain_timeout = max(300.0, args.uploads / 10)
    return args


def fresh_run_dir(name):
    root = (FAULTS_DIR / name).resolve()
    if root.exists():
        kill_leftovers(root)
        data = root / "pg" / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        subprocess.run(["chattr", "-R", "-i", str(root)], capture_output=True)
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return root


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
    args = parse_args(argv)
    for tool in ("initdb", "pg_ctl", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not on PATH: the harness starts its own PostgreSQL and Redis")
    signal.signal(signal.SIGTERM, _raise_interrupt)  # the cleanup below runs on `kill` as on Ctrl-C
    root = fresh_run_dir(args.run)
    stack = Stack(root, args)
    results = {"settings": {k: v for k, v in vars(args).items() if k != "scenarios"}, "scenarios": {}}
    started = time.time()
    try:
        env = stack.start()
        ctx = prepare(stack, env)
        results["settings"].update(
            storage_fault_method=stack.media.method, run_dir=str(root), stack_start_seconds=round(time.time() - started, 1)
        )
        print(f"stack up in {time.time() - started:.0f}s under {root} (logs in {stack.logs}); storage fault: {stack.media.method}")
        warm_up(ctx, args)
        pace = f"{args.rate:g}/s" if args.rate > 0 else "as fast as they go"
        for i, scenario in enumerate(args.scenarios, 1):
            print(f"[{scenario}] {args.uploads} uploads at {pace}", flush=True)
            try:
                figures = run_scenario(scenario, stack, ctx, args, seed=i)
            except Exception as exc:  # a fault that could not be injected or undone: say so, go on with the next
                print(f"  {scenario}: {exc.__class__.__name__}: {exc}", flush=True)
                figures = {"scenario": scenario, "error": f"{exc.__class__.__name__}: {exc}"}
            else:
                report(figures)
            results["scenarios"][scenario] = figures
            write_json(args.out, results)  # after each scenario: a long run interrupted keeps what it measured
    finally:
        if "django.db" in sys.modules:
            try:
                sys.modules["django.db"].connections.close_all()
            except Exception:
                pass  # Django was never set up, or the database is already gone
        stack.stop()
        if not args.keep:
            (root / "media").unlink(missing_ok=True)  # the symlink
            for name in ("pg", "redis", "media-store", "var"):
                shutil.rmtree(root / name, ignore_errors=True)
    summary = {name: problems(f) for name, f in results["scenarios"].items()}
    bad = {name: p for name, p in summary.items() if p}
    print("\nno upload lost, stuck or doubled" if not bad else f"\nPROBLEMS: {json.dumps(bad)}")
    return 1 if bad else 0


def report(f):
    rows = [
        ["accepted (client / database)", f"{f['accepted_client']} / {f['accepted_db']}"],
        ["refusals during / after the outage (uploads after)",
         f"{f['rejected_during_outage']} / {f['rejected_after_outage']} ({f['uploads_rejected_after_outage']})"],
        ["scored / failed / stuck", f"{f['scored']} / {f['failed']} / {f['stuck']}"],
        ["lost / duplicates / gave up", f"{f['lost']} / {f['duplicates']} / {f['gave_up']}"],
        ["API 5xx during / after; 503 with Retry-After", f"{f['api_5xx_during']} / {f['api_5xx_after']}; {f['api_503_with_retry_after']} of {f['api_503']}"],
        ["re-sent by the sweep (uploads / sends)", f"{f['requeued_by_sweeper']} / {f['sweeper_resent']}"],
        ["seconds to recover (all / exposed)", f"{f['seconds_to_recover']} / {f['seconds_to_finish_exposed']}"],
        ["seconds from the last upload to the last verdict", f["seconds_after_last_upload"]],
        ["end-to-end uploads/s", f["end_to_end_per_s"]],
        ["audit chain verified", f["audit_verified"]],
        ["scenario seconds", f["scenario_seconds"]],
    ]  # fmt: skip
    if f["failure_reasons"]:
        rows.append(["failure reasons", json.dumps(f["failure_reasons"])])
    if f["rejections"]:
        rows.append(["rejections", json.dumps(f["rejections"])])
    print_table(["measure", "value"], rows)


if __name__ == "__main__":
    sys.exit(main())
