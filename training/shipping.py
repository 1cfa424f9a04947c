"""Ship an evaluated run as the project's default model: models/default.keras, default.json, MODEL_CARD.md.

The .keras file is re-saved without optimizer state (a third of the size); `default.json` follows the format
`training.defaults.ensure_default_model` reads; the model card is generated from the evaluation so its
numbers cannot drift from the report, with the hand-written parts (why this model, known limits) passed in.
"""
import json
import shutil
from pathlib import Path

from django.conf import settings

from .defaults import CARD_FILE
from .evaluation import METRICS_FILE, REPORT_DIR, SUMMARY_FILE
from .trainer import CONFIG_FILE, MODEL_FILE, TABLE_FILE

ARTIFACT = "default.keras"
MODEL_CARD = "MODEL_CARD.md"


def ship(run_dir, name, command, why="", limits="", comparison="", destination=None):
    """Copy the run's model, metadata, report and card into `destination` (default: models/)."""
    import keras

    run_dir = Path(run_dir)
    destination = Path(destination or settings.VERITY_DEFAULT_MODEL_DIR)
    destination.mkdir(parents=True, exist_ok=True)
    model = keras.models.load_model(run_dir / MODEL_FILE, compile=False)
    model.save(destination / ARTIFACT)

    config = json.loads((run_dir / CONFIG_FILE).read_text())
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    data = json.loads((run_dir / REPORT_DIR / METRICS_FILE).read_text())
    report_dir = destination / "report"
    if report_dir.exists():
        shutil.rmtree(report_dir)
    shutil.copytree(run_dir / REPORT_DIR, report_dir)
    meta = {
        "name": name,
        "artifact": ARTIFACT,
        "architecture": config["config"]["architecture"],
        "input_size": config["config"]["input_size"],
        "threshold": summary["threshold"],
        "uncertain_band": summary.get("uncertain_band", settings.VERITY_UNCERTAIN_BAND),
        "temperature": summary["temperature"],
        "metrics": summary,
        "training_config": config["config"],
        "dataset_fingerprint": config["dataset"]["fingerprint"],
        "report": "report/report.html",
        "command": command,
    }
    (destination / CARD_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    table = (run_dir / TABLE_FILE).read_text() if (run_dir / TABLE_FILE).exists() else ""
    (destination / MODEL_CARD).write_text(model_card(meta, data, config, table, command, why, limits, comparison))
    return destination / ARTIFACT


def _f(value, digits=4):
    return "—" if value is None else f"{value:.{digits}f}"


def _change(drop):
    return "—" if drop is None else f"{-drop:+.4f}"


def model_card(meta, data, config, table, command, why, limits, comparison):
    counts = config["dataset"]["counts"]
    sources = [k for k in data["test"] if k != "all"]
    lines = [
        f"# Model card: {meta['name']}",
        "",
        f"Verity's shipped default detector: **{meta['architecture']}** at {meta['input_size']} px, "
        f"{config['params']:,} parameters, output P(fake) after temperature scaling (T = {meta['temperature']:.3f}); "
        f"images scoring at least {meta['threshold']:.3f} are labelled fake (both chosen on the validation split).",
        "",
        "## Why this model",
        "",
        why.strip(),
        "",
        "## Data",
        "",
        f"`{config['config']['dataset']}` (fingerprint `{config['dataset']['fingerprint'][:16]}`), "
        f"{config['dataset']['layout']} layout, {config['dataset']['skipped']} unreadable files skipped.",
        "",
        "| split | source | real | fake |",
        "|---|---|---:|---:|",
    ]
    for split in ("train", "valid", "test"):
        for source, c in counts[split]["by_source"].items():
            lines.append(f"| {split} | {source} | {c['real']} | {c['fake']} |")
    lines += ["", "## Results on the test split", "",
              "Threshold and temperature from the validation split, applied unchanged.", "",
              "| source | ROC AUC | AP | EER | accuracy | precision | recall | specificity | F1 | MCC | accuracy @0.5 |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for source in ["all", *sources]:
        m = data["test"][source]
        t = m["at_threshold"]
        lines.append(
            f"| {source} | {_f(m['roc_auc'])} | {_f(m['average_precision'])} | {_f(m['eer'])} | {_f(t['accuracy'])} | "
            f"{_f(t['precision'])} | {_f(t['recall'])} | {_f(t['specificity'])} | {_f(t['f1'])} | {_f(t['mcc'])} | "
            f"{_f(m['at_0_5']['accuracy'])} |"
        )
    cm = data["test"]["all"]["at_threshold"]["confusion_matrix"]
    lines += ["", f"Confusion matrix (all test images): real→real {cm[0][0]}, real→fake {cm[0][1]}, fake→real {cm[1][0]}, fake→fake {cm[1][1]}.", ""]
    lines += ["Validation split ROC AUC: " + ", ".join(f"{k} {_f(v['roc_auc'])}" for k, v in data["valid"].items()) + ".", ""]
    if "robustness" in data:
        lines += ["## Robustness (test split)", "", "| perturbation | " + " | ".join(["all", *sources]) + " |",
                  "|---|" + "---:|" * (1 + len(sources))]
        for name, groups in data["robustness"].items():
            cells = [f"{_f(groups[s]['roc_auc'])} ({_change(groups[s]['auc_drop'])})" for s in ["all", *sources]]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "ROC AUC after the perturbation (change from clean in brackets). JPEG: re-encoded at that quality; "
                  "half resolution: downscaled by two (bilinear), then scaled back up by the serving preprocessing.", ""]
    op = data.get("operating_point")
    if op:
        lines += ["## Operating point", "",
                  f"Threshold {data['threshold']:.3f} and uncertain band ±{data['uncertain_band']:.2f}, chosen on the validation "
                  f"split: the threshold for {op['rule']}, then the widest band (up to {op['max_uncertain_band']:.2f}) that "
                  f"sends at most {op['max_real_review_share']:.0%} of real images to review. Results called fake or "
                  "uncertain go to the moderators' queue.", "",
                  "| split | real called fake | fakes caught | uncertain | sent to review (all) | real sent to review | fakes sent to review |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for split in ("valid", "test"):
            r = op[split]
            lines.append(f"| {split} | {r['false_positive_rate']:.1%} | {r['true_positive_rate']:.1%} | {r['uncertain_share']:.1%} | "
                         f"{r['review_share']:.1%} | {r['review_share_real']:.1%} | {r['review_share_fake']:.1%} |")
        lines += [""]
    cal = data["calibration"]
    lines += ["## Calibration", "",
              f"Temperature T = {cal['temperature']:.3f} fitted on the validation split (negative log-likelihood). "
              f"Expected calibration error (15 bins): validation {cal['valid_ece_before']:.4f} → {cal['valid_ece_after']:.4f}, "
              f"test {cal['test_ece_before']:.4f} → {cal['test_ece_after']:.4f}. Reliability diagram: `report/reliability.png`.", ""]
    lines += ["## Speed on the training machine (2 CPU cores, shared)", ""]
    if data.get("epochs_trained"):
        lines.append(f"- training: {_f(data.get('train_images_per_second'), 1)} images/s, {data.get('epochs_trained')} "
                     f"epochs in {_f((data.get('training_seconds') or 0) / 60, 1)} min")
    else:
        lines.append("- training: none of its own (an ensemble of trained versions; see why this model)")
    lines += [f"- inference: {_f(data.get('inference_images_per_second'), 1)} images/s (Keras, batches of 32, "
              "during evaluation; the README's performance section has the serving figures)", ""]
    if comparison.strip():
        lines += ["## Comparison with the other architectures trained", "", comparison.strip(), ""]
    if table:
        lines += ["## Training epochs", "", "```", table.rstrip(), "```", ""]
    lines += ["## Known limits", "", limits.strip(), "",
              "## Reproduce", "", "```", command.strip(), "```", "",
              "Full report with plots: `models/report/report.html`; all metrics: `models/report/metrics.json`.", ""]
    return "\n".join(lines)
