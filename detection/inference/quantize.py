"""Reduced precision for CPU workers: int8 static quantisation of the ONNX export, calibrated on real images.

The int8 model is used only when its ROC AUC on a held-out labelled set is within `MAX_AUC_LOSS` of the
fp32 model's; the decision and both AUCs are stored beside the export.
"""
import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import export

logger = logging.getLogger(__name__)

MAX_AUC_LOSS = 0.005
CALIBRATION_IMAGES = 128


@dataclass
class ReducedInfo:
    onnx_path: str
    fp32_auc: float
    reduced_auc: float
    auc_delta: float
    approved: bool
    max_probability_diff: float
    calibration_images: int
    test_images: int


def reduced_paths(keras_sha256):
    base = export.export_dir() / f"{keras_sha256}-int8"
    return base.with_suffix(".onnx"), base.with_suffix(".json")


def existing_reduced(keras_sha256):
    if not keras_sha256:
        return None
    onnx_path, info_path = reduced_paths(keras_sha256)
    if not (onnx_path.exists() and info_path.exists()):
        return None
    return ReducedInfo(**json.loads(info_path.read_text()))


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over an array of preprocessed images."""

    def __init__(self, input_name, images, batch=8):
        self.batches = iter([{input_name: images[i : i + batch]} for i in range(0, len(images), batch)])

    def get_next(self):
        return next(self.batches, None)


def quantize_int8(fp32_info, calibration, test_images, test_labels):
    """Quantise an fp32 export to int8 (QDQ, per-channel weights) and judge it on a labelled test set.

    `calibration` and `test_images`: float32 arrays (N, H, W, 3) in [0, 255] made by the serving
    preprocessing; `test_labels`: 1 for fake, 0 for real. Returns ReducedInfo (approved or not).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from sklearn.metrics import roc_auc_score

    onnx_path, info_path = reduced_paths(fp32_info.keras_sha256)
    fp32 = export.OnnxModel(fp32_info.onnx_path)
    calibration = np.asarray(calibration[:CALIBRATION_IMAGES], dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(fp32_info.onnx_path, str(prepared), skip_symbolic_shape=True)
        partial = Path(tmp) / "int8.onnx"
        quantize_static(
            str(prepared),
            str(partial),
            _Calibration(fp32.input_name, calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # Convolutions carry the compute; the pooled head and the sigmoid stay in float, otherwise
            # the output probability collapses onto a few uint8 levels even when the ranking (AUC) survives.
            op_types_to_quantize=["Conv"],
        )
        reduced = export.OnnxModel(partial)
        fp32_scores, reduced_scores = _predict_all(fp32, test_images), _predict_all(reduced, test_images)
        fp32_auc = float(roc_auc_score(test_labels, fp32_scores))
        reduced_auc = float(roc_auc_score(test_labels, reduced_scores))
        partial.replace(onnx_path)
    delta = fp32_auc - reduced_auc
    info = ReducedInfo(
        onnx_path=str(onnx_path),
        fp32_auc=fp32_auc,
        reduced_auc=reduced_auc,
        auc_delta=delta,
        approved=delta <= MAX_AUC_LOSS,
        max_probability_diff=float(np.max(np.abs(fp32_scores - reduced_scores))),
        calibration_images=len(calibration),
        test_images=len(test_images),
    )
    info_path.write_text(json.dumps(asdict(info)))
    logger.info("int8 export: AUC %.4f vs fp32 %.4f (approved: %s)", reduced_auc, fp32_auc, info.approved)
    return info


def _predict_all(model, images, batch=32):
    return np.concatenate([model.predict(images[i : i + batch]) for i in range(0, len(images), batch)])
