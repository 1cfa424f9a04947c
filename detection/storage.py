"""Content-addressed storage of uploads through Django's storage API (local disk or S3)."""
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def storage_name(validated):
    sha = validated.sha256
    return f"uploads/{sha[:2]}/{sha}{validated.extension}"


def store(validated):
    """Store the bytes under their SHA-256 unless already there; return the storage name."""
    name = storage_name(validated)
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(validated.data))
        if saved != name:  # a concurrent upload of the same bytes won the race; keep one copy
            default_storage.delete(saved)
    return name


def read(name):
    with default_storage.open(name, "rb") as fh:
        return fh.read()


def open_file(name):
    return default_storage.open(name, "rb")
