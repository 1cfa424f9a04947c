"""Grad-CAM points at the region that made a conv model say "fake", for flat and nested models alike."""
import numpy as np
import pytest

from detection.forensics.heatmap import HeatmapUnavailable, find_target_layer, grad_cam

SIZE = 32


def red_patch(top, left, size=8):
    """A blue image with one red square: only the square looks "fake" to the redness models."""
    pixels = np.zeros((SIZE, SIZE, 3), dtype=np.float32)
    pixels[..., 2] = 200
    pixels[top : top + size, left : left + size] = (230, 10, 10)
    return pixels


def redness_layers(x, keras):
    x = keras.layers.Rescaling(1 / 255.0)(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="features")(x)
    return keras.layers.Conv2D(1, 1, name="redness")(x)


def flat_model():
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(1, 1, name="redness")(x)
    x = keras.layers.ReLU(name="redness_relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("redness").set_weights([np.array([1.0, -1.0, -1.0]).reshape(1, 1, 3, 1), np.zeros(1)])
    model.layers[-1].set_weights([np.array([[20.0]]), np.array([-2.0])])
    return model


def nested_model(pooling_inside=False):
    """An outer model around a backbone Model, as training.architectures wraps keras.applications backbones
    (which end in pooling="avg", so the outer graph never sees a 4D tensor)."""
    import keras

    backbone_in = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(backbone_in)
    x = keras.layers.Conv2D(1, 1, name="redness")(x)
    x = keras.layers.ReLU(name="top_activation")(x)
    if pooling_inside:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    backbone = keras.Model(backbone_in, x, name="backbone")
    backbone.get_layer("redness").set_weights([np.array([1.0, -1.0, -1.0]).reshape(1, 1, 3, 1), np.zeros(1)])

    inputs = keras.Input((SIZE, SIZE, 3))
    features = backbone(inputs)
    pooled = features if pooling_inside else keras.layers.GlobalAveragePooling2D()(features)
    pooled = keras.layers.Dropout(0.2)(pooled)
    outputs = keras.layers.Dense(1, activation="sigmoid")(pooled)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.array([[20.0]]), np.array([-2.0])])
    return model


def hottest_quadrant(cam):
    half = cam.shape[0] // 2
    quadrants = {
        "top-left": cam[:half, :half], "top-right": cam[:half, half:],
        "bottom-left": cam[half:, :half], "bottom-right": cam[half:, half:],
    }  # fmt: skip
    return max(quadrants, key=lambda q: quadrants[q].mean())


def pooled_backbone_model():
    return nested_model(pooling_inside=True)


@pytest.mark.parametrize("build", [flat_model, nested_model, pooled_backbone_model], ids=["flat", "nested", "pooled-backbone"])
def test_the_heatmap_lights_up_the_red_patch_that_made_the_model_say_fake(build):
    model = build()

    top_left, _ = grad_cam(model, red_patch(2, 2))
    bottom_right, _ = grad_cam(model, red_patch(22, 22))

    assert hottest_quadrant(top_left) == "top-left"
    assert hottest_quadrant(bottom_right) == "bottom-right"
    assert top_left[4, 4] == pytest.approx(1.0, abs=0.05)
    assert top_left[25, 25] < 0.05


def test_the_heatmap_of_a_flat_model_explains_its_last_convolutional_block():
    assert find_target_layer(flat_model()) == "redness_relu"


@pytest.mark.parametrize("build", [nested_model, pooled_backbone_model], ids=["nested", "pooled-backbone"])
def test_the_heatmap_of_a_nested_model_explains_the_last_block_inside_the_backbone(build):
    assert find_target_layer(build()) == "backbone/top_activation"


def test_a_model_without_a_convolution_has_no_heatmap():
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))

    with pytest.raises(HeatmapUnavailable, match="heatmap not available for this model"):
        grad_cam(model, red_patch(2, 2))


@pytest.mark.slow
def test_the_shipped_architecture_gets_a_heatmap_from_inside_its_backbone():
    from training.architectures import build_model

    model = build_model("EfficientNetV2B0", input_size=64, weights=None)

    cam, layer = grad_cam(model, red_patch(2, 2).repeat(2, axis=0).repeat(2, axis=1))

    assert layer.endswith("/top_activation")
    assert cam.shape == (2, 2) and 0.0 <= cam.min() and cam.max() <= 1.0
