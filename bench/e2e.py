"""End to end: images submitted through the service layer or the partner API, scored by a real Celery worker on Redis.

    .venv/bin/python bench/e2e.py [-n 200] [--rate 20] [--via service|api] [--broker redis://127.0.0.1:6379/9]
                                  [--database-url postgres://...] [--json out.json]

Measures, in one run: the raw model throughput of the worker's runtime (same batch size, in this process),
end-to-end throughput for a burst of N uploads, and latency from upload to stored verdict (p50, p95, max)
at a steady upload rate. Without --broker it starts a private redis-server on a free port (the embedded
SQLite broker's polling would dominate latency). Everything runs in a temporary folder with its own
SQLite database unless --database-url is given, with DEBUG off as in production.

`--via api` sends every image as a partner would: an HTTP POST to /api/v1/submissions/ with an API key, to
a gunicorn server (2 threads) started for the run; latency is then from the moment the request is sent.
"""
import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _common import DEFAULT_DATASET, ROOT, images_per_second, print_table, write_json


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(workdir):
    if not shutil.which("redis-server"):
        sys.exit("no --broker given and no redis-server installed: pass --broker redis://HOST:PORT/DB")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    sys.exit("redis-server did not start")


def start_api(workdir, files):
    """Start gunicorn for the partner API and make a key; returns (process, submit(i) -> submission id)."""
    import urllib3

    from accounts.api_keys import create_api_key
    from accounts.models import Organisation

    organisation, _ = Organisation.objects.get_or_create(
        slug="bench", defaults={"name": "Bench", "kind": Organisation.Kind.PARTNER}
    )
    _, raw_key = create_api_key(organisation=organisation, name="bench", scopes=["submit", "read"])
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--threads", "2", "--log-level", "warning"],
        cwd=ROOT, env=dict(os.environ), stdout=open(workdir / "web.log", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    http = urllib3.PoolManager(maxsize=8)
    url = f"http://127.0.0.1:{port}/api/v1/submissions/"
    headers = {"Authorization": f"Bearer {raw_key}"}
    for _ in range(300):
        try:
            http.request("GET", url, headers=headers, timeout=1, retries=False)
            break
        except urllib3.exceptions.HTTPError:
            time.sleep(0.1)
    else:
        sys.exit(f"the API server did not start; log in {workdir / 'web.log'}")

    def submit(i):
        name, data = files[i % len(files)]
        sent_at = time.time()
        response = http.request("POST", url, headers=headers, fields={"image": (name, data, "image/jpeg")}, timeout=30)
        if response.status != 201:
            sys.exit(f"the API answered {response.status}: {response.data[:500]!r}")
        pk = response.json()["id"]
        SENT_AT[pk] = sent_at
        return pk

    return web, submit


def latency_ms(submission):
    """Upload to stored verdict: from the API request (sent_at, when there is one) or from the upload."""
    detection = submission.detections.get()
    sent_at = SENT_AT.get(str(submission.pk))
    if sent_at is None:
        return detection.total_ms
    return (detection.created_at.timestamp() - sent_at) * 1000


SENT_AT = {}  # submission id -> wall-clock time the API request was sent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="images per phase")
    parser.add_argument("--rate", type=float, default=20.0, help="uploads per second in the latency phase")
    parser.add_argument("--broker", help="Redis URL (default: start a private redis-server)")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--model", help=".keras file (default: the shipped default model)")
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET), help="images come from its test split")
    parser.add_argument("--via", choices=["service", "api"], default="service", help="how images are submitted")
    parser.add_argument("--clients", type=int, default=2, help="uploads in flight at once (client threads)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="verity-e2e-"))
    redis_proc = None
    if not args.broker:
        redis_proc, args.broker = start_redis(workdir)
    os.environ.update(
        DATABASE_URL=args.database_url or f"sqlite:///{workdir / 'db.sqlite3'}",
        CELERY_BROKER_URL=args.broker,
        VERITY_VAR_DIR=str(workdir / "var"),
        DJANGO_SETTINGS_MODULE="config.settings",
        TF_CPP_MIN_LOG_LEVEL="2",
        # As deployed: DEBUG off (with it on, Django records every SQL query in every process).
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(32),
        VERITY_API_KEY_RATE="1000000/min",
        VERITY_API_ORGANISATION_RATE="1000000/min",
        VERITY_API_DAILY_QUOTA="1000000",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from detection import services
    from detection.inference import runtime
    from detection.models import Submission
    from training import registry
    from training.datasets import load_dataset
    from training.defaults import ensure_default_model
    from training.preprocessing import load_image

    worker = web = None
    try:
        call_command("migrate", verbosity=0)
        if args.model:
            version = registry.activate(
                registry.register(name=Path(args.model).stem, artifact=Path(args.model).resolve(), is_trained=True,
                                  input_size=runtime.load_keras_model(args.model).input_shape[1])
            )  # fmt: skip
        else:
            version, _ = ensure_default_model()
        services.export_for_serving(version.pk)
        test = load_dataset(args.dataset).split("test")
        files = [(Path(s.path).name, Path(s.path).read_bytes()) for s in test]

        # Raw throughput of the runtime the worker will use, at the worker's batch size.
        detector = runtime.get_detector(version)
        batch = np.stack([load_image(data, version.input_size) for _, data in files[: settings.VERITY_BATCH_SIZE]])
        raw_img_s = images_per_second(detector.predict, batch)
        runtime_name = detector.runtime
        runtime._loaded.clear()
        del detector

        worker = subprocess.Popen(
            # The inference queue only, as an inference worker is deployed: forensic evidence (default
            # queue) runs on other workers and is not part of time-to-verdict.
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "inference",
             "--concurrency", "1", "-l", "warning", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=dict(os.environ), stdout=open(workdir / "worker.log", "w"), stderr=subprocess.STDOUT,
        )  # fmt: skip

        def wait_all(ids, timeout=600):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if Submission.objects.filter(pk__in=ids, status__in=["scored", "failed"]).count() == len(ids):
                    return
                time.sleep(0.02)
            sys.exit(f"timed out; worker log in {workdir / 'worker.log'}")

        if args.via == "api":
            web, submit = start_api(workdir, files)
        else:

            def submit(i):
                name, data = files[i % len(files)]
                return services.submit(data=data, name=name, source=Submission.Source.API).pk

        wait_all([submit(0)], timeout=300)  # warm-up: the worker loads the model

        # Burst: N uploads as fast as the service layer takes them; throughput until the last verdict.
        started = time.perf_counter()
        clients = ThreadPoolExecutor(args.clients, thread_name_prefix="client")
        burst = list(clients.map(submit, range(args.n)))
        wait_all(burst)
        e2e_img_s = args.n / (time.perf_counter() - started)

        # Steady rate: latency from upload to stored verdict.
        sent, interval, t0 = [], 1.0 / args.rate, time.perf_counter()
        for i in range(args.n):
            delay = t0 + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent.append(clients.submit(submit, i))
        steady = [future.result() for future in sent]
        wait_all(steady)
        latencies = np.array([latency_ms(s) for s in Submission.objects.filter(pk__in=steady).prefetch_related("detections")])
        failed = Submission.objects.filter(status="failed").count()
    finally:
        for process in (worker, web):
            if process:
                process.terminate()
                process.wait(timeout=30)
        if redis_proc:
            redis_proc.terminate()

    figures = {
        "runtime": runtime_name,
        "batch_size": settings.VERITY_BATCH_SIZE,
        "batch_wait_ms": settings.VERITY_BATCH_WAIT_MS,
        "n": args.n,
        "rate": args.rate,
        "via": args.via,
        "clients": args.clients,
        "raw_img_s": raw_img_s,
        "e2e_img_s": e2e_img_s,
        "e2e_ratio_to_raw": e2e_img_s / raw_img_s,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "max_ms": float(latencies.max()),
        "failed": failed,
    }
    print(f"model {version.name}, runtime {runtime_name}, batches of up to {settings.VERITY_BATCH_SIZE} "
          f"or {settings.VERITY_BATCH_WAIT_MS} ms, broker {args.broker}, database {settings.DATABASES['default']['ENGINE']}, "
          f"submitted through the {args.via} by {args.clients} clients\n")  # fmt: skip
    print_table(
        ["measure", "value"],
        [
            ["raw model img/s (same runtime, same batch)", f"{raw_img_s:.1f}"],
            [f"end-to-end img/s (burst of {args.n})", f"{e2e_img_s:.1f}"],
            ["end-to-end / raw", f"{e2e_img_s / raw_img_s:.2f}"],
            [f"latency p50 ms (steady {args.rate:g}/s)", f"{figures['p50_ms']:.0f}"],
            ["latency p95 ms", f"{figures['p95_ms']:.0f}"],
            ["latency max ms", f"{figures['max_ms']:.0f}"],
            ["failed", failed],
        ],
    )
    write_json(args.json, figures)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
