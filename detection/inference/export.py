"""Export a Keras detector for serving: Keras -> SavedModel -> ONNX (tf2onnx), checked for agreement.

Exporting straight from Keras leaves the normalisation constants as dangling graph inputs; going through
a SavedModel freezes them. The export is refused when ONNX Runtime and Keras disagree by more than
`MAX_ABS_DIFF` on a sample batch.
"""
import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from training.ensembles import fake_column

logger = logging.getLogger(__name__)

MAX_ABS_DIFF = 1e-4
OPSET = 17
SAMPLE_BATCH = 8


class ExportRefused(Exception):
    """The exported model does not agree with the Keras model closely enough to serve."""


@dataclass
class ExportInfo:
    onnx_path: str
    keras_sha256: str
    max_abs_diff: float
    opset: int = OPSET


def export_dir():
    return Path(settings.VERITY_MODELS_DIR) / "exports"


def export_paths(keras_sha256):
    base = export_dir() / keras_sha256
    return base.with_suffix(".onnx"), base.with_suffix(".json")


def existing_export(keras_sha256):
    """The ExportInfo of an earlier successful export of this .keras file, or None."""
    if not keras_sha256:
        return None
    onnx_path, info_path = export_paths(keras_sha256)
    if not (onnx_path.exists() and info_path.exists()):
        return None
    return ExportInfo(**json.loads(info_path.read_text()))


def export_onnx(keras_path, keras_sha256, sample=None):
    """Export `keras_path` to ONNX next to the other exports; returns ExportInfo or raises ExportRefused.

    `sample`: a float32 batch (N, H, W, 3) in [0, 255] to compare on; random pixels when None.
    """
    import keras

    model = keras.models.load_model(keras_path, compile=False)
    size = model.input_shape[1]
    if sample is None:
        sample = np.random.default_rng(0).uniform(0, 255, (SAMPLE_BATCH, size, size, 3)).astype(np.float32)
    onnx_path, info_path = export_paths(keras_sha256)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        saved_model = Path(tmp) / "saved_model"
        model.export(str(saved_model), format="tf_saved_model", verbose=False)
        partial = Path(tmp) / "model.onnx"
        result = subprocess.run(
            [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved_model), "--output", str(partial),
             "--opset", str(OPSET)],
            capture_output=True, text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise ExportRefused(f"tf2onnx failed: {result.stderr.strip()[-800:]}")
        expected = np.asarray(model.predict_on_batch(sample)).reshape(-1)  # every output column (ensembles)
        got = OnnxModel(partial).run(sample).reshape(-1)
        diff = float(np.max(np.abs(expected - got)))
        if not diff <= MAX_ABS_DIFF:
            raise ExportRefused(f"ONNX and Keras disagree by {diff:.2e} (limit {MAX_ABS_DIFF:.0e}); not exported")
        partial.replace(onnx_path)
    info = ExportInfo(onnx_path=str(onnx_path), keras_sha256=keras_sha256, max_abs_diff=diff)
    info_path.write_text(json.dumps(asdict(info)))
    logger.info("exported %s to %s (max abs diff %.2e)", keras_path, onnx_path, diff)
    return info


def usable_cores():
    """The CPU cores this process may run on (its affinity: taskset, a container's cpuset)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class OnnxModel:
    """An ONNX Runtime session taking NHWC float32 batches, returning probabilities."""

    def __init__(self, path, providers=None, threads=None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime sizes its pool by the machine's cores, not the ones this process may run on: a worker
        # pinned to one core of two ran two threads at 23 img/s against 37 with one (bench/e2e.py --pin).
        options.intra_op_num_threads = threads or usable_cores()
        self.session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, batch):
        """The model's raw output: (n, 1), or (n, 1 + members) for an ensemble."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return np.asarray(self.session.run(None, {self.input_name: batch})[0])

    def predict(self, batch):
        """The probability of 'fake' per image (an ensemble's combined column)."""
        return fake_column(self.run(batch))
