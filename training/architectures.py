"""Detector architectures: Keras applications with a one-unit sigmoid head, and the papers' small CNN.

Every model takes float32 RGB in [0, 255] (see training.preprocessing) and outputs the probability
that the image is fake.
"""
DEFAULT_ARCHITECTURE = "EfficientNetV2B1"
DEFAULT_INPUT_SIZE = 240


def build_model(architecture=DEFAULT_ARCHITECTURE, input_size=DEFAULT_INPUT_SIZE, weights=None, dropout=0.2):
    """Build an uncompiled binary classifier. `weights`: None, "imagenet" or a local weights file."""
    import keras

    inputs = keras.Input((input_size, input_size, 3), name="image")
    if architecture == "SmallCNN":
        x = keras.layers.Rescaling(1 / 255.0)(inputs)
        for filters in (32, 64, 128):
            x = keras.layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
            x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(512, activation="relu")(x)
    elif architecture == "EfficientNetV2B1":
        backbone = keras.applications.EfficientNetV2B1(
            include_top=False, weights=weights, input_shape=(input_size, input_size, 3), pooling="avg"
        )
        x = backbone(inputs)
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="fake_probability", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=architecture)
