"""End to end: images submitted through the service layer or the partner API, scored by a real Celery worker on Redis.

    .venv/bin/python bench/e2e.py [-n 200] [--rate 20] [--via service|api] [--broker redis://127.0.0.1:6379/9]
                                  [--database-url postgres://...] [--json out.json]
                                  [--pin [--worker-cores N] [--pin-postgres]] [--default-worker] [--no-prepare]
                                  [--worker-concurrency C] [--prepare-concurrency P]
                                  [--batch K] [--gunicorn-workers W] [--gunicorn-threads T] [--int8]

Measures, in one run: the raw model throughput of the worker's runtime (same batch size, in this process),
end-to-end throughput for a burst of N uploads, and latency from upload to stored verdict (p50, p95, max)
at a steady upload rate. Without --broker it starts a private redis-server on a free port (the embedded
SQLite broker's polling would dominate latency). Everything runs in a temporary folder with its own
SQLite database unless --database-url is given, with DEBUG off as in production.

`--via api` sends every image as a partner would: an HTTP POST to /api/v1/submissions/ with an API key, to
a gunicorn server (1 process, 2 threads unless --gunicorn-workers/--gunicorn-threads) started for the run,
through the TLS proxy's X-Forwarded-Proto header; latency is then from the moment the request is sent.
With `--batch K` the images go K at a time to /api/v1/submissions/batch/ (the steady phase then sends a
request every K/rate seconds), to compare against single uploads.

`--pin` gives the inference worker (`celery -Q inference`, its parent and its child) the last N cores
(`--worker-cores`, default half of them: 1 of 2) and everything this bench starts or runs on the others: the
private redis-server, gunicorn, this process (the uploading client threads and the polling), the prepare
worker (`celery -Q prepare`: face search for new uploads, as deployed; `--no-prepare` leaves it out and the
inference worker searches itself, as before) and the default-queue worker of `--default-worker`. PostgreSQL is
not started here: `--pin-postgres` moves this machine's PostgreSQL server processes onto the others' cores for
the run (and back after), so that the worker's cores are its own, as the pinned setup means.
The raw model rate is then measured a second time, this process pinned to the worker's cores alone, with the
runtime loaded as the worker loads it (its thread pool sized to those cores, and the number of images per model
run it measured fastest there: VERITY_MODEL_RUN_SIZE), and for ONNX Runtime also as one run of the whole batch,
as workers ran before they measured it. The ratio that says something about Verity is end-to-end / raw-pinned.

`--int8` carries the model's int8 variant (made by `manage.py quantize_model` in this checkout's var/) into the
run's private folder, so the worker chooses between fp32 and int8 at start as a deployment with that variant does;
without it the run has the fp32 export only.

The end-to-end time runs from the first upload to the last verdict stored (read from the rows, so the bench
polls only 4 times a second: at 50 it took 15% of the others' core). A burst of N includes the pipeline
filling up (uploads, face search and scoring all start together on two cores); a larger N weighs the steady
rate more.
"""
import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from _common import (
    DEFAULT_DATASET, ROOT, free_port, images_per_second, pinned, print_table, private_stack_env, start_redis, write_json,
)  # fmt: skip


def split_cores(worker_cores):
    """(the inference worker's cores, everyone else's): the last `worker_cores` of this process's, and the rest."""
    available = sorted(os.sched_getaffinity(0))
    if not 0 < worker_cores < len(available):
        sys.exit(f"--worker-cores must leave at least one of the {len(available)} cores {available} to the rest")
    return available[-worker_cores:], available[:-worker_cores]


def pin_this_process(cores):
    """Move every thread of this process (ONNX Runtime's and TensorFlow's pools included) onto `cores`; the
    threads started later inherit it. os.sched_setaffinity(0, ...) alone moves the calling thread only."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cores)
        except ProcessLookupError:  # a thread that ended meanwhile
            pass


def postgres_pids():
    """Every PostgreSQL server process on this machine (the postmaster and its backends), by /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/comm").read_text().strip() == "postgres":
                pids.append(int(entry))
        except OSError:  # a process that ended meanwhile
            pass
    return pids


def pin_postgres(cores):
    """Move every PostgreSQL process onto `cores` (backends forked later inherit the postmaster's); returns what
    puts them back. Needs the right to change another user's processes (root, as on the bench machines)."""
    before = {pid: os.sched_getaffinity(pid) for pid in postgres_pids()}
    if not before:
        sys.exit("--pin-postgres: no PostgreSQL process found on this machine")

    def move(pids, to):
        for pid in pids:
            try:
                for tid in os.listdir(f"/proc/{pid}/task"):
                    os.sched_setaffinity(int(tid), to(pid))
            except (FileNotFoundError, ProcessLookupError):  # a backend that ended meanwhile
                pass
            except PermissionError as exc:
                sys.exit(f"--pin-postgres: cannot move PostgreSQL process {pid}: {exc}")

    move(before, lambda pid: cores)
    everything = set().union(*before.values())
    return lambda: move(postgres_pids(), lambda pid: before.get(pid, everything))


def start_api(workdir, files, *, batch=None, workers=1, threads=2, clients=2, cores=None):
    """Start gunicorn for the partner API and make a key; returns (process, send(start, count) -> submission ids).

    Without `batch` each request carries one image (count is 1) to /submissions/; with it, `count` images
    go in one request to /submissions/batch/.
    """
    import urllib3

    from accounts.api_keys import create_api_key
    from accounts.models import Organisation

    organisation, _ = Organisation.objects.get_or_create(
        slug="bench", defaults={"name": "Bench", "kind": Organisation.Kind.PARTNER}
    )
    _, raw_key = create_api_key(organisation=organisation, name="bench", scopes=["submit", "read"])
    port = free_port()
    web = subprocess.Popen(
        pinned([sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"], cores),
        cwd=ROOT, env=dict(os.environ), stdout=open(workdir / "web.log", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    http = urllib3.PoolManager(maxsize=max(8, clients))
    url = f"http://127.0.0.1:{port}/api/v1/submissions/"
    # As the TLS proxy in front says: with DEBUG off, plain HTTP is redirected to HTTPS.
    headers = {"Authorization": f"Bearer {raw_key}", "X-Forwarded-Proto": "https"}
    for _ in range(300):
        try:
            http.request("GET", url, headers=headers, timeout=1, retries=False)
            break
        except urllib3.exceptions.HTTPError:
            time.sleep(0.1)
    else:
        sys.exit(f"the API server did not start; log in {workdir / 'web.log'}")

    def send(start, count):
        fields = [(("images" if batch else "image"), files[i % len(files)]) for i in range(start, start + count)]
        fields = [(field, (name, data, "image/jpeg")) for field, (name, data) in fields]
        sent_at = time.time()
        response = http.request("POST", url + ("batch/" if batch else ""), headers=headers, fields=fields, timeout=60)
        if response.status != 201:
            sys.exit(f"the API answered {response.status}: {response.data[:500]!r}")
        body = response.json()
        if batch and body["rejected"]:
            sys.exit(f"the API rejected part of a batch: {body['rejected'][:3]!r}")
        ids = [item["id"] for item in body["accepted"]] if batch else [body["id"]]
        for pk in ids:
            SENT_AT[pk] = sent_at
        return ids

    return web, send


def latency_ms(submission):
    """Upload to stored verdict: from the API request (sent_at, when there is one) or from the upload."""
    detection = submission.detections.get()
    sent_at = SENT_AT.get(str(submission.pk))
    if sent_at is None:
        return detection.total_ms
    return (detection.created_at.timestamp() - sent_at) * 1000


POLL_SECONDS = 0.25  # how often the bench looks whether every verdict is in (the time itself comes from the rows)
SENT_AT = {}  # submission id -> wall-clock time the API request was sent


def carry_int8(keras_sha256, source_dir):
    """Copy the int8 variant of the model with this hash from `source_dir` into this run's export folder."""
    from detection.inference import quantize

    onnx_path, info_path = quantize.reduced_paths(keras_sha256)
    source_onnx, source_info = source_dir / onnx_path.name, source_dir / info_path.name
    if not (source_onnx.exists() and source_info.exists()):
        sys.exit(f"--int8: no int8 variant for this model in {source_dir}; run manage.py quantize_model first")
    shutil.copyfile(source_onnx, onnx_path)
    info_path.write_text(json.dumps(dict(json.loads(source_info.read_text()), onnx_path=str(onnx_path))))


def main():
    default_worker_cores = max(1, len(os.sched_getaffinity(0)) // 2)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="images per phase")
    parser.add_argument("--rate", type=float, default=20.0, help="uploads per second in the latency phase")
    parser.add_argument("--broker", help="Redis URL (default: start a private redis-server)")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--model", help=".keras file (default: the shipped default model)")
    parser.add_argument("--int8", action="store_true",
                        help="serve with the model's int8 variant from this checkout's var/ as well (quantize_model)")
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET), help="images come from its test split")
    parser.add_argument("--via", choices=["service", "api"], default="service", help="how images are submitted")
    parser.add_argument("--clients", type=int, default=2, help="uploads in flight at once (client threads)")
    parser.add_argument("--pin", action="store_true", help="the inference worker on its own cores, the rest on the others")
    parser.add_argument("--worker-cores", type=int, default=default_worker_cores,
                        help=f"cores of the inference worker with --pin (default {default_worker_cores})")  # fmt: skip
    parser.add_argument("--default-worker", action="store_true",
                        help="also run a default-queue worker (evidence), as deployed; on the others' cores with --pin")  # fmt: skip
    parser.add_argument("--pin-postgres", action="store_true",
                        help="with --pin: move this machine's PostgreSQL processes onto the others' cores for the run")
    parser.add_argument("--worker-concurrency", type=int, default=1,
                        help="processes of the inference worker (default 1)")
    parser.add_argument("--prepare-concurrency", type=int, default=2,
                        help="processes of the prepare worker (default 2, as platform/entrypoint.sh deploys it)")
    parser.add_argument("--no-prepare", action="store_true",
                        help="no prepare worker: the inference worker looks for the faces itself (VERITY_PREPARE_FACES=0)")  # fmt: skip
    parser.add_argument("--batch", type=int, help="with --via api: send K images per request to /submissions/batch/")
    parser.add_argument("--gunicorn-workers", type=int, default=1, help="with --via api (default 1)")
    parser.add_argument("--gunicorn-threads", type=int, default=2, help="with --via api (default 2)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    if args.batch is not None and (args.via != "api" or args.batch < 1):
        parser.error("--batch K (K >= 1) applies to --via api")
    worker_cores, other_cores = split_cores(args.worker_cores) if args.pin else (None, None)
    if args.pin_postgres and not (args.pin and args.database_url):
        parser.error("--pin-postgres applies with --pin and --database-url")

    workdir = Path(tempfile.mkdtemp(prefix="verity-e2e-"))
    redis_proc = None
    if not args.broker:
        redis_proc, args.broker = start_redis(workdir, other_cores)
    private_stack_env(workdir, args.broker, args.database_url, unthrottled=True)
    os.environ["VERITY_PREPARE_FACES"] = "0" if args.no_prepare else "1"
    if args.batch and args.batch > int(os.environ.get("VERITY_API_MAX_BATCH", 20)):
        os.environ["VERITY_API_MAX_BATCH"] = str(args.batch)  # a larger batch than the default limit, on purpose
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Max

    from detection import services
    from detection.inference import export, quantize, runtime
    from detection.models import Detection, Submission
    from training import registry
    from training.datasets import load_dataset
    from training.defaults import ensure_default_model
    from training.preprocessing import load_image

    workers, web = [], None
    raw_pinned_img_s = raw_pinned_sized_img_s = run_size = None
    unpin_postgres = pin_postgres(other_cores) if args.pin_postgres else None
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
        if args.int8:
            carry_int8(version.artifact_sha256, ROOT / "var" / "models" / "exports")
        test = load_dataset(args.dataset).split("test")
        files = [(Path(s.path).name, Path(s.path).read_bytes()) for s in test]

        # Raw throughput of the runtime the worker will use, at the worker's batch size.
        batch = np.stack([load_image(data, version.input_size) for _, data in files[: settings.VERITY_BATCH_SIZE]])
        detector = runtime.get_detector(version)
        raw_img_s = images_per_second(detector.predict, batch)
        runtime_name = detector.runtime
        runtime._loaded.clear()
        del detector
        gc.collect()
        if args.pin:
            # The same, on the worker's cores alone: loaded as the worker loads it, and (ONNX Runtime) with a
            # thread pool sized to those cores.
            pin_this_process(worker_cores)
            detector = runtime.get_detector(version)
            raw_pinned_img_s = images_per_second(detector.predict, batch)
            run_size = detector.run_size or len(batch)
            runtime._loaded.clear()
            del detector
            onnx_file = {"onnx": lambda: export.existing_export(version.artifact_sha256),
                         "onnx-int8": lambda: quantize.existing_reduced(version.artifact_sha256)}.get(runtime_name)  # fmt: skip
            if onnx_file:
                sized = export.OnnxModel(onnx_file().onnx_path, threads=len(worker_cores))
                raw_pinned_sized_img_s = images_per_second(sized.run, batch)
                del sized
            gc.collect()
            pin_this_process(other_cores)  # the uploading client threads and the polling, from here on

        # The inference queue only, as an inference worker is deployed: forensic evidence (default queue)
        # runs on other workers and is not part of time-to-verdict (--default-worker adds one, on other cores).
        worker_command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning",
                          "--without-gossip", "--without-mingle", "--concurrency"]  # fmt: skip
        workers.append(subprocess.Popen(
            pinned([*worker_command, str(args.worker_concurrency), "-Q", "inference", "-n", "inference@%h"], worker_cores),
            cwd=ROOT, env=dict(os.environ), stdout=open(workdir / "worker.log", "w"), stderr=subprocess.STDOUT,
        ))  # fmt: skip
        if not args.no_prepare:
            # Face search for new uploads (the prepare queue), as deployed: on the others' cores with --pin.
            workers.append(subprocess.Popen(
                pinned([*worker_command, str(args.prepare_concurrency), "-Q", "prepare", "-n", "prepare@%h"], other_cores),
                cwd=ROOT, env=dict(os.environ), stdout=open(workdir / "prepare-worker.log", "w"), stderr=subprocess.STDOUT,
            ))  # fmt: skip
        if args.default_worker:
            workers.append(subprocess.Popen(
                pinned([*worker_command, "1", "-Q", "sweep,default", "-n", "default@%h"], other_cores),
                cwd=ROOT, env=dict(os.environ), stdout=open(workdir / "default-worker.log", "w"), stderr=subprocess.STDOUT,
            ))  # fmt: skip

        def wait_all(ids, timeout=600):
            """Wait until every one of `ids` is scored or failed; return when the last verdict was stored (epoch s).

            The time comes from the stored rows, not from when this loop noticed, so the loop can poll slowly:
            it runs on the others' cores, and polling every 20 ms took 15% of a core there (and a PostgreSQL
            backend's share), which the prepare worker and the uploads need.
            """
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if Submission.objects.filter(pk__in=ids, status__in=["scored", "failed"]).count() == len(ids):
                    scored = Detection.objects.filter(submission__in=ids).aggregate(last=Max("created_at"))["last"]
                    failed = Submission.objects.filter(pk__in=ids, status="failed").aggregate(last=Max("updated_at"))["last"]
                    return max(t for t in (scored, failed) if t is not None).timestamp()
                time.sleep(POLL_SECONDS)
            sys.exit(f"timed out; worker log in {workdir / 'worker.log'}")

        if args.via == "api":
            web, send = start_api(workdir, files, batch=args.batch, workers=args.gunicorn_workers,
                                  threads=args.gunicorn_threads, clients=args.clients, cores=other_cores)  # fmt: skip
        else:

            def send(start, count):
                name, data = files[start % len(files)]
                return [services.submit(data=data, name=name, source=Submission.Source.API).pk]

        per_request = args.batch or 1
        chunks = [(start, min(per_request, args.n - start)) for start in range(0, args.n, per_request)]
        wait_all(send(0, 1), timeout=300)  # warm-up: the worker loads the model

        # Burst: N uploads as fast as the service layer takes them; throughput until the last verdict.
        started, started_at = time.perf_counter(), time.time()
        clients = ThreadPoolExecutor(args.clients, thread_name_prefix="client")
        burst = [pk for ids in clients.map(lambda chunk: send(*chunk), chunks) for pk in ids]
        upload_img_s = args.n / (time.perf_counter() - started)  # accepted, not yet scored: the upload path alone
        e2e_img_s = args.n / (wait_all(burst) - started_at)
        # What the worker did per image: the raw rate is one whole image per model input; the worker also
        # decodes, looks for faces and scores each face found (or the whole image when there is none).
        per_image = np.array([
            (preprocess_ms, inference_ms, max(1, len(faces)))
            for preprocess_ms, inference_ms, faces in Detection.objects.filter(submission__in=burst).values_list(
                "preprocess_ms", "inference_ms", "faces")
        ])  # fmt: skip

        # Steady rate: latency from upload to stored verdict (a batch request every K/rate seconds).
        sent, interval, t0 = [], per_request / args.rate, time.perf_counter()
        for i, chunk in enumerate(chunks):
            delay = t0 + i * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent.append(clients.submit(send, *chunk))
        steady = [pk for future in sent for pk in future.result()]
        wait_all(steady)
        latencies = np.array([latency_ms(s) for s in Submission.objects.filter(pk__in=steady).prefetch_related("detections")])
        failed = Submission.objects.filter(status="failed").count()
    finally:
        for process in [*workers, web]:
            if process:
                process.terminate()
                process.wait(timeout=30)
        if redis_proc:
            redis_proc.terminate()
        if unpin_postgres:
            unpin_postgres()

    figures = {
        "runtime": runtime_name,
        "batch_size": settings.VERITY_BATCH_SIZE,
        "batch_wait_ms": settings.VERITY_BATCH_WAIT_MS,
        "n": args.n,
        "rate": args.rate,
        "via": args.via,
        "clients": args.clients,
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "api_batch": args.batch,
        "gunicorn_workers": args.gunicorn_workers if args.via == "api" else None,
        "gunicorn_threads": args.gunicorn_threads if args.via == "api" else None,
        "default_worker": args.default_worker,
        "prepare_worker": not args.no_prepare,
        "pinned": args.pin,
        "postgres_pinned": args.pin_postgres,
        "worker_cores": worker_cores,
        "other_cores": other_cores,
        "raw_img_s": raw_img_s,
        "raw_pinned_img_s": raw_pinned_img_s,
        "raw_pinned_sized_threads_img_s": raw_pinned_sized_img_s,
        "run_size": run_size,
        "upload_img_s": upload_img_s,
        "e2e_img_s": e2e_img_s,
        "e2e_ratio_to_raw": e2e_img_s / raw_img_s,
        "e2e_ratio_to_raw_pinned": e2e_img_s / raw_pinned_img_s if raw_pinned_img_s else None,
        "e2e_ratio_to_raw_pinned_sized_threads": e2e_img_s / raw_pinned_sized_img_s if raw_pinned_sized_img_s else None,
        "worker_preprocess_ms_mean": float(per_image[:, 0].mean()),
        "worker_inference_ms_mean": float(per_image[:, 1].mean()),
        "crops_per_image": float(per_image[:, 2].mean()),
        "p50_ms": float(np.percentile(latencies, 50)),
        "p95_ms": float(np.percentile(latencies, 95)),
        "max_ms": float(latencies.max()),
        "failed": failed,
    }
    how = f"the {args.via}"
    if args.via == "api":
        how += (f" ({args.batch} images per request to /submissions/batch/" if args.batch else " (single uploads")
        how += f", gunicorn {args.gunicorn_workers} process(es) x {args.gunicorn_threads} threads)"
    print(f"model {version.name}, runtime {runtime_name}, batches of up to {settings.VERITY_BATCH_SIZE} "
          f"or {settings.VERITY_BATCH_WAIT_MS} ms, broker {args.broker}, database {settings.DATABASES['default']['ENGINE']}, "
          f"submitted through {how} by {args.clients} clients")  # fmt: skip
    if args.pin:
        print(f"pinned: inference worker on cores {worker_cores}; redis, web, clients"
              f"{', prepare worker' if not args.no_prepare else ''}"
              f"{', default worker' if args.default_worker else ''} on {other_cores}"
              f"{', PostgreSQL' if args.pin_postgres else ''}"
              f"{'; PostgreSQL is not pinned (--pin-postgres)' if figures['database'] != 'sqlite3' and not args.pin_postgres else ''}")  # fmt: skip
    print()
    rows = [["raw model img/s (same runtime, same batch, all cores)", f"{raw_img_s:.1f}"]]
    if args.pin:
        rows.append([f"raw model img/s pinned to {worker_cores} (as the worker loads it)", f"{raw_pinned_img_s:.1f}"])
        rows.append(["  images per model run (as the worker loads it: measured, VERITY_MODEL_RUN_SIZE)", run_size])
        if raw_pinned_sized_img_s:
            rows.append([f"raw model img/s pinned, ONNX Runtime threads = {len(worker_cores)}, whole batch in one run",
                         f"{raw_pinned_sized_img_s:.1f}"])  # fmt: skip
    rows += [
        [f"uploads accepted img/s (burst of {args.n}, before scoring)", f"{upload_img_s:.1f}"],
        [f"end-to-end img/s (burst of {args.n})", f"{e2e_img_s:.1f}"],
        ["end-to-end / raw (all cores)", f"{e2e_img_s / raw_img_s:.2f}"],
    ]
    if args.pin:
        rows.append(["end-to-end / raw pinned", f"{figures['e2e_ratio_to_raw_pinned']:.2f}"])
        if raw_pinned_sized_img_s:
            rows.append(["end-to-end / raw pinned, threads = cores, whole batch in one run", f"{figures['e2e_ratio_to_raw_pinned_sized_threads']:.2f}"])
    rows += [
        ["worker: decode and face search ms per image (burst mean)", f"{figures['worker_preprocess_ms_mean']:.1f}"],
        ["worker: model ms per image (its share of the batch)", f"{figures['worker_inference_ms_mean']:.1f}"],
        ["worker: crops scored per image", f"{figures['crops_per_image']:.2f}"],
        [f"latency p50 ms (steady {args.rate:g}/s)", f"{figures['p50_ms']:.0f}"],
        ["latency p95 ms", f"{figures['p95_ms']:.0f}"],
        ["latency max ms", f"{figures['max_ms']:.0f}"],
        ["failed", failed],
    ]
    print_table(["measure", "value"], rows)
    write_json(args.json, figures)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
