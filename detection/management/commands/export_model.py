from django.core.management.base import BaseCommand, CommandError

from detection import services
from training import registry


class Command(BaseCommand):
    help = "Export a model version (default: the active one) to ONNX for the CPU workers, checked against Keras."

    def add_arguments(self, parser):
        # Not --version: every Django command already has that option (it prints Django's version).
        parser.add_argument("--model-version", dest="version", help="model version name (default: the active version)")

    def handle(self, *args, version, **options):
        if version:
            target = registry.ModelVersion.objects.filter(name=version).first()
            if target is None:
                raise CommandError(f"no model version named {version}")
        else:
            target = registry.active_version()
        info = services.export_for_serving(target.pk)
        if info is None:
            raise CommandError(f"export of {target.name} refused; see the audit trail (model.export_refused)")
        self.stdout.write(f"{target.name}\t{info.onnx_path}\tmax abs diff {info.max_abs_diff:.2e}")
