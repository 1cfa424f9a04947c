from pathlib import Path

from django.core.management.base import BaseCommand

from training import shipping


class Command(BaseCommand):
    help = "Copy an evaluated run into models/ as the shipped default: default.keras, default.json, MODEL_CARD.md, report/."

    def add_arguments(self, parser):
        parser.add_argument("run", help="an evaluated run folder")
        parser.add_argument("--name", required=True, help="version name, e.g. efficientnetlite0-faces-2026-11")
        parser.add_argument("--train-command", required=True, help="the exact command that trained the run (for the card)")
        parser.add_argument("--why", default="", help="file with the 'why this model' paragraph")
        parser.add_argument("--limits", default="", help="file with the 'known limits' section")
        parser.add_argument("--comparison", default="", help="file with the comparison table")
        parser.add_argument("--destination", default="", help="default: models/")

    def handle(self, *args, run, name, train_command, why, limits, comparison, destination, **options):
        read = lambda path: Path(path).read_text() if path else ""  # noqa: E731
        path = shipping.ship(
            run, name, train_command, why=read(why), limits=read(limits), comparison=read(comparison),
            destination=destination or None,
        )
        self.stdout.write(f"wrote {path} and its card")
