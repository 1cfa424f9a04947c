from django.apps import AppConfig


class DetectionConfig(AppConfig):
    name = "detection"

    def ready(self):
        from .forensics.receivers import on_submissions_scored
        from .signals import submissions_scored

        submissions_scored.connect(on_submissions_scored, dispatch_uid="detection.forensics.compute_evidence")

        from training.registry import version_activated

        from .inference.receivers import export_when_activated

        version_activated.connect(export_when_activated, dispatch_uid="detection.inference.export")

        from . import warmup

        warmup.connect()
