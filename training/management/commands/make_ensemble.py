import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training import ensembles
from training.datasets import DatasetError
from training.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Combine registered model versions into one ensemble version (a single .keras graph: each member's "
        "logit, optional test-time flips, weights fitted on the validation split), evaluate and register it."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="name of the new ensemble version (and of its run folder)")
        parser.add_argument("--members", nargs="+", required=True, metavar="VERSION", help="registered version names")
        parser.add_argument("--dataset", required=True, help="dataset whose validation split fits the combination")
        parser.add_argument("--combine", choices=ensembles.COMBINES, default="mean",
                            help="mean: average of the members' logits; stacker: logistic regression on validation")
        parser.add_argument("--flip", action="store_true", help="test-time horizontal flips (twice the cost)")
        parser.add_argument("--output", default="", help="run folder (default var/runs/NAME)")
        parser.add_argument("--no-evaluate", action="store_true")
        parser.add_argument("--register", action="store_true", help="register the ensemble as a candidate version")

    def handle(self, *args, name, members, dataset, combine, flip, output, no_evaluate, register, **options):
        from django.conf import settings

        versions = {v.name: v for v in ModelVersion.objects.filter(name__in=members)}
        missing = [m for m in members if m not in versions]
        if missing:
            raise CommandError(f"no such model version: {', '.join(missing)}")
        output = Path(output or Path(settings.VAR_DIR) / "runs" / name)
        write = lambda line: self.stdout.write(line) or self.stdout.flush()  # noqa: E731
        try:
            path = ensembles.make_ensemble([versions[m] for m in members], dataset, output, combine, flip, log=write)
        except (DatasetError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        write(f"ensemble: {path}")
        if not no_evaluate:
            from training import evaluation

            report = evaluation.evaluate_run(output, log=write)
            write(f"report: {report.html_path}")
            write(json.dumps({k: report.headline()[k] for k in ("threshold", "inference_images_per_second")}, default=str))
        if register:
            from training import services

            try:
                version = services.register_run(output, name=name)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            write(f"registered {version.name} ({', '.join(version.member_names)}) as a candidate")
