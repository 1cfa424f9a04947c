"""Limits every signal runs under, so that one hostile file cannot stall or sink the others."""
import signal
import threading
import time
from contextlib import contextmanager

from django.conf import settings


def setting(name, default):
    return getattr(settings, f"VERITY_FORENSICS_{name}", default)


def signal_seconds():
    """Wall-clock budget of one signal."""
    return float(setting("SIGNAL_SECONDS", 30))


def working_side():
    """Longest side, in pixels, of the copy the pixel-level signals work on (bounds their time and memory)."""
    return int(setting("MAX_SIDE", 1024))


class SignalTimeout(Exception):
    """The signal ran past its time budget."""


@contextmanager
def time_limit(seconds):
    """Raise SignalTimeout in this thread once `seconds` have passed.

    Uses SIGALRM, which only the main thread can receive (a Celery prefork child and pytest run tasks there);
    elsewhere the caller's post-hoc check in `capture` is all there is. A long call inside C code
    (OpenCV, libjpeg) is interrupted only when it returns, which is why every signal also bounds its input.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _expire(signum, frame):
        raise SignalTimeout(f"took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expire)
    remaining, _ = signal.getitimer(signal.ITIMER_REAL)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:  # someone else's alarm was pending (e.g. Celery's time limit): give it back
            signal.setitimer(signal.ITIMER_REAL, remaining)


def capture(name, func, *args, seconds=None, **kwargs):
    """Run one signal; return its JSON result with `status` and `duration_ms`, never raise.

    A signal returns a dict (status defaults to "ok"); an exception becomes {"status": "error", "error": ...}.
    """
    seconds = signal_seconds() if seconds is None else seconds
    started = time.perf_counter()
    try:
        with time_limit(seconds):
            result = func(*args, **kwargs)
        result = dict(result)
        result.setdefault("status", "ok")
    except SignalTimeout as exc:
        result = {"status": "timeout", "error": f"{name} stopped: it {exc}"}
    except MemoryError:
        result = {"status": "error", "error": f"{name} ran out of memory"}
    except Exception as exc:  # each signal reports its own failure; the submission and other signals go on
        result = {"status": "error", "error": f"{name} failed: {type(exc).__name__}: {str(exc)[:300]}"}
    duration = time.perf_counter() - started
    result["duration_ms"] = round(duration * 1000, 1)
    if result["status"] == "ok" and duration > seconds:
        result.setdefault("limits", []).append(f"{name} took {duration:.1f} s, over its {seconds:g} s budget")
    return result
