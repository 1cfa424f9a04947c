import json
from pathlib import Path

from django.core.management.base import BaseCommand

from training import services
from training.models import ModelVersion


class Command(BaseCommand):
    help = "Compare trained models side by side: architecture, input size, parameters, speed, metrics."

    def add_arguments(self, parser):
        parser.add_argument("runs", nargs="*", help="run folders (default: every evaluated run under var/runs/)")
        parser.add_argument("--versions", action="store_true", help="compare registered model versions instead")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON rows instead of a table")

    def handle(self, *args, runs, versions, as_json, **options):
        if versions:
            rows = services.compare_versions(ModelVersion.objects.filter(is_trained=True).order_by("created_at"))
            for row in rows:
                row.pop("version")
        else:
            folders = [Path(r) for r in runs] or sorted(p for p in services.runs_dir().glob("*") if p.is_dir())
            rows = services.compare_runs(folders)
        if not rows:
            self.stdout.write("nothing to compare: no evaluated runs (run `train` without --no-evaluate, or `evaluate RUN`)")
            return
        self.stdout.write(json.dumps(rows, indent=2, default=str) if as_json else services.format_table(rows))
