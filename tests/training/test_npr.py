"""NPR: the up-sampling residual it reads, and the detector built on it (trains, saves, loads, exports to ONNX)."""
import numpy as np
import pytest

from training import architectures, npr
from training.architectures import WeightsUnavailable, build_model


def residual_of(backbone, pixels):
    import keras

    probe = keras.Model(backbone.input, backbone.get_layer("npr").output)
    return np.asarray(probe(pixels, training=False))


@pytest.fixture(scope="module")
def backbone():
    return npr.npr_backbone(64)


def test_the_residual_is_zero_on_an_image_made_of_constant_2x2_blocks(backbone):
    blocks = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    upsampled = np.repeat(np.repeat(blocks, 2, axis=1), 2, axis=2)  # what a nearest-neighbour 2x generator makes
    assert np.max(np.abs(residual_of(backbone, upsampled))) < 1e-6


def test_the_residual_of_other_images_is_each_pixel_minus_its_blocks_top_left_pixel(backbone):
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    residual = residual_of(backbone, pixels)
    top_left = np.repeat(np.repeat(pixels[:, ::2, ::2], 2, axis=1), 2, axis=2)
    # PyTorch's nearest down-sampling by 0.5 keeps the top-left pixel; the paper normalises with ImageNet std first.
    expected = (pixels - top_left) / 255.0 / np.array(npr.IMAGENET_STD, np.float32)
    assert np.max(np.abs(residual)) > 1.0
    np.testing.assert_allclose(residual, expected, atol=1e-5)


def test_npr_has_no_pretrained_weights():
    with pytest.raises(WeightsUnavailable, match="from scratch"):
        build_model("NPR", 64, weights="imagenet")


@pytest.fixture
def trained_npr(tmp_path):
    """An NPR detector at 64 px after one training step, saved as .keras."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_model("NPR", 64, weights=None)
    # Eagerly: tracing the training graph costs more than the step on this CPU; the ONNX export traces the model.
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", run_eagerly=True)
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype(np.float32)
    y = np.array([[0.0], [1.0], [0.0], [1.0]], np.float32)
    before = np.asarray(model(x, training=False))
    assert np.isfinite(float(model.train_on_batch(x, y)))
    assert not np.allclose(np.asarray(model(x, training=False)), before)
    path = tmp_path / "npr.keras"
    model.save(path)
    return model, path, x


def test_an_npr_detector_trains_a_step_saves_and_loads_without_custom_objects(trained_npr):
    import keras

    model, path, x = trained_npr
    assert architectures.default_input_size("NPR") == 256
    assert model.get_layer(architectures.BACKBONE).output.shape == (None, 512)
    # The paper's network: the stem, layer1 and layer2 of a ResNet-50 (about 1.44M parameters) plus the head.
    assert 1.4e6 < architectures.count_params(model) < 1.5e6
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


def test_an_npr_detector_exports_to_onnx_that_agrees_with_keras(trained_npr, settings, tmp_path):
    from detection.inference import export

    settings.VERITY_MODELS_DIR = tmp_path / "models"
    model, path, _ = trained_npr
    info = export.export_onnx(path, "npr-test")
    batch = np.random.default_rng(3).uniform(0, 255, (3, 64, 64, 3)).astype(np.float32)
    got = export.OnnxModel(info.onnx_path).predict(batch)
    assert np.max(np.abs(got - np.asarray(model(batch)).reshape(-1))) < 1e-4
