import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training import evaluation
from training.datasets import DatasetError


class Command(BaseCommand):
    help = "Evaluate a model (a training run folder or a .keras file) on a dataset: HTML report, JSON metrics, plots."

    def add_arguments(self, parser):
        parser.add_argument("model", help="a run folder (from `train`) or a .keras file")
        parser.add_argument("--dataset", default="", help="dataset folder (default: the run's own)")
        parser.add_argument("--output", default="", help="report folder (default: RUN/report or beside the .keras file)")
        parser.add_argument("--no-robustness", action="store_true", help="skip the JPEG and resolution tests")

    def handle(self, *args, model, dataset, output, no_robustness, **options):
        path = Path(model)
        write = lambda line: self.stdout.write(line) or self.stdout.flush()  # noqa: E731
        try:
            if path.is_dir():
                report = evaluation.evaluate_run(path, dataset or None, robustness=not no_robustness, log=write)
            elif path.exists():
                if not dataset:
                    raise CommandError("--dataset is needed to evaluate a .keras file")
                out = Path(output) if output else path.with_suffix("").with_name(path.stem + "-report")
                report = evaluation.evaluate(path, dataset, out, robustness=not no_robustness, log=write)
            else:
                raise CommandError(f"{path} does not exist")
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        write(f"report: {report.html_path}")
        write(f"metrics: {report.json_path}")
        write(json.dumps(report.headline()["test"], indent=2))
