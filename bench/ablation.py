"""The ablation table of the model card, from evaluated run folders (each `train` run writes report/metrics.json).

    .venv/bin/python bench/ablation.py var/runs/lite0-crop128 var/runs/lite0-resize128 ... [--json out.json]

One row per run: what it changed (crop, input size, label smoothing, mixup, augmentation, schedule, epochs), training
minutes, validation ROC AUC (the column runs are chosen on), test ROC AUC overall and per source, the AUC lost
at JPEG 75 and at half resolution, and the test split at the validation-chosen operating point.
"""
import argparse
import json
from pathlib import Path

from _common import print_table, write_json


def recipe(config):
    if config.get("ensemble"):
        ensemble = config["ensemble"]
        flips = ", test-time flips" if ensemble.get("flip") else ""
        return f"{ensemble.get('combine', 'mean')} of {' + '.join(m['name'] for m in ensemble['members'])}{flips}"
    augmentation = config.get("augmentation") or {}
    parts = [config.get("architecture", "?"), f"{config.get('input_size')} px"]
    if config.get("crop"):
        parts.append(f"crops {config['crop']}")
    if config.get("weights") in (None, "", "none"):
        parts.append("from scratch")
    if augmentation.get("jpeg_probability") or augmentation.get("zoom"):
        parts.append("robustness set")
    elif not augmentation.get("flip"):
        parts.append("no flips")
    if config.get("label_smoothing"):
        parts.append(f"label smoothing {config['label_smoothing']}")
    if config.get("mixup"):
        parts.append(f"mixup {config['mixup']}")
    if config.get("cutmix"):
        parts.append(f"CutMix {config['cutmix']}")
    if augmentation.get("downscale_probability"):
        parts.append(f"downscaled p {augmentation['downscale_probability']} to {augmentation.get('downscale_min', 0.5)}")
    if config.get("schedule") not in (None, "one_cycle"):
        parts.append(f"{config['schedule']} schedule from {config.get('learning_rate')}")
    if config.get("seed") not in (None, 1337):  # 1337: train's default seed
        parts.append(f"seed {config['seed']}")
    parts.append(f"{config.get('epochs')} epochs")
    return ", ".join(parts)


def row(run):
    metrics = json.loads((Path(run) / "report" / "metrics.json").read_text())
    config = metrics.get("training_config") or {}
    test, robustness = metrics["test"], metrics.get("robustness", {})
    point = metrics["operating_point"]["test"]
    sources = sorted(k for k in test if k != "all")
    return {
        "run": Path(run).name,
        "recipe": recipe(config),
        "minutes": round((metrics.get("training_seconds") or 0) / 60, 1),
        "val_auc": round(metrics["valid"]["all"]["roc_auc"], 4),
        "test_auc": round(test["all"]["roc_auc"], 4),
        **{f"test_{s}": round(test[s]["roc_auc"], 4) for s in sources},
        "jpeg75_drop": round(robustness["jpeg_75"]["all"]["auc_drop"], 4) if "jpeg_75" in robustness else None,
        "half_res_drop": round(robustness["half_resolution"]["all"]["auc_drop"], 4) if "half_resolution" in robustness else None,
        "test_real_called_fake": round(point["false_positive_rate"], 3),
        "test_fakes_caught": round(point["true_positive_rate"], 3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="evaluated run folders")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    rows = [row(run) for run in args.runs]
    headers = list(rows[0])
    print_table(headers, [[r.get(h) for h in headers] for r in rows])
    write_json(args.json, rows)


if __name__ == "__main__":
    main()
