"""Training operations: start and cancel runs, register their models, promote, compare.

Views, tasks, the admin and the management commands call these; they stay thin.
"""
import json
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit

from . import registry
from .models import EnsembleMember, ModelVersion, TrainingRun


def runs_dir():
    return Path(settings.VAR_DIR) / "runs"


def start_training(config, actor=None, name=None):
    """Create a queued TrainingRun for `config` (TrainConfig fields) and enqueue it on the training queue."""
    from .tasks import run_training
    from .trainer import TrainConfig

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    name = name or f"{config.get('architecture', 'model').lower()}-{stamp}"
    config = dict(config)
    config.setdefault("output", str(runs_dir() / name))
    checked = TrainConfig(**config)  # unknown or missing fields fail here, not in the worker
    run = TrainingRun.objects.create(
        name=name,
        config=checked.to_dict(),
        total_epochs=checked.epochs,
        output_dir=checked.output,
        created_by=actor if _is_user(actor) else None,
    )
    audit.record(actor, "training.started", run, architecture=checked.architecture, epochs=checked.epochs)
    transaction.on_commit(lambda: run_training.delay(run.pk))
    return run


def cancel_training(run, actor=None):
    """Ask a queued or running run to stop; the worker stops between batches. Returns True if asked."""
    updated = TrainingRun.objects.filter(pk=run.pk, status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]).update(
        cancel_requested=True
    )
    if updated:
        # A run still in the queue never starts.
        TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.CANCELLED, finished_at=timezone.now(), message="cancelled before it started"
        )
        audit.record(actor, "training.cancel_requested", run)
    return bool(updated)


def register_run(run_dir, name=None, actor=None):
    """Register a finished, evaluated run folder as a candidate ModelVersion (an ensemble with its members)."""
    from .evaluation import SUMMARY_FILE
    from .trainer import CONFIG_FILE

    run_dir = Path(run_dir)
    config = json.loads((run_dir / CONFIG_FILE).read_text())
    summary = json.loads((run_dir / SUMMARY_FILE).read_text()) if (run_dir / SUMMARY_FILE).exists() else {}
    name = name or run_dir.name
    ensemble = config["config"].get("ensemble")
    members = []
    if ensemble:
        names = [m["name"] for m in ensemble["members"]]
        found = {v.name: v for v in ModelVersion.objects.filter(name__in=names)}
        missing = [n for n in names if n not in found]
        if missing:
            raise ValueError(f"ensemble members not registered: {', '.join(missing)}")
        members = [(found[m["name"]], m["weight"]) for m in ensemble["members"]]
    with transaction.atomic():
        version = _register_run_version(run_dir, config, summary, name, actor)
        for position, (member, weight) in enumerate(members):
            EnsembleMember.objects.create(ensemble=version, member=member, position=position, weight=weight)
    return version


def unpack_ensemble(version, output, actor=None):
    """Register each member of the ensemble `version` as a version of its own, so that a new ensemble can take
    them (with a new member) one by one; a member whose name is already registered is left as it is.

    The members' files are written under `output`; each keeps its temperature, and the ensemble's threshold
    and band until it is evaluated alone. Returns the member versions in the ensemble's column order.
    """
    from . import ensembles
    from .evaluation import load_model
    from .trainer import MODEL_FILE

    described = (version.training_config or {}).get("ensemble", {}).get("members") or []
    model = load_model(version.artifact_path)
    if not ensembles.is_ensemble(model):
        raise ValueError(f"{version.name} is not an ensemble")
    found = []
    for index, (detector, temperature) in enumerate(ensembles.unpack(model)):
        about = described[index] if index < len(described) else {}
        name = about.get("name") or f"{version.name}-member{index}"
        existing = ModelVersion.objects.filter(name=name).first()
        if existing is not None:
            found.append(existing)
            continue
        folder = Path(output) / name
        folder.mkdir(parents=True, exist_ok=True)
        detector.save(folder / MODEL_FILE)
        found.append(registry.register(
            name=name, artifact=folder / MODEL_FILE, actor=actor,
            architecture=about.get("architecture") or version.architecture, input_size=version.input_size,
            threshold=version.threshold, uncertain_band=version.uncertain_band, temperature=temperature,
            metrics={}, training_config={"unpacked_from": version.name, "position": index},
            dataset_fingerprint=version.dataset_fingerprint, is_trained=True,
        ))
    return found


def _register_run_version(run_dir, config, summary, name, actor):
    from .evaluation import REPORT_DIR, HTML_FILE
    from .trainer import MODEL_FILE

    return registry.register(
        name=name,
        artifact=run_dir / MODEL_FILE,
        actor=actor,
        architecture=config["config"]["architecture"],
        input_size=config["config"]["input_size"],
        threshold=summary.get("threshold", settings.VERITY_THRESHOLD),
        uncertain_band=summary.get("uncertain_band") if summary.get("uncertain_band") is not None else settings.VERITY_UNCERTAIN_BAND,
        temperature=summary.get("temperature", 1.0),
        metrics=summary,
        report=str(run_dir / REPORT_DIR / HTML_FILE) if (run_dir / REPORT_DIR / HTML_FILE).exists() else "",
        training_config=config["config"],
        dataset_fingerprint=config["dataset"]["fingerprint"],
        is_trained=True,
    )


class CannotPromote(Exception):
    pass


def promote(version, actor=None):
    """Make `version` the active detector (atomic and audited); workers pick it up on their next batch."""
    if not version.artifact_path.exists():
        raise CannotPromote(f"the model file of {version.name} is missing ({version.artifact_path})")
    if version.status == ModelVersion.Status.ACTIVE:
        return version
    return registry.activate(version, actor=actor)


COMPARE_COLUMNS = [
    ("name", "run"),
    ("architecture", "architecture"),
    ("input_size", "input"),
    ("params", "params"),
    ("epochs_trained", "epochs"),
    ("training_seconds", "train s"),
    ("train_images_per_second", "train img/s"),
    ("inference_images_per_second", "infer img/s"),
    ("valid_auc", "val AUC"),
    ("test_auc", "test AUC"),
    ("test_accuracy", "test acc"),
    ("test_f1", "test F1"),
    ("test_mcc", "test MCC"),
    ("test_eer", "test EER"),
]


def comparison_row(name, summary):
    """One row of the comparison table from a run summary (or a ModelVersion's metrics)."""
    row = {key: summary.get(key) for key, _ in COMPARE_COLUMNS if key in summary}
    row["name"] = name
    test, valid = summary.get("test", {}), summary.get("valid", {})
    row["valid_auc"] = valid.get("all", {}).get("roc_auc")
    row["test_auc"] = test.get("all", {}).get("roc_auc")
    row["test_accuracy"] = test.get("all", {}).get("accuracy")
    row["test_f1"] = test.get("all", {}).get("f1")
    row["test_mcc"] = test.get("all", {}).get("mcc")
    row["test_eer"] = test.get("all", {}).get("eer")
    row["sources"] = {k: v.get("roc_auc") for k, v in test.items() if k != "all"}
    row["jpeg_75_auc_drop"] = summary.get("robustness", {}).get("jpeg_75", {}).get("all", {}).get("auc_drop")
    return row


def compare_runs(run_dirs):
    from .evaluation import SUMMARY_FILE

    rows = []
    for run_dir in run_dirs:
        path = Path(run_dir) / SUMMARY_FILE
        if path.exists():
            rows.append(comparison_row(Path(run_dir).name, json.loads(path.read_text())))
    return rows


def compare_versions(versions):
    return [comparison_row(v.name, v.metrics or {}) | {"version": v} for v in versions]


def format_table(rows):
    """The comparison as a plain-text table (one column per source AUC too)."""
    sources = sorted({s for r in rows for s in r.get("sources", {})})
    header = [label for _, label in COMPARE_COLUMNS] + [f"AUC {s}" for s in sources] + ["JPEG75 drop"]
    lines = []
    for r in rows:
        cells = [_cell(r.get(key)) for key, _ in COMPARE_COLUMNS]
        cells += [_cell(r.get("sources", {}).get(s)) for s in sources]
        cells.append(_cell(r.get("jpeg_75_auc_drop")))
        lines.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in lines]
    return "\n".join(out)


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.0f}"
    if isinstance(value, int) and value > 99999:
        return f"{value / 1e6:.2f}M"
    return str(value)


def _is_user(actor):
    return actor is not None and getattr(actor, "is_authenticated", False)
