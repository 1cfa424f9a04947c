import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training import ensembles
from training.datasets import DatasetError
from training.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Score every mean-of-logits ensemble of up to --max-members of the given registered versions on the "
        "validation and test splits, each member run once: a table of ROC AUC (overall and per source), best "
        "validation first, with how far validation separates them (bootstrap: each row's AUC minus the reference's "
        "with its 95%% interval, and the share of resamples where it is the best). Build the chosen one with "
        "make_ensemble for its full report."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", nargs="+", required=True, metavar="VERSION", help="registered version names")
        parser.add_argument("--dataset", required=True, help="dataset with valid/ and test/ splits")
        parser.add_argument("--max-members", type=int, default=3, help="largest ensemble tried (default 3)")
        parser.add_argument("--top", type=int, default=0, help="print only the best N rows (default: all)")
        parser.add_argument("--reference", nargs="+", default=None, metavar="VERSION",
                            help="the combination the others are compared with, e.g. the default's members "
                                 "(default: the best on validation)")
        parser.add_argument("--resamples", type=int, default=1000,
                            help="bootstrap resamples of the validation split (default 1000; 0: none)")
        parser.add_argument("--robustness", action="store_true",
                            help="also score the validation split re-encoded as JPEG 75 and at half resolution: "
                                 "each row's AUC drop there (each member runs three times over validation)")
        parser.add_argument("--max-jpeg-drop", type=float, default=0.02, metavar="AUC",
                            help="with --robustness, the largest validation AUC drop under JPEG 75 a candidate may "
                                 "have to replace the reference (default 0.02, the robustness target)")
        parser.add_argument("--json", dest="json_path", default="", metavar="FILE", help="also write every row to FILE")

    def handle(self, *args, members, dataset, max_members, top, json_path, reference, resamples, robustness,
               max_jpeg_drop, **options):
        if max_jpeg_drop < 0:
            raise CommandError("--max-jpeg-drop must be 0 or more (an AUC drop)")
        versions = {v.name: v for v in ModelVersion.objects.filter(name__in=members)}
        missing = [m for m in members if m not in versions]
        if missing:
            raise CommandError(f"no such model version: {', '.join(missing)}")
        write = lambda line: self.stdout.write(line) or self.stdout.flush()  # noqa: E731
        try:
            rows = ensembles.screen([versions[m] for m in dict.fromkeys(members)], dataset, max_members, log=write,
                                    reference=reference, resamples=resamples, robustness=robustness)
        except (DatasetError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        write(format_rows(rows[:top] if top > 0 else rows))
        if reference:
            jpeg_limit = max_jpeg_drop if robustness else None  # without robustness figures there is no limit
            decision = ensembles.decide(rows, jpeg_limit)
            if decision:
                write(format_decision(decision, jpeg_limit))
        if json_path:
            Path(json_path).write_text(json.dumps(rows, indent=2))
            write(f"wrote {json_path}")


def format_rows(rows):
    """members | valid AUC (per source) | vs reference | [valid AUC drops] | test AUC (per source), a line per combination."""
    sources = sorted({s for r in rows for s in r["valid"] if s != "all"})
    perturbed = list(next((r["robustness"] for r in rows if r.get("robustness")), {}))
    header = ["members", "val AUC", *(f"val {s}" for s in sources), "val - reference [95% CI]", "P(best)",
              *(f"val {name} drop" for name in perturbed), "test AUC", *(f"test {s}" for s in sources)]
    lines = [[" + ".join(r["members"]), *(_auc(r["valid"].get(k)) for k in ["all", *sources]),
              *_selection(r.get("selection")),
              *(_drop(r["robustness"][name]["auc_drop"]) for name in perturbed),
              *(_auc(r["test"].get(k)) for k in ["all", *sources])] for r in rows]
    reference = next((r["selection"]["reference"] for r in rows if r.get("selection")), None)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in [header, *lines])
    if reference:
        table += f"\nreference: {' + '.join(reference)}; P(best): share of bootstrap resamples of validation where the row is first"
    return table


def format_decision(decision, max_jpeg_drop):
    limit = "" if max_jpeg_drop is None else f" among combinations losing at most {max_jpeg_drop} under JPEG 75 on validation"
    candidate = decision["candidate"]
    if candidate is None:
        return f"decision: keep the reference ({decision['reason']}{limit})"
    verb = "replace the reference with" if decision["action"] == "replace" else "keep the reference; the best candidate"
    return f"decision: {verb} {' + '.join(candidate['members'])}{limit}: {decision['reason']}"


def _selection(selection):
    if not selection:
        return ["-", "-"]
    low, high = selection["delta_ci95"]
    return [f"{selection['delta']:+.4f} [{low:+.4f}, {high:+.4f}]", f"{selection['p_best']:.0%}"]


def _drop(value):
    return "-" if value is None else f"{value:+.4f}"


def _auc(value):
    return "-" if value is None else f"{value:.4f}"
