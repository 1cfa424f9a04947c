"""Shared helpers for the benchmarks: Django setup, the faces test split, timing and tables."""
import json
import os
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
