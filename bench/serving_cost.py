"""Serving cost of candidate detectors: ONNX Runtime images/s on this host, measured in interleaved rounds (the
median of each), beside each candidate's validation and test ROC AUC from its evaluation. Prints JSON.

Each argument is an evaluated run folder (model.keras + summary.json), a .keras file, or an .onnx file timed as it
is: the int8 variant `manage.py quantize_model` writes (`var/models/exports/<sha256>-int8.onnx`, whose JSON beside
it gives its test AUC) or an fp32 export (`<sha256>.onnx`), so fp32 and int8 are measured in the same rounds.
Ensembles are one graph, so their cost includes every member and the test-time flips.

    .venv/bin/python bench/serving_cost.py var/runs/lite0-256-plain var/runs/v2-v3-flips --batch 16

With --run-sizes each candidate is also timed with its batch run in slices of those sizes (the worker times
them at load and serves the fastest: VERITY_MODEL_RUN_SIZE); `onnx_fp32_img_s` is then the best of them.
"""
import argparse
import functools
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from _common import images_per_second, setup_django, write_json


def main():
    setup_django()
    from django.test import override_settings

    from detection.inference import export
    from detection.inference.runtime import run_in_slices

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--run-sizes", type=int, nargs="*", default=[], help="also time slices of these sizes")
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    rows, sessions = [], []
    with tempfile.TemporaryDirectory() as scratch, override_settings(VERITY_MODELS_DIR=Path(scratch)):
        for index, candidate in enumerate(args.candidates):
            path = Path(candidate)
            summary = json.loads((path / "summary.json").read_text()) if (path / "summary.json").exists() else {}
            if path.suffix == ".onnx":
                # Beside it: ReducedInfo (an int8 variant), ExportInfo (an fp32 export), or nothing.
                info = path.with_suffix(".json")
                beside = json.loads(info.read_text()) if info.exists() else {}
                reduced = beside if "reduced_auc" in beside else None
                summary = {"test": {"all": {"roc_auc": reduced["reduced_auc"]}}} if reduced else {}
                precision = "int8" if reduced else "fp32" if "max_abs_diff" in beside else "onnx as given"
                model = export.OnnxModel(path)
            else:
                model_path = path / "model.keras" if path.is_dir() else path
                model, precision = export.OnnxModel(export.export_onnx(model_path, f"bench-{index}").onnx_path), "fp32"
            size = model.session.get_inputs()[0].shape[1]
            rows.append({
                "candidate": str(candidate),
                "precision": precision,
                "valid_auc": summary.get("valid", {}).get("all", {}).get("roc_auc"),
                "test_auc": summary.get("test", {}).get("all", {}).get("roc_auc"),
                "test_auc_by_source": {k: v["roc_auc"] for k, v in summary.get("test", {}).items() if k != "all"},
                "jpeg_75_auc_drop": summary.get("robustness", {}).get("jpeg_75", {}).get("all", {}).get("auc_drop"),
                "half_resolution_auc_drop": summary.get("robustness", {}).get("half_resolution", {}).get("all", {}).get("auc_drop"),
                "rounds": [],
            })
            batch = np.random.default_rng(0).uniform(0, 255, (args.batch, size, size, 3)).astype(np.float32)
            sessions.append((model, batch))
        sizes = [args.batch] + [n for n in args.run_sizes if n < args.batch]
        for row in rows:
            row["rounds"] = {n: [] for n in sizes}
        for _ in range(args.rounds):
            for row, (model, batch) in zip(rows, sessions):
                for n in sizes:
                    run = functools.partial(run_in_slices, model.run, size=n)
                    row["rounds"][n].append(images_per_second(run, batch, min_seconds=args.seconds))
    fastest = None
    for row in rows:
        row["img_s_by_run_size"] = {n: float(np.median(r)) for n, r in row.pop("rounds").items()}
        row["whole_batch_img_s"] = row["img_s_by_run_size"][args.batch]
        row["run_size"] = max(row["img_s_by_run_size"], key=row["img_s_by_run_size"].get)
        row["img_s"] = row["img_s_by_run_size"][row["run_size"]]
        if row["precision"] == "fp32":
            row["onnx_fp32_img_s"] = row["img_s"]
        fastest = max(fastest or 0.0, row["img_s"])
    for row in rows:
        row["cost_vs_fastest"] = fastest / row["img_s"]
    out = {"batch": args.batch, "cpu_count": os.cpu_count(), "candidates": rows}
    print(json.dumps(out, indent=2))
    write_json(args.json, out)


if __name__ == "__main__":
    main()
