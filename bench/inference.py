"""Raw model throughput: naive per-image Keras loop vs compiled Keras vs ONNX Runtime fp32 vs int8.

    .venv/bin/python bench/inference.py [--model PATH.keras] [--dataset ../shared/datasets/faces] [--json out.json]

Prints images/s at batch 1, 8 and 32 for each runtime, ROC AUC on the dataset's test split for each, and
the ratios between them, all measured in this one run. Without --model it uses the active model version.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import DEFAULT_DATASET, images_per_second, print_table, setup_django, write_json

BATCHES = (1, 8, 32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help=".keras file (default: the active model version)")
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET), help="dataset with a test split")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum seconds per measurement")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES), help="batch sizes (GPU: 32 128)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--limit", type=int, default=0, help="use only N test images, evenly spread (0: all)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    setup_django()
    from sklearn.metrics import roc_auc_score

    from detection.inference import export, quantize
    from detection.inference.runtime import load_keras_model
    from training import registry
    from training.datasets import load_dataset
    from training.preprocessing import load_image

    if args.model:
        model_path, sha = Path(args.model), registry.file_sha256(args.model)
        name = model_path.name
    else:
        version = registry.active_version()
        model_path, sha, name = version.artifact_path, version.artifact_sha256, version.name
    model = load_keras_model(str(model_path))
    size = model.input_shape[1]

    test = load_dataset(args.dataset).split("test")
    if args.limit:
        test = test[:: max(1, len(test) // args.limit)][: args.limit]  # an even spread keeps both classes
    started = time.perf_counter()
    images = np.stack([load_image(Path(s.path).read_bytes(), size) for s in test])
    labels = np.array([s.label for s in test])
    preprocess_img_s = len(images) / (time.perf_counter() - started)
    valid = load_dataset(args.dataset).split("valid")
    valid_images = np.stack([load_image(Path(s.path).read_bytes(), size) for s in valid])
    valid_labels = np.array([s.label for s in valid])
    calibration = valid_images[np.random.default_rng(0).permutation(len(valid))[: quantize.CALIBRATION_IMAGES]]

    with tempfile.TemporaryDirectory() as tmp:
        from django.test import override_settings

        with override_settings(VERITY_MODELS_DIR=tmp):
            fp32_info = export.existing_export(sha) or export.export_onnx(model_path, sha)
            fp32 = export.OnnxModel(fp32_info.onnx_path)
            reduced_info = quantize.quantize_int8(fp32_info, calibration, images, labels, valid_images, valid_labels)
            reduced = export.OnnxModel(reduced_info.onnx_path)

            runtimes = {
                # The papers' web apps: model.predict on one image per request.
                "naive": lambda b: np.concatenate([model.predict(x[None], verbose=0) for x in b]),
                "compiled": model.predict_on_batch,
                "onnx_fp32": fp32.predict,
                "reduced": reduced.predict,
            }
            rows, figures = [], {"model": name, "input_size": size, "test_images": len(images), "rounds": args.rounds}
            for key, fn in runtimes.items():
                scores = np.concatenate([np.asarray(fn(images[i : i + 32])).reshape(-1) for i in range(0, len(images), 32)])
                figures[f"{key}_auc"] = float(roc_auc_score(labels, scores))
            # The machine is shared: every configuration is measured once per round, rounds interleaved,
            # and the median kept, so that a noisy minute hits all runtimes alike.
            configs = [(key, batch) for key in runtimes for batch in ((1,) if key == "naive" else args.batches)]
            samples = {config: [] for config in configs}
            for _ in range(args.rounds):
                for key, batch in configs:
                    samples[key, batch].append(images_per_second(runtimes[key], images[:batch], min_seconds=args.seconds))
            for key in runtimes:
                rates = {batch: float(np.median(samples[k, batch])) for k, batch in configs if k == key}
                for batch, rate in rates.items():
                    figures[f"{key}_b{batch}_img_s"] = rate
                figures[f"{key}_img_s"] = max(rates.values())
                rows.append(
                    [key, *(f"{rates[b]:.1f}" if b in rates else "-" for b in args.batches), f"{max(rates.values()):.1f}",
                     f"{figures[f'{key}_auc']:.4f}"]
                )  # fmt: skip

    figures["reduced_auc_delta"] = figures["onnx_fp32_auc"] - figures["reduced_auc"]
    figures["reduced_approved"] = reduced_info.approved
    figures["reduced_float_convs"] = reduced_info.float_convs
    figures["reduced_valid_auc_deltas"] = reduced_info.valid_auc_deltas
    figures["preprocess_img_s"] = preprocess_img_s
    print(f"model {name} at {size}px, {len(images)} test images from {args.dataset}\n")
    print_table(["runtime", *(f"b{b} img/s" for b in args.batches), "best img/s", "test AUC"], rows)
    naive = figures["naive_img_s"]
    print(
        f"\nratios (best batch of each, medians of the rounds): compiled/naive {figures['compiled_img_s'] / naive:.1f}x, "
        f"onnx_fp32/naive {figures['onnx_fp32_img_s'] / naive:.1f}x, "
        f"reduced/naive {figures['reduced_img_s'] / naive:.1f}x, "
        f"reduced/onnx_fp32 {figures['reduced_img_s'] / figures['onnx_fp32_img_s']:.2f}x"
    )
    print(
        f"int8 AUC delta {figures['reduced_auc_delta']:+.4f} with {reduced_info.float_convs} leading convolutions in "
        f"float (validation AUC lost per choice: {reduced_info.valid_auc_deltas}) "
        f"({'approved' if reduced_info.approved else 'not approved'}: limit {quantize.MAX_AUC_LOSS}); "
        f"preprocessing {preprocess_img_s:.0f} img/s on one thread"
    )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
