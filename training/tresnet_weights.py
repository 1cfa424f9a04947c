"""Convert timm's TResNet-M weights (a PyTorch state dict) into the Keras backbone of training/tresnet.py.

A deployment that has timm's ImageNet weights for `tresnet_m` (a `.pth`/`.pt` checkpoint or the
`model.safetensors` of its model repository, in timm's layout or the original TResNet repository's) runs
`python manage.py convert_tresnet_weights --source PATH` once, on a machine with the packages of
training/requirements-convert.txt; it writes a `.weights.h5` file for the backbone under var/weights/,
which `build_model("TResNetM", weights="imagenet")` then loads without torch or timm.
"""
import sys
from pathlib import Path

import numpy as np

from .architectures import tresnet_weights_path
from .tresnet import block_prefix, block_specs, tresnet_m_backbone

DEFAULT_SIZE = 224
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")
_declared_torchvision_ops = None


def import_timm():
    """Import timm, also where torchvision cannot load its C++ operators.

    timm imports torchvision, and PyPI's torchvision wheels for Linux are CUDA builds: next to the CPU
    build of torch their operators do not load, and torchvision's import then stops at registering
    `torchvision::nms`. timm needs none of those operators, so declare the two that torchvision's import
    registers (they stay without kernels: calling them still fails) and import again.
    """
    global _declared_torchvision_ops
    try:
        import timm
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
        import torch

        for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "timm")]:
            del sys.modules[name]
        if _declared_torchvision_ops is None:
            library = torch.library.Library("torchvision", "DEF")  # kept referenced: deleting it undoes it
            for op in ("nms", "qnms"):
                library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            _declared_torchvision_ops = library
        import timm
    return timm


def load_state_dict(path):
    """A TResNet-M state dict as numpy arrays, in timm's layout, from a checkpoint or safetensors file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no weights file at {path}")
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        state = load_file(str(path))
    else:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict_ema", "model", "state_dict"):  # training checkpoints wrap the weights
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
                break
        state = {key: value.detach().float().numpy() for key, value in state.items() if hasattr(value, "numpy")}
    state = {key.removeprefix("module."): np.asarray(value, np.float32) for key, value in state.items()}
    if "body.conv1.conv.weight" not in state:
        state = _from_original_layout(state)
    return state


def _from_original_layout(state):
    """Rename the original TResNet repository's keys (inplace-ABN) to timm's, with timm's own filter."""
    import torch

    from_timm = import_timm().models.tresnet.checkpoint_filter_fn
    converted = from_timm({key: torch.from_numpy(value) for key, value in state.items()}, None)
    if "body.conv1.conv.weight" not in converted:
        raise ValueError("this does not look like a TResNet state dict (no body.conv1 weights)")
    return {key: value.numpy() for key, value in converted.items()}


def _conv(weight):
    return np.transpose(weight, (2, 3, 1, 0))  # (out, in, kh, kw) -> (kh, kw, in, out)


def assign_state_dict(backbone, state):
    """Copy a timm TResNet-M state dict into a Keras backbone built by tresnet_m_backbone."""
    used = set()

    def take(key):
        if key not in state:
            raise ValueError(f"state dict has no {key}: is it TResNet-M's?")
        used.add(key)
        return state[key]

    def conv_bn(layer, key):
        backbone.get_layer(layer + "_conv").set_weights([_conv(take(f"{key}.conv.weight"))])
        backbone.get_layer(layer + "_bn").set_weights([take(f"{key}.bn.{k}") for k in _BN_KEYS])

    def dense_1x1(layer, key):
        backbone.get_layer(layer).set_weights([_conv(take(f"{key}.weight")), take(f"{key}.bias")])

    conv_bn("conv1", "body.conv1")
    for spec in block_specs():
        dst, src = block_prefix(spec), f"body.layer{spec['stage']}.{spec['index']}."
        convs = ("conv1", "conv2") if spec["kind"] == "basic" else ("conv1", "conv2", "conv3")
        for conv in convs:
            conv_bn(dst + conv, src + conv)
        if spec["se"]:
            dense_1x1(dst + "se_fc1", src + "se.fc1")
            dense_1x1(dst + "se_fc2", src + "se.fc2")
        if spec["downsample"]:
            # timm's downsample is Sequential(AvgPool2d, ConvNormAct) at stride 2, Sequential(ConvNormAct) otherwise
            conv_bn(dst + "downsample", src + ("downsample.1" if spec["stride"] == 2 else "downsample.0"))
    unused = {k for k in state if k not in used and not k.startswith("head.") and not k.endswith("num_batches_tracked")}
    if unused:
        raise ValueError(f"state dict has weights the Keras model did not take: {sorted(unused)[:5]}")
    return backbone


def convert(source, output=None):
    """Convert the TResNet-M weights at `source`; returns the path of the written .weights.h5 file."""
    backbone = tresnet_m_backbone(DEFAULT_SIZE)
    assign_state_dict(backbone, load_state_dict(source))
    output = Path(output) if output else tresnet_weights_path()
    output.parent.mkdir(parents=True, exist_ok=True)
    backbone.save_weights(output)
    return output


def timm_reference(state=None):
    """timm's tresnet_m in eval mode, with `state` (timm layout, numpy) loaded when given; downloads nothing."""
    import torch

    model = import_timm().create_model("tresnet_m", pretrained=False)
    if state is not None:
        # The classifier is left out: an ImageNet-21k checkpoint's head has another number of classes.
        tensors = {key: torch.from_numpy(value) for key, value in state.items() if not key.startswith("head.")}
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        if unexpected or any(not key.startswith("head.") for key in missing):
            raise ValueError(f"timm's tresnet_m does not fit this state dict: {(missing + unexpected)[:5]}")
    return model.eval()


def timm_features(model, pixels):
    """timm's pooled features for float32 NHWC pixels in [0, 255] (its preprocessing: x / 255)."""
    import torch

    with torch.no_grad():
        x = torch.from_numpy((pixels / 255.0).transpose(0, 3, 1, 2).copy())
        return model.forward_features(x).mean(dim=(2, 3)).numpy()


def compare_with_timm(source, weights=None, size=DEFAULT_SIZE, batch=2, seed=0):
    """Max absolute difference between Keras and timm pooled features on random input, and the features' scale."""
    backbone = tresnet_m_backbone(size)
    backbone.load_weights(weights or tresnet_weights_path())
    pixels = np.random.default_rng(seed).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    expected = timm_features(timm_reference(load_state_dict(source)), pixels)
    actual = np.asarray(backbone(pixels, training=False))
    return float(np.max(np.abs(actual - expected))), float(np.max(np.abs(expected)))
