"""The model registry: which detector version the workers use, and switching it."""
import hashlib

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

import audit

from .models import ModelVersion


# Sent inside activate()'s transaction: kwargs version, previous. Detection exports the version for serving.
version_activated = Signal()


class NoActiveModel(Exception):
    """No model version is active: run `python manage.py ensure_default_model` or promote one."""


def active_version():
    """The active ModelVersion, read fresh from the database (workers call this for every batch)."""
    version = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()
    if version is None:
        raise NoActiveModel("no active model version; run `python manage.py ensure_default_model` or promote one")
    return version


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def register(*, name, artifact, actor=None, **fields):
    """Add a candidate version for a .keras file; returns the new ModelVersion."""
    version = ModelVersion(name=name, artifact=str(artifact), created_by=actor if _is_user(actor) else None, **fields)
    if not version.artifact_sha256 and version.artifact_path.exists():
        version.artifact_sha256 = file_sha256(version.artifact_path)
    version.save()
    audit.record(actor, "model.registered", version, artifact=str(artifact), trained=version.is_trained)
    return version


def activate(version, actor=None):
    """Make `version` the only active one, atomically; the previous active version is retired."""
    with transaction.atomic():
        # Lock the rows so that two promotions at once cannot leave two (or zero) active versions.
        list(ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.ACTIVE))
        previous = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exclude(pk=version.pk).first()
        if previous is not None:
            previous.status = ModelVersion.Status.RETIRED
            previous.save(update_fields=["status"])
        version.status = ModelVersion.Status.ACTIVE
        version.activated_at = timezone.now()
        version.activated_by = actor if _is_user(actor) else None
        version.save(update_fields=["status", "activated_at", "activated_by"])
        audit.record(actor, "model.promoted", version, previous=previous.name if previous else None)
        version_activated.send(sender=ModelVersion, version=version, previous=previous)
    return version


def _is_user(actor):
    return actor is not None and getattr(actor, "is_authenticated", False)
