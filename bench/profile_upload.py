"""Where one upload's time goes: cProfile over N uploads of a real-sized JPEG, on the service layer and the API.

    .venv/bin/python bench/profile_upload.py [-n 50] [--path service|api|both] [--image FILE] [--label before]
                                             [--database-url postgres://...] [--broker redis://...] [--json out.json]

Each upload gets unique bytes (a JPEG comment with its number), so storage writes every one as it would in
production. `service` calls `detection.services.submit` as the API does; `api` posts multipart to
/api/v1/submissions/ through Django's test client (the whole middleware, authentication, throttle, quota,
idempotency and response stack, in this process), with an Idempotency-Key unless --no-idempotency-key.
Without --broker a private redis-server is started (as bench/e2e.py does), so publishing the scoring task and
the throttles' cache are the production ones; nothing consumes the queue. SQLite in a temporary folder unless
--database-url is given; DEBUG off.

Prints, per path: wall milliseconds per upload without the profiler; the same under cProfile, grouped by what
the time is spent on (validation decode, hashing, storage, database, audit, idempotency, throttle, publish,
response; groups are cumulative times of their entry points and may overlap: the audit insert is also a
database query); the top 20 functions by cumulative time; and the time of `validate_image` alone against a
full decode (what the worker pays again). Saves var/profile/upload-<path>[-<label>].pstats (open with
`python -m pstats`, snakeviz or gprof2dot).
"""
import argparse
import cProfile
import io
import pstats
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, print_table, private_stack_env, start_redis, write_json

FIXTURE = ROOT / "tests" / "fixtures" / "astronaut.jpg"
OUT_DIR = ROOT / "var" / "profile"


def real_sized_jpeg(side=1280, quality=90):
    """The astronaut fixture enlarged to side x side (1.6 megapixels at 1280) with mild sensor-like noise,
    so that the JPEG weighs what a phone photo of that size does (a smooth enlargement compresses far better)."""
    import numpy as np
    from PIL import Image

    image = Image.open(FIXTURE).convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32)
    pixels += np.random.default_rng(0).normal(0, 4, pixels.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def unique_copy(data, number):
    """The same image with different bytes: a JPEG comment (COM segment) after SOI, or trailing bytes otherwise."""
    tag = f"verity profile upload {number}".encode()
    if data[:2] == b"\xff\xd8":
        return data[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + data[2:]
    return data + tag


def timed(fn, n):
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - started) * 1000 / n


# Each group: what it is, and how its seconds are found in the profile. ("ct", file, function) is the
# cumulative time of the matching functions; ("edge", callee file, callee, caller file, caller) the cumulative
# time of the callee when called from the caller; "-" subtracts the next term.
SHA256 = ("~", "<built-in method _hashlib.openssl_sha256>")
GROUPS = [
    ("request parsing (multipart)", [("ct", "rest_framework/request.py", "_parse")]),
    ("authentication (API key)", [("ct", "rest_framework/request.py", "_authenticate")]),
    ("throttles and daily quota", [("ct", "rest_framework/views.py", "check_throttles")]),
    # respond() wraps the view's create() and the deferred audit append: neither is idempotency's cost.
    ("idempotency bookkeeping (with a key, the request commits once, in here)",
     [("ct", "detection/api/idempotency.py", "respond"), "-", ("ct", "detection/api/views.py", "create"),
      "-", ("edge", "audit/services.py", "_append", "audit/services.py", "deferred")]),
    ("upload kind probe (video or image)",
     [("ct", "detection/services.py", "validate_upload"), "-", ("ct", "detection/validation.py", "validate_image")]),
    ("validation decode (validate_image less hashing)",
     [("ct", "detection/validation.py", "validate_image"), "-", ("edge", *SHA256, "detection/validation.py", "validate_image")]),
    ("hashing (every sha256: upload, fingerprint, key, audit chain)",
     [("ct", *SHA256), ("ct", "~", "<method 'update' of '_hashlib.HASH' objects>"),
      ("ct", "~", "<method 'hexdigest' of '_hashlib.HASH' objects>")]),
    ("storage write", [("ct", "detection/storage.py", "store")]),
    ("database (every query and commit; overlaps audit, idempotency, quota)",
     [("ct", "django/db/backends/utils.py", "_execute"), ("ct", "django/db/backends/base/base.py", "_commit")]),
    ("audit (event and chained append)", [("ct", "audit/services.py", "_event"), ("ct", "audit/services.py", "_append")]),
    ("publish (enqueue scoring)", [("ct", "detection/services.py", "enqueue_scoring")]),
    ("response (serialize and render)",
     [("edge", "rest_framework/serializers.py", "data", "detection/api/views.py", "create"),
      ("ct", "rest_framework/response.py", "rendered_content")]),
    ("test client multipart encoding (client side, not counted in the server total)",
     [("ct", "django/test/client.py", "encode_multipart")]),
]


def _matches(key, file, function):
    filename, _, name = key
    return name == function and (file == "~" and filename == "~" or file != "~" and filename.endswith(file))


def group_seconds(stats, terms):
    total, sign = 0.0, 1
    for term in terms:
        if term == "-":
            sign = -1
            continue
        if term[0] == "ct":
            seconds = sum(v[3] for k, v in stats.stats.items() if _matches(k, term[1], term[2]))
        else:
            _, callee_file, callee, caller_file, caller = term
            seconds = sum(
                edge[3]
                for k, v in stats.stats.items()
                if _matches(k, callee_file, callee)
                for caller_key, edge in v[4].items()
                if _matches(caller_key, caller_file, caller)
            )
        total += sign * seconds
        sign = 1
    return total


def profile(name, upload, n, label):
    """Run `upload(i)` n times under cProfile; save the stats; return (profiled ms per upload, pstats.Stats)."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for i in range(n):
        upload(i)
    profiler.disable()
    profiled_ms = (time.perf_counter() - started) * 1000 / n
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"upload-{name}{'-' + label if label else ''}.pstats"
    profiler.dump_stats(path)
    print(f"profile saved to {path.relative_to(ROOT)}")
    return profiled_ms, pstats.Stats(str(path))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=50, help="uploads per path (profiled), and as many unprofiled")
    parser.add_argument("--path", choices=["service", "api", "both"], default="both")
    parser.add_argument("--image", help="the image to upload (default: a 1.6-megapixel JPEG made from the astronaut fixture)")
    parser.add_argument("--label", default="", help="added to the .pstats names (e.g. before, after)")
    parser.add_argument("--broker", help="Redis URL (default: start a private redis-server)")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--no-idempotency-key", action="store_true", help="API requests without an Idempotency-Key")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="verity-profile-"))
    redis_proc = None
    if not args.broker:
        redis_proc, args.broker = start_redis(workdir)
    private_stack_env(workdir, args.broker, args.database_url, unthrottled=True)
    import django

    django.setup()
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.test import Client
    from PIL import Image

    from accounts.api_keys import create_api_key, service_user
    from accounts.models import Organisation
    from detection import services
    from detection.models import Submission
    from detection.validation import validate_image

    data = Path(args.image).read_bytes() if args.image else real_sized_jpeg()
    name = Path(args.image).name if args.image else "photo.jpg"
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        described = f"{name}: {image.format} {width}x{height} ({width * height / 1e6:.1f} MP), {len(data) / 1024:.0f} KiB"
    figures = {"image": described, "n": args.n, "database": None, "paths": {}}
    try:
        call_command("migrate", verbosity=0)
        figures["database"] = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        organisation, _ = Organisation.objects.get_or_create(
            slug="bench", defaults={"name": "Bench", "kind": Organisation.Kind.PARTNER}
        )
        _, raw_key = create_api_key(organisation=organisation, name="bench", scopes=["submit", "read"])
        user = service_user(organisation)
        counter = iter(range(10**9))  # every upload, profiled or not, gets bytes of its own

        def fresh():
            return unique_copy(data, next(counter))

        # Validation alone, against the full decode the worker does anyway.
        copies = [fresh() for _ in range(min(args.n, 20))]
        validate_ms = timed(lambda i: validate_image(copies[i % len(copies)], name), args.n)

        def full_decode(i):
            with Image.open(io.BytesIO(copies[i % len(copies)])) as im:
                im.load()

        decode_ms = timed(full_decode, args.n)
        figures.update(validate_image_ms=validate_ms, full_decode_ms=decode_ms)

        def service(i):
            services.submit(data=fresh(), name=name, uploader=user, organisation=organisation, source=Submission.Source.API)

        client = Client()
        url = "/api/v1/submissions/"

        def api(i):
            # As the TLS proxy in front says (with DEBUG off plain HTTP is redirected to HTTPS).
            headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}", "HTTP_X_FORWARDED_PROTO": "https"}
            if not args.no_idempotency_key:
                headers["HTTP_IDEMPOTENCY_KEY"] = secrets.token_hex(16)
            response = client.post(url, {"image": SimpleUploadedFile(name, fresh(), "image/jpeg")}, **headers)
            if response.status_code != 201:
                sys.exit(f"the API answered {response.status_code}: {response.content[:500]!r}")

        paths = {"service": service, "api": api}
        for path_name in ["service", "api"] if args.path == "both" else [args.path]:
            upload = paths[path_name]
            for i in range(3):  # warm-up: connections, imports, first queries
                upload(i)
            wall_ms = timed(upload, args.n)
            profiled_ms, stats = profile(path_name, upload, args.n, args.label)
            groups = {label: group_seconds(stats, terms) * 1000 / args.n for label, terms in GROUPS}
            groups = {k: v for k, v in groups.items() if v > 0.0005}
            client_ms = groups.get(GROUPS[-1][0], 0.0)
            figures["paths"][path_name] = {
                "wall_ms_per_upload": wall_ms,
                "profiled_ms_per_upload": profiled_ms,
                "profiled_server_ms_per_upload": profiled_ms - client_ms,
                "groups_profiled_ms_per_upload": groups,
            }
            print(f"\n== {path_name}: {args.n} uploads, {described}, {figures['database']}, broker {args.broker}\n")
            print_table(
                ["measure", "ms per upload"],
                [
                    ["wall, no profiler", f"{wall_ms:.2f}"],
                    ["wall under cProfile (inflates Python code more than C)", f"{profiled_ms:.2f}"],
                    *([["  of which server side", f"{profiled_ms - client_ms:.2f}"]] if client_ms else []),
                    *[[f"  {label}", f"{ms:.2f}"] for label, ms in groups.items()],
                ],
            )
            print(f"\ntop 20 by cumulative time ({path_name}):")
            stats.sort_stats("cumulative").print_stats(20)
        print_table(
            ["validation alone", "ms per image"],
            [["validate_image (what the upload pays)", f"{validate_ms:.2f}"],
             ["full decode (what the worker pays again)", f"{decode_ms:.2f}"]],
        )  # fmt: skip
    finally:
        if redis_proc:
            redis_proc.terminate()
    write_json(args.json, figures)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
