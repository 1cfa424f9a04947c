from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training import services
from training.models import ModelVersion


class Command(BaseCommand):
    help = "Make a model version the active detector (registering a run folder first if given one)."

    def add_arguments(self, parser):
        parser.add_argument("version", help="a ModelVersion name, or an evaluated run folder to register and promote")
        parser.add_argument("--name", default="", help="name for a newly registered run (default: the folder name)")

    def handle(self, *args, version, name, **options):
        found = ModelVersion.objects.filter(name=version).first()
        if found is None and Path(version).is_dir():
            found = services.register_run(Path(version), name=name or None)
            self.stdout.write(f"registered {found.name}")
        if found is None:
            raise CommandError(f"no model version named {version!r} and no run folder at that path")
        try:
            services.promote(found)
        except services.CannotPromote as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{found.name} is now the active model")
