"""TResNet-M in Keras, checked against timm's own tresnet_m (random weights, nothing downloaded), and the
detector built on it: it trains, saves and loads like every other architecture."""
import numpy as np
import pytest
from django.core.management import call_command

from training import architectures, tresnet, tresnet_weights
from training.architectures import WeightsUnavailable, build_model


@pytest.fixture(scope="module")
def timm_model():
    """timm's tresnet_m with every BatchNorm given random statistics, so that no branch is an identity."""
    pytest.importorskip("torch")
    try:
        tresnet_weights.import_timm()
    except ImportError:
        pytest.skip("timm is not installed (pip install -r training/requirements-convert.txt)")
    import torch

    torch.manual_seed(0)  # timm's own initialisation of the convolutions
    model = tresnet_weights.timm_reference()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.2, 0.2, generator=generator)
                module.running_mean.uniform_(-0.2, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
    return model


@pytest.fixture
def timm_checkpoint(timm_model, tmp_path):
    import torch

    path = tmp_path / "tresnet_m.pth"
    torch.save({"state_dict": timm_model.state_dict(), "epoch": 3}, path)  # wrapped like a training checkpoint
    return path


def test_converted_timm_weights_give_timm_features(timm_model, timm_checkpoint, tmp_path, capsys):
    weights = tmp_path / "tresnetm.weights.h5"
    call_command("convert_tresnet_weights", source=str(timm_checkpoint), output=str(weights))
    assert "max |keras - timm|" in capsys.readouterr().out

    # 40 px: feature maps of 10, 5 and 3 pixels exercise the odd-sized shortcut pooling and blur padding.
    backbone = build_model("TResNetM", 40, weights=str(weights)).get_layer(architectures.BACKBONE)
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 40, 40, 3)).astype(np.float32)
    expected = tresnet_weights.timm_features(timm_model, pixels)
    actual = np.asarray(backbone(pixels, training=False))
    assert actual.shape == expected.shape == (2, tresnet.NUM_FEATURES)
    scale = float(np.max(np.abs(expected)))
    diff = float(np.max(np.abs(actual - expected)))
    print(f"max |keras - timm| = {diff:.2e}, features up to {scale:.1f}")
    # Random BatchNorm statistics make the features large (tens); float32 through 21 blocks keeps ~1e-6 of them.
    assert scale > 1.0 and diff <= 1e-5 * scale


def test_a_model_safetensors_file_reads_as_the_same_state_dict(timm_model, timm_checkpoint, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"  # how timm's model repositories ship the weights
    save_file({key: value.contiguous() for key, value in timm_model.state_dict().items()}, str(path))
    from_safetensors, from_checkpoint = tresnet_weights.load_state_dict(path), tresnet_weights.load_state_dict(timm_checkpoint)
    assert from_safetensors.keys() == from_checkpoint.keys()
    for key, value in from_checkpoint.items():
        np.testing.assert_array_equal(from_safetensors[key], value)


def test_a_state_dict_with_weights_the_model_does_not_take_is_refused(timm_model):
    state = {key: value.numpy() for key, value in timm_model.state_dict().items()}
    state["body.layer5.0.conv1.conv.weight"] = np.zeros((8, 8, 1, 1), np.float32)
    with pytest.raises(ValueError, match="did not take"):
        tresnet_weights.assign_state_dict(tresnet.tresnet_m_backbone(32), state)


def test_missing_tresnet_imagenet_weights_name_the_conversion_command(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    with pytest.raises(WeightsUnavailable, match="convert_tresnet_weights --source"):
        build_model("TResNetM", 64, weights="imagenet")


def test_a_tresnet_detector_trains_a_step_saves_and_loads_without_custom_objects(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = build_model("TResNetM", 64, weights=None)
    assert architectures.default_input_size("TResNetM") == 224
    assert model.output_shape == (None, 1) and model.get_layer(architectures.BACKBONE).output.shape == (None, 2048)
    blur = model.get_layer(architectures.BACKBONE).get_layer("layer2_0_conv1_aa")
    blur_before = blur.get_weights()[0].copy()
    # Eagerly: tracing the training graph of a 30M-parameter model takes half a minute on this CPU.
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", run_eagerly=True)
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype(np.float32)
    y = np.array([[0.0], [1.0], [0.0], [1.0]], np.float32)
    before = np.asarray(model(x, training=False))
    loss = float(model.train_on_batch(x, y))
    assert np.isfinite(loss)
    assert not np.allclose(np.asarray(model(x, training=False)), before)  # the step changed the model
    np.testing.assert_array_equal(blur.get_weights()[0], blur_before)  # the anti-aliasing filter stays fixed

    model.save(tmp_path / "tresnet.keras")
    loaded = keras.models.load_model(tmp_path / "tresnet.keras", compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
