from django.conf import settings
from django.db import transaction


def export_when_activated(sender, version, **kwargs):
    """Every promoted version is exported for serving, by a default-queue task once the promotion commits."""
    if not settings.VERITY_EXPORT_ON_PROMOTE:
        return
    from detection.tasks import export_model_version

    transaction.on_commit(lambda: export_model_version.delay(version.pk))
