"""Operations: /healthz and /readyz, worker heartbeats, and the staff page /ops/."""
from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self):
        from . import worker

        worker.connect()
