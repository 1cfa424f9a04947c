"""The PyTorch-to-Keras conversion, checked without torch: a state dict written in PyTorch's layout from
one Keras backbone must reproduce that backbone exactly when assigned to a fresh one."""
import numpy as np
import pytest

from training import lite_weights
from training.architectures import efficientnet_lite_backbone, lite_block_specs


def torch_layout_state_dict(backbone, architecture):
    state = {}

    def conv(layer, key):
        state[key] = np.transpose(backbone.get_layer(layer).get_weights()[0], (3, 2, 0, 1))

    def bn(layer, prefix):
        gamma, beta, mean, var = backbone.get_layer(layer).get_weights()
        state.update({f"{prefix}.weight": gamma, f"{prefix}.bias": beta, f"{prefix}.running_mean": mean, f"{prefix}.running_var": var})

    conv("stem_conv", "_conv_stem.weight")
    bn("stem_bn", "_bn0")
    for i, (_, _, expand, _, _) in enumerate(lite_block_specs(architecture)):
        if expand != 1:
            conv(f"block{i}_expand_conv", f"_blocks.{i}._expand_conv.weight")
            bn(f"block{i}_expand_bn", f"_blocks.{i}._bn0")
        state[f"_blocks.{i}._depthwise_conv.weight"] = np.transpose(backbone.get_layer(f"block{i}_dwconv").get_weights()[0], (2, 3, 0, 1))
        bn(f"block{i}_dw_bn", f"_blocks.{i}._bn1")
        conv(f"block{i}_project_conv", f"_blocks.{i}._project_conv.weight")
        bn(f"block{i}_project_bn", f"_blocks.{i}._bn2")
    conv("head_conv", "_conv_head.weight")
    bn("head_bn", "_bn1")
    state["_fc.weight"] = np.zeros((1000, 1280), np.float32)
    return state


def _randomise(model, seed=0):
    rng = np.random.default_rng(seed)
    for w in model.weights:
        values = rng.normal(0, 0.1, w.shape).astype(np.float32)
        if "variance" in w.path:
            values = np.abs(values) + 0.5
        w.assign(values)


def test_a_torch_layout_state_dict_reproduces_the_backbone():
    source = efficientnet_lite_backbone("EfficientNetLite0", 64)
    _randomise(source)
    target = efficientnet_lite_backbone("EfficientNetLite0", 64)
    lite_weights.assign_state_dict(target, "EfficientNetLite0", torch_layout_state_dict(source, "EfficientNetLite0"))
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(target(x, training=False)), np.asarray(source(x, training=False)), rtol=1e-4, atol=1e-5)


def test_a_state_dict_with_weights_the_model_does_not_take_is_refused():
    backbone = efficientnet_lite_backbone("EfficientNetLite0", 64)
    state = torch_layout_state_dict(backbone, "EfficientNetLite0")
    state["_blocks.99._extra.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match="did not take"):
        lite_weights.assign_state_dict(backbone, "EfficientNetLite0", state)
