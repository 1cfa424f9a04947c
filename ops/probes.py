"""Readiness checks behind /readyz: can this web process serve uploads end to end right now?

Each check answers in plain words and never with an exception's text: /readyz is public, and driver errors
carry host names and user names. The details go to the log.
"""
import logging
import time
from dataclasses import dataclass

from django.db import connections

from detection import broker

logger = logging.getLogger(__name__)


@dataclass
class Check:
    ok: bool
    detail: str
    ms: float = 0.0

    def as_dict(self):
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.ms, 1)}


def check_database():
    """The default database answers a query."""
    try:
        connection = connections["default"]
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        logger.warning("readiness: database unreachable: %s", exc)
        return Check(False, "the database is unreachable")
    return Check(True, "the database answers")


def check_broker():
    """The Celery broker accepts a connection and answers, within broker.TIMEOUT_SECONDS."""
    try:
        with broker.connection() as conn:
            broker.check(conn)
    except Exception as exc:
        logger.warning("readiness: broker unreachable: %s", exc)
        return Check(False, "the task broker is unreachable")
    return Check(True, "the task broker answers")


def check_model():
    """A model version is active and its file is where the workers will load it from.

    Only the file's presence is checked: loading it would import TensorFlow into the web process.
    """
    from training import registry

    try:
        version = registry.active_version()
    except registry.NoActiveModel:
        return Check(False, "no model version is active")
    except Exception as exc:
        logger.warning("readiness: could not read the active model version: %s", exc)
        return Check(False, "the active model version could not be read")
    if not version.artifact_path.is_file():
        logger.warning("readiness: model file of %s missing at %s", version.name, version.artifact_path)
        return Check(False, f"the model file of {version.name} is missing")
    return Check(True, f"{version.name} is active and its file exists")


CHECKS = {"database": check_database, "broker": check_broker, "model": check_model}


def readiness():
    """{name: Check} for every check, timed; the model is not checked without a database."""
    results = {}
    for name, check in CHECKS.items():
        if name == "model" and not results["database"].ok:
            results[name] = Check(False, "not checked: it needs the database")
            continue
        started = time.perf_counter()
        result = check()
        result.ms = (time.perf_counter() - started) * 1000
        results[name] = result
    return results
