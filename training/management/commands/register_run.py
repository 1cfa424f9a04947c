from django.core.management.base import BaseCommand, CommandError

from training import services


class Command(BaseCommand):
    help = "Register an evaluated run folder (from `train` or `make_ensemble`) as a candidate model version."

    def add_arguments(self, parser):
        parser.add_argument("run", help="run folder with model.keras, config.json and summary.json")
        parser.add_argument("--name", default="", help="version name (default: the folder's name)")

    def handle(self, *args, run, name, **options):
        try:
            version = services.register_run(run, name=name or None)
        except (OSError, KeyError, ValueError) as exc:
            raise CommandError(f"cannot register {run}: {exc}") from exc
        self.stdout.write(f"registered {version.name} as a candidate")
