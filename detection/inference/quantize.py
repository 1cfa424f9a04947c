"""Reduced precision for CPU workers: int8 static quantisation of the ONNX export, calibrated on real images.

The int8 model is used only when its ROC AUC on a held-out labelled set is within `MAX_AUC_LOSS` of the
fp32 model's; the decision and both AUCs are stored beside the export.

The first convolutions see the raw pixels at full resolution, where int8 error hurts most (measured on the
EfficientNet-Lite0 detectors: all convolutions in int8 lost 0.21-0.26 AUC; keeping the first 2 to 6 of their 49
convolutions in float lost 0.001-0.005, at 1.1-1.4x the fp32 speed). How many leading convolutions stay in float is
chosen on the validation split: the fewest of `FLOAT_LEADING_CONVS` that keep its AUC within the limit. For an
ensemble (one graph, a branch per member) "leading" means the first convolutions on every path from the input, so
each member keeps its own. The activation after each convolution (ReLU6, exported as Clip) is folded into the
convolution's uint8 output range rather than left in float between a DequantizeLinear and a QuantizeLinear: left in
float, those conversions took half of v8's int8 time and int8 ran no faster than fp32 on an AVX2-only CPU (0.97x);
folded, 1.51x there, and the validation split keeps one leading convolution in float instead of two. Activation
ranges are calibrated by percentile, which ignores the rare outliers that MinMax stretches the int8 range for; the
calibration images are fed a batch at a time and the histograms merged, because the calibrator otherwise keeps every
intermediate tensor of every image at once (a four-member ensemble at 256 pixels needed 24 GB for 128 images).
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
CALIBRATION_PERCENTILE = 99.999
FLOAT_LEADING_CONVS = (0, 1, 2, 3, 4, 6, 8)  # candidates, fewest first
DEFAULT_FLOAT_CONVS = 2  # without a labelled validation set
# Removable activations (Clip, Relu) are folded into the preceding convolution's output quantisation.
QUANTIZED_OPS = ("Conv", "Clip", "Relu")


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
    float_convs: int = 0  # leading convolutions kept in float
    valid_auc_deltas: dict = None  # candidate float_convs -> validation AUC lost (the choice is made here)
    quantized_ops: list = None  # op types quantised (None: made before activations were folded, Conv only)


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
    """onnxruntime's CalibrationDataReader protocol over an array of preprocessed images.

    `len()` and `set_range()` (in batches) let quantize_static collect one range at a time ("CalibStridedMinMax":
    despite its name, any calibrator merges its statistics across ranges; the histogram ones re-bin)."""

    def __init__(self, input_name, images, batch=8):
        # Equal batches: the percentile calibrator cannot stack histograms of batches of different sizes.
        batch = max(1, min(batch, len(images)))
        usable = len(images) - len(images) % batch
        self.inputs = [{input_name: images[i : i + batch]} for i in range(0, usable, batch)]
        self.set_range(0, len(self.inputs))

    def __len__(self):
        return len(self.inputs)

    def set_range(self, start_index, end_index):
        self.batches = iter(self.inputs[start_index:end_index])

    def get_next(self):
        return next(self.batches, None)


def conv_depths(graph):
    """{convolution name: its place among the convolutions on the longest path from the graph's input (1 = first)}.

    The leading `n` convolutions of a single network are those of depth <= n; in an ensemble's graph, a branch
    per member, that is each member's first `n`.
    """
    depth, convs = {}, {}  # tensor name -> convolutions on the longest path to it
    for node in graph.node:  # ONNX graphs are topologically sorted
        reached = max((depth.get(name, 0) for name in node.input), default=0)
        if node.op_type == "Conv":
            reached += 1
            convs[node.name] = reached
        for name in node.output:
            depth[name] = reached
    return convs


def quantize_int8(fp32_info, calibration, test_images, test_labels, valid_images=None, valid_labels=None):
    """Quantise an fp32 export to int8 (QDQ, per-channel weights) and judge it on a labelled test set.

    `calibration`, `test_images` and `valid_images`: float32 arrays (N, H, W, 3) in [0, 255] made by the
    serving preprocessing; labels: 1 for fake, 0 for real. With a labelled validation set, the number of
    leading convolutions kept in float is chosen on it; the test set only judges the result. Returns
    ReducedInfo (approved or not).
    """
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from sklearn.metrics import roc_auc_score

    onnx_path, info_path = reduced_paths(fp32_info.keras_sha256)
    fp32 = export.OnnxModel(fp32_info.onnx_path)
    calibration = np.asarray(calibration[:CALIBRATION_IMAGES], dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(fp32_info.onnx_path, str(prepared), skip_symbolic_shape=True)
        depths = conv_depths(onnx.load(str(prepared)).graph)

        def quantized(float_convs):
            path = Path(tmp) / f"int8-{float_convs}.onnx"
            leading = [name for name, depth in depths.items() if depth <= float_convs]
            _quantize(prepared, path, fp32.input_name, calibration, exclude=leading)
            return path

        deltas = {}
        if valid_images is not None and valid_labels is not None:
            valid_fp32_auc = float(roc_auc_score(valid_labels, _predict_all(fp32, valid_images)))
            for float_convs in FLOAT_LEADING_CONVS:
                candidate = export.OnnxModel(quantized(float_convs))
                deltas[float_convs] = valid_fp32_auc - float(roc_auc_score(valid_labels, _predict_all(candidate, valid_images)))
                if deltas[float_convs] <= MAX_AUC_LOSS:
                    break
            within = [k for k, lost in deltas.items() if lost <= MAX_AUC_LOSS]
            float_convs = min(within) if within else min(deltas, key=deltas.get)
        else:
            float_convs = min(DEFAULT_FLOAT_CONVS, max(depths.values(), default=0))
        partial = Path(tmp) / f"int8-{float_convs}.onnx"
        if not partial.exists():  # made while choosing, unless no validation set was given
            quantized(float_convs)
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
        float_convs=float_convs,
        valid_auc_deltas={str(k): v for k, v in deltas.items()} or None,
        quantized_ops=list(QUANTIZED_OPS),
    )
    info_path.write_text(json.dumps(asdict(info)))
    logger.info(
        "int8 export (%d leading convolutions in float): AUC %.4f vs fp32 %.4f (approved: %s)",
        float_convs, reduced_auc, fp32_auc, info.approved,
    )  # fmt: skip
    return info


def _quantize(prepared, output, input_name, calibration, exclude):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(prepared),
        str(output),
        _Calibration(input_name, calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.Percentile,
        # One batch at a time (see _Calibration): memory stays that of one batch's intermediate tensors.
        extra_options={"CalibPercentile": CALIBRATION_PERCENTILE, "CalibStridedMinMax": 1},
        nodes_to_exclude=list(exclude),
        # Convolutions carry the compute; the pooled head and the sigmoid stay in float, otherwise
        # the output probability collapses onto a few uint8 levels even when the ranking (AUC) survives.
        # QUANTIZED_OPS also lists the activations, which the quantiser folds into the convolutions (module docstring).
        op_types_to_quantize=list(QUANTIZED_OPS),
    )


def _predict_all(model, images, batch=32):
    return np.concatenate([model.predict(images[i : i + batch]) for i in range(0, len(images), batch)])
