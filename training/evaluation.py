"""Evaluate a model on a dataset: metrics per split and per source, robustness, calibration, plots, reports.

The threshold and the temperature are chosen on the validation split and then applied, unchanged, to the
test split: test numbers are never used to tune anything. Scores are calibrated the way serving calibrates
them (temperature scaling of the logit), so the threshold means the same in the report and in a worker.
"""
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import metrics as M
from .datasets import load_dataset
from .ensembles import fake_column
from .preprocessing import load_image

REPORT_DIR = "report"
METRICS_FILE = "metrics.json"
HTML_FILE = "report.html"
SUMMARY_FILE = "summary.json"

# name -> function(bytes) -> bytes: how an upload might have been re-encoded on its way to us.
def _jpeg(quality):
    def reencode(data):
        with Image.open(io.BytesIO(data)) as image:
            buf = io.BytesIO()
            image.convert("RGB").save(buf, format="JPEG", quality=quality)
            return buf.getvalue()

    return reencode


def _half_resolution(data):
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        small = image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        small.save(buf, format="PNG")  # lossless: only the resolution changes
        return buf.getvalue()


PERTURBATIONS = {"jpeg_75": _jpeg(75), "jpeg_50": _jpeg(50), "half_resolution": _half_resolution}


@dataclass
class Report:
    output: Path
    data: dict

    @property
    def html_path(self):
        return self.output / HTML_FILE

    @property
    def json_path(self):
        return self.output / METRICS_FILE

    def headline(self):
        return headline(self.data)


def load_model(path):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras.models.load_model(path, compile=False)


def predict(model, images, batch_size=32):
    """Raw probabilities of 'fake' for float32 images; returns (scores, images per second)."""
    scores = []
    started = time.perf_counter()
    for i in range(0, len(images), batch_size):
        scores.append(fake_column(model(images[i : i + batch_size], training=False)))
    seconds = time.perf_counter() - started
    return (np.concatenate(scores) if scores else np.zeros(0)), (len(images) / seconds if seconds else 0.0)


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def load_split(samples, size, perturb=None):
    """Images of a split through the serving preprocessing, optionally re-encoded first."""
    images = np.zeros((len(samples), size, size, 3), dtype=np.float32)
    for i, sample in enumerate(samples):
        data = _read(sample.path)
        images[i] = load_image(perturb(data) if perturb else data, size)
    return images


def by_source(samples, labels, scores, summary):
    """{"all": summary(labels, scores)} and, where the samples come from several sources, one entry per source."""
    out = {"all": summary(labels, scores)}
    sources = sorted({s.source for s in samples})
    if len(sources) > 1:
        src = np.array([s.source for s in samples])
        for source in sources:
            mask = src == source
            out[source] = summary(labels[mask], scores[mask])
    return out


def _grouped(samples, labels, scores, threshold):
    return by_source(samples, labels, scores, lambda y, s: M.summarise(y, s, threshold))


def operating_point_settings():
    """(target false-positive rate or None, largest uncertain band, largest share of real images sent to review)."""
    from django.conf import settings

    return (
        getattr(settings, "VERITY_TARGET_FALSE_POSITIVE_RATE", None),
        getattr(settings, "VERITY_UNCERTAIN_BAND", 0.15),
        getattr(settings, "VERITY_TARGET_REAL_REVIEW_SHARE", 0.15),
    )


def choose_operating_point(labels, scores):
    """Threshold and uncertain band on validation scores: the target false-positive rate when one is set
    (else the balanced-accuracy optimum), then the widest band that keeps real images' review share bounded."""
    target_fpr, max_band, max_review = operating_point_settings()
    if target_fpr:
        threshold, rule = M.threshold_for_false_positive_rate(labels, scores, target_fpr), f"false-positive rate <= {target_fpr:g}"
    else:
        threshold, rule = M.best_threshold(labels, scores), "best balanced accuracy"
    band = M.choose_uncertain_band(labels, scores, threshold, max_band, max_review)
    return threshold, band, {"rule": rule, "target_false_positive_rate": target_fpr, "max_uncertain_band": max_band,
                             "max_real_review_share": max_review}


def evaluate(model_path, dataset_root, output, history=None, robustness=True, plots=True, extra=None, log=print):
    """Evaluate the .keras file at `model_path` on the dataset at `dataset_root`; write a report to `output`."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model = load_model(model_path)
    size = int(model.input_shape[1])
    dataset = load_dataset(dataset_root)
    data = {"model": str(model_path), "dataset": dataset.summary(), "input_size": size, **(extra or {})}

    valid = dataset.split("valid")
    y_valid = np.array([s.label for s in valid])
    raw_valid, _ = predict(model, load_split(valid, size))
    temperature = M.fit_temperature(y_valid, raw_valid)
    cal_valid = M.apply_temperature(raw_valid, temperature)
    threshold, band, rule = choose_operating_point(y_valid, cal_valid)
    data["temperature"] = temperature
    data["threshold"] = threshold
    data["uncertain_band"] = band
    data["operating_point"] = {**rule, "valid": M.review_shares(y_valid, cal_valid, threshold, band)}
    data["valid"] = _grouped(valid, y_valid, cal_valid, threshold)
    log(f"valid: AUC {data['valid']['all']['roc_auc']:.4f}, threshold {threshold:.3f}, temperature {temperature:.3f}")

    test = dataset.split("test")
    y_test = np.array([s.label for s in test])
    raw_test, images_per_second = predict(model, load_split(test, size))
    cal_test = M.apply_temperature(raw_test, temperature)
    data["inference_images_per_second"] = images_per_second
    data["test"] = _grouped(test, y_test, cal_test, threshold)
    data["operating_point"]["test"] = M.review_shares(y_test, cal_test, threshold, band)
    op = data["operating_point"]["test"]
    log(f"operating point ({rule['rule']}): threshold {threshold:.3f}, band {band:.2f}; test: "
        f"{op['false_positive_rate']:.1%} of real called fake, {op['true_positive_rate']:.1%} of fakes caught, "
        f"{op['review_share']:.1%} of images to review")
    data["calibration"] = {
        "temperature": temperature,
        "valid_ece_before": M.expected_calibration_error(y_valid, raw_valid),
        "valid_ece_after": M.expected_calibration_error(y_valid, cal_valid),
        "test_ece_before": M.expected_calibration_error(y_test, raw_test),
        "test_ece_after": M.expected_calibration_error(y_test, cal_test),
        "reliability_before": M.reliability_bins(y_test, raw_test),
        "reliability_after": M.reliability_bins(y_test, cal_test),
    }
    log(f"test: AUC {data['test']['all']['roc_auc']:.4f}; {images_per_second:.1f} images/s")

    perturbed_scores = {}
    if robustness:
        data["robustness"] = {}
        for name, perturb in PERTURBATIONS.items():
            raw, _ = predict(model, load_split(test, size, perturb))
            cal = M.apply_temperature(raw, temperature)
            perturbed_scores[name] = cal
            grouped = _grouped(test, y_test, cal, threshold)
            for key, values in grouped.items():
                clean = data["test"][key]
                values["auc_drop"] = _drop(clean["roc_auc"], values["roc_auc"])
                values["accuracy_drop"] = clean["at_threshold"]["accuracy"] - values["at_threshold"]["accuracy"]
            data["robustness"][name] = grouped
            log(f"{name}: AUC {grouped['all']['roc_auc']:.4f} (drop {grouped['all']['auc_drop']:+.4f})")

    if history is not None:
        data["history"] = history
    data["plots"] = []
    if plots:
        from . import plots as P

        data["plots"] = P.write_all(output, data, y_test, cal_test, raw_test, test, perturbed_scores)
    (output / METRICS_FILE).write_text(json.dumps(data, indent=2, default=_json_default))
    (output / HTML_FILE).write_text(render_html(data))
    return Report(output, data)


def _drop(clean, value):
    if clean is None or value is None:
        return None
    return clean - value


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value))


def evaluate_run(run_dir, dataset_root=None, log=print, **kwargs):
    """Evaluate a training run folder (model.keras, config.json, history.json) into run_dir/report/."""
    from .trainer import CONFIG_FILE, HISTORY_FILE, MODEL_FILE

    run_dir = Path(run_dir)
    config = json.loads((run_dir / CONFIG_FILE).read_text())
    history = json.loads((run_dir / HISTORY_FILE).read_text()) if (run_dir / HISTORY_FILE).exists() else None
    extra = {
        "run": str(run_dir),
        "architecture": config["config"]["architecture"],
        "params": config["params"],
        "training_config": config["config"],
        "dataset_fingerprint": config["dataset"]["fingerprint"],
    }
    if history:
        extra["training_seconds"] = history["seconds"]
        extra["train_images_per_second"] = history["train_images_per_second"]
        extra["epochs_trained"] = len(history["epochs"])
    report = evaluate(
        run_dir / MODEL_FILE, dataset_root or config["config"]["dataset"], run_dir / REPORT_DIR,
        history=history, extra=extra, log=log, **kwargs,
    )
    (run_dir / SUMMARY_FILE).write_text(json.dumps(report.headline(), indent=2, default=_json_default))
    return report


def headline(data):
    """The figures a comparison table and a ModelVersion keep: per split, per source, robustness, calibration."""

    def brief(m):
        return {
            "roc_auc": m["roc_auc"],
            "average_precision": m["average_precision"],
            "eer": m["eer"],
            "accuracy": m["at_threshold"]["accuracy"],
            "balanced_accuracy": m["at_threshold"]["balanced_accuracy"],
            "f1": m["at_threshold"]["f1"],
            "mcc": m["at_threshold"]["mcc"],
            "accuracy_at_0_5": m["at_0_5"]["accuracy"],
        }

    out = {
        "architecture": data.get("architecture"),
        "input_size": data.get("input_size"),
        "params": data.get("params"),
        "training_seconds": data.get("training_seconds"),
        "train_images_per_second": data.get("train_images_per_second"),
        "epochs_trained": data.get("epochs_trained"),
        "inference_images_per_second": data.get("inference_images_per_second"),
        "threshold": data.get("threshold"),
        "uncertain_band": data.get("uncertain_band"),
        "operating_point": data.get("operating_point"),
        "temperature": data.get("temperature"),
        "valid": {k: brief(v) for k, v in data["valid"].items()},
        "test": {k: brief(v) for k, v in data["test"].items()},
        "calibration": {k: v for k, v in data.get("calibration", {}).items() if not k.startswith("reliability")},
    }
    if "robustness" in data:
        out["robustness"] = {
            name: {k: {"roc_auc": v["roc_auc"], "auc_drop": v["auc_drop"], "accuracy": v["at_threshold"]["accuracy"]} for k, v in groups.items()}
            for name, groups in data["robustness"].items()
        }
    return out


def render_html(data):
    """The standalone HTML report (plots are files beside it)."""
    from django.template.loader import render_to_string

    context = {
        "r": data,
        "h": headline(data),
        "valid_rows": metric_rows(data["valid"]),
        "test_rows": metric_rows(data["test"]),
        "robustness_rows": robustness_rows(data),
    }
    return render_to_string("training/report_file.html", context)


def metric_rows(grouped):
    """Table rows (one per source, 'all' first) for templates, which cannot index dicts by variable."""
    rows = []
    for name, m in grouped.items():
        t, h = m["at_threshold"], m["at_0_5"]
        rows.append({
            "name": name, "n": m["n"], "n_real": m["n_real"], "n_fake": m["n_fake"],
            "roc_auc": m["roc_auc"], "average_precision": m["average_precision"], "eer": m["eer"], "ece": m["ece"],
            "accuracy": t["accuracy"], "precision": t["precision"], "recall": t["recall"],
            "specificity": t["specificity"], "f1": t["f1"], "balanced_accuracy": t["balanced_accuracy"],
            "mcc": t["mcc"], "confusion": t["confusion_matrix"],
            "accuracy_05": h["accuracy"], "f1_05": h["f1"], "mcc_05": h["mcc"], "confusion_05": h["confusion_matrix"],
        })
    return rows


def robustness_rows(data):
    rows = []
    for name, groups in data.get("robustness", {}).items():
        for source, m in groups.items():
            rows.append({
                "perturbation": name, "name": source, "roc_auc": m["roc_auc"], "auc_drop": m["auc_drop"],
                "accuracy": m["at_threshold"]["accuracy"], "accuracy_drop": m["accuracy_drop"],
                "clean_auc": data["test"][source]["roc_auc"],
            })
    return rows
