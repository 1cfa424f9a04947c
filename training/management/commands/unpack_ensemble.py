from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training import services
from training.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Register each member of an ensemble version as a version of its own (a member already registered under "
        "its name is kept), so that make_ensemble can combine them with new members."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", help="the ensemble version's name")
        parser.add_argument("--output", default="", help="folder for the members' files (default var/runs/VERSION-members)")

    def handle(self, *args, version, output, **options):
        from django.conf import settings

        found = ModelVersion.objects.filter(name=version).first()
        if found is None:
            raise CommandError(f"no such model version: {version}")
        output = Path(output or Path(settings.VAR_DIR) / "runs" / f"{version}-members")
        try:
            members = services.unpack_ensemble(found, output)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for member in members:
            self.stdout.write(f"{member.name}: {member.artifact} (temperature {member.temperature:.3f})")
