"""Content-addressed storage of uploads through Django's storage API (local disk, or S3 through django-storages).

An upload is kept once per content: `uploads/<first two hex digits>/<sha256><extension>`. The same bytes
uploaded again (by anyone) make a new Submission that points at the object already there; nothing is
written twice, and a stored object is never overwritten.

When the store cannot be reached or refuses (S3 down or unreachable, the bucket gone, writes denied, the local
disk full or read-only), `store()` and `read()` raise `StorageUnavailable`, after botocore's own retries with
backoff (`AWS_S3_MAX_ATTEMPTS`, config/settings.py). It is transient by nature: the same call may succeed
later, and nothing was stored. Uploaders are asked to try again (the portal keeps them on the page, the API
answers 503 with Retry-After), and scoring hands the submission back for later instead of failing it.
A file that is simply not there is `FileNotFoundError`, as before: that one will not come back.
"""
import logging

from boto3.exceptions import Boto3Error
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, NoCredentialsError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from s3transfer.exceptions import RetriesExceededError

logger = logging.getLogger(__name__)

# How botocore, boto3 and s3transfer say that the object store could not be reached or answered with an error
# (connection refused or reset, timeouts, retries exhausted, AccessDenied, NoSuchBucket, 5xx, SlowDown).
OBJECT_STORE_ERRORS = (ConnectionError, HTTPClientError, NoCredentialsError, ClientError, Boto3Error, RetriesExceededError)


class StorageUnavailable(Exception):
    """The file store cannot be reached or refuses the operation; nothing was stored. Try again later."""


def storage_name(validated):
    sha = validated.sha256
    return f"uploads/{sha[:2]}/{sha}{validated.extension}"


def store(validated):
    """Store the bytes under their SHA-256 unless already there; return the storage name.

    Raises StorageUnavailable when the store cannot take them.
    """
    name = storage_name(validated)
    try:
        if not default_storage.exists(name):
            saved = default_storage.save(name, ContentFile(validated.data))
            if saved != name:  # a concurrent upload of the same bytes won the race; keep one copy
                default_storage.delete(saved)
    except (OSError, *OBJECT_STORE_ERRORS) as exc:  # OSError: the local disk is full, read-only or not ours
        raise _unavailable("store", name, exc) from exc
    return name


def read(name):
    """The stored bytes. Raises FileNotFoundError when they are gone, StorageUnavailable when out of reach."""
    try:
        with default_storage.open(name, "rb") as fh:
            return fh.read()
    except OBJECT_STORE_ERRORS as exc:
        raise _missing_or_unavailable("read", name, exc) from exc


def open_file(name):
    """The stored file, open for reading (S3 reads it on first access). Raises as read() does."""
    try:
        return default_storage.open(name, "rb")
    except OBJECT_STORE_ERRORS as exc:
        raise _missing_or_unavailable("open", name, exc) from exc


def file_response(name, content_type, *, max_age=None, not_found=Http404, missing="no such file"):
    """Stream the stored file `name` to a reader the view has already allowed: never sniffed by the browser,
    cached privately for `max_age` seconds when given; `not_found(missing)` when there is no such file."""
    if not name or not default_storage.exists(name):
        raise not_found(missing)
    response = FileResponse(open_file(name), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    if max_age is not None:
        response["Cache-Control"] = f"private, max-age={max_age}"
    return response


def _missing_or_unavailable(action, name, exc):
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
        return FileNotFoundError(f"{name} is not in the file store")  # deleted after django-storages checked for it
    return _unavailable(action, name, exc)


def _unavailable(action, name, exc):
    # Logged here, once, with the store's own words: callers show the uploader a plain message instead.
    logger.warning("file store unavailable (%s %s): %s: %s", action, name, exc.__class__.__name__, exc)
    return StorageUnavailable(f"the file store could not {action} {name}: {exc}")
