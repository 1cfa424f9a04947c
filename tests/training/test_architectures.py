import numpy as np
import pytest

from training import architectures
from training.architectures import WeightsUnavailable, build_model


@pytest.mark.parametrize("architecture", ["SmallCNN", "EfficientNetLite0", "MobileNetV3Small"])
def test_it_builds_a_sigmoid_detector_on_raw_pixels(architecture):
    model = build_model(architecture, 64, weights="none")
    out = np.asarray(model(np.full((2, 64, 64, 3), 200.0, np.float32)))
    assert out.shape == (2, 1) and np.all((out >= 0) & (out <= 1))


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "MobileNetV3Large", "ResNet50", "InceptionResNetV2"])
def test_every_keras_application_builds(architecture):
    size = 75 if architecture == "InceptionResNetV2" else 64
    model = build_model(architecture, size, weights=None)
    assert model.output_shape == (None, 1)
    assert model.get_layer(architectures.BACKBONE) is not None


def test_a_saved_lite_model_loads_without_custom_objects(tmp_path):
    import keras

    model = build_model("EfficientNetLite0", 64, weights=None)
    model.save(tmp_path / "lite.keras")
    loaded = keras.models.load_model(tmp_path / "lite.keras", compile=False)
    x = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5)


def test_imagenet_weights_that_cannot_download_fail_with_the_local_file_alternative(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        if kwargs.get("weights") == "imagenet":
            raise OSError("network unreachable")
        return keras.applications.MobileNetV3Small(*args, **kwargs)

    monkeypatch.setattr(keras.applications, "MobileNetV3Small", offline)
    with pytest.raises(WeightsUnavailable, match="--weights PATH"):
        build_model("MobileNetV3Small", 64, weights="imagenet")


def test_missing_lite_imagenet_weights_name_the_conversion_command(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    with pytest.raises(WeightsUnavailable, match="convert_lite_weights"):
        build_model("EfficientNetLite0", 64, weights="imagenet")


def test_backbone_weights_load_from_a_local_file(tmp_path):
    source = build_model("EfficientNetLite0", 64, weights=None)
    path = tmp_path / "backbone.weights.h5"
    source.get_layer(architectures.BACKBONE).save_weights(path)
    target = build_model("EfficientNetLite0", 64, weights=str(path))
    for a, b in zip(source.get_layer(architectures.BACKBONE).weights, target.get_layer(architectures.BACKBONE).weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_an_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("AlexNet", 64)


def test_lite_variants_scale_depth_but_not_the_first_and_last_stages():
    # Stage repeats are ceil(depth x repeats), except the first and last stage (efficientnet_lite_builder).
    assert len(architectures.lite_block_specs("EfficientNetLite0")) == 16
    assert len(architectures.lite_block_specs("EfficientNetLite1")) == 1 + 3 + 3 + 4 + 4 + 5 + 1
    lite2 = architectures.lite_block_specs("EfficientNetLite2")
    assert len(lite2) == 21 and lite2[0][3] == 32 and lite2[-1][4] == 352
