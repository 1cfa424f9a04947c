from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from detection import services
from detection.inference import quantize
from training import registry
from training.datasets import DatasetError, load_dataset
from training.preprocessing import load_image


class Command(BaseCommand):
    help = (
        "Make the int8 variant of a version's ONNX export, calibrated and tuned on the dataset's validation split "
        "and approved only if its test-split AUC is within 0.005 of fp32."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="dataset folder ({train,valid,test}/{real,fake} or {real,fake})")
        # Not --version: every Django command already has that option (it prints Django's version).
        parser.add_argument("--model-version", dest="version", help="model version name (default: the active version)")

    def handle(self, *args, dataset, version, **options):
        target = registry.ModelVersion.objects.filter(name=version).first() if version else registry.active_version()
        if target is None:
            raise CommandError(f"no model version named {version}")
        try:
            data = load_dataset(dataset)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        fp32 = services.export_for_serving(target.pk)
        if fp32 is None:
            raise CommandError(f"{target.name} has no ONNX export (refused); see the audit trail")
        valid, test = data.split("valid"), data.split("test")
        valid_images = _pixels(valid, target.input_size)
        # Calibration images are a random subset of the validation split, decoded once with the rest of it.
        calibration = valid_images[np.random.default_rng(0).permutation(len(valid))[: quantize.CALIBRATION_IMAGES]]
        info = quantize.quantize_int8(
            fp32,
            calibration,
            _pixels(test, target.input_size),
            np.array([s.label for s in test]),
            valid_images=valid_images,
            valid_labels=np.array([s.label for s in valid]),
        )
        verdict = "approved" if info.approved else f"NOT used (loses more than {quantize.MAX_AUC_LOSS} AUC)"
        self.stdout.write(
            f"{target.name}\tint8 AUC {info.reduced_auc:.4f}\tfp32 AUC {info.fp32_auc:.4f}\t"
            f"delta {info.auc_delta:+.4f}\t{info.float_convs} leading convolutions in float\t{verdict}"
        )


def _pixels(samples, size):
    return np.stack([load_image(Path(s.path).read_bytes(), size) for s in samples])
