"""Grad-CAM: which regions of the image pushed the detector's score towards "fake".

Works for any Keras functional model whose graph contains a convolution: the target is the last layer of the
outer graph with a 4D output at or after the first convolution. That is the last convolutional block's
activation for a flat EfficientNet, and the backbone's output when the backbone is a nested Model (its inner
tensors are not reachable from the outer graph, and its output is its last convolutional block).
"""
import numpy as np

NOT_AVAILABLE = "heatmap not available for this model"
CAPTION = (
    "Warm colours mark the regions that pushed the detector towards 'fake'. "
    "It shows where the model looked, not proof of where an edit is."
)


class HeatmapUnavailable(Exception):
    """The model has no convolutional feature map to explain."""


def _is_conv(layer):
    import keras

    conv_types = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    if isinstance(layer, conv_types):
        return True
    return isinstance(layer, keras.Model) and any(_is_conv(inner) for inner in layer.layers)


def _outer_outputs(model):
    """{layer: its output tensor in `model`'s own graph}, for layers called exactly once with one output.

    `layer.output` will not do: for a nested Model it is the output of the inner graph, unconnected to ours.
    """
    nodes = {}
    for depth_nodes in model._nodes_by_depth.values():
        for node in depth_nodes:
            nodes.setdefault(id(node.operation), []).append(node)
    outputs = {}
    for layer in model.layers:
        found = nodes.get(id(layer), [])
        if len(found) == 1 and len(found[0].output_tensors) == 1:
            outputs[layer.name] = found[0].output_tensors[0]
    return outputs


def explainer(model):
    """(function x -> (feature map, model output), name of the explained layer), or raise HeatmapUnavailable.

    The explained layer is the last one with a 4D output at or after the first convolution. When the last
    convolutions sit inside a nested Model (a keras.applications backbone, often ending in pooling), the
    outer graph is run with that Model swapped for one that also returns its inner feature map.
    """
    import keras

    outputs = _outer_outputs(model)
    seen_conv = False
    target = None
    for layer in model.layers:
        if isinstance(layer, keras.Model) and _is_conv(layer):
            target, seen_conv = ("nested", layer, None), True
            continue
        seen_conv = seen_conv or _is_conv(layer)
        tensor = outputs.get(layer.name)
        if seen_conv and tensor is not None and len(tensor.shape) == 4:
            target = ("direct", layer, tensor)
    if target is None:
        raise HeatmapUnavailable(f"{NOT_AVAILABLE}: it has no convolutional layer")

    kind, layer, tensor = target
    if kind == "direct":
        split = keras.Model(model.inputs, [tensor, model.outputs[0]])
        return (lambda x: split(x, training=False)), layer.name

    inner, inner_name = explainer(layer)

    def run(x):
        captured = {}

        def operation(op):
            if op is not layer:
                return op

            def call(*args, **kwargs):
                captured["features"], output = inner(args[0])
                return output

            return call

        # Keras's own graph walk (what Functional.call does), with the backbone replaced by `call`.
        output = model._run_through_graph(model._standardize_inputs(x), operation_fn=operation)
        return captured["features"], keras.tree.flatten(output)[0]

    return run, f"{layer.name}/{inner_name}"


def find_target_layer(model):
    """The name of the layer Grad-CAM explains ("backbone/top_activation" inside a nested model)."""
    return explainer(model)[1]


def grad_cam(model, pixels):
    """(map, layer name): a (h, w) float32 map in [0, 1] for one preprocessed image (float32 RGB 0..255 of the
    model's input size). The gradient is taken of the log-odds of "fake", which does not vanish when the
    sigmoid saturates.
    """
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise HeatmapUnavailable(f"{NOT_AVAILABLE}: Grad-CAM needs the TensorFlow backend")
    run, layer_name = explainer(model)
    batch = tf.convert_to_tensor(np.asarray(pixels, dtype=np.float32)[None])
    with tf.GradientTape() as tape:
        features, probability = run(batch)
        p = tf.clip_by_value(tf.reshape(probability, [-1])[0], 1e-6, 1 - 1e-6)
        log_odds = tf.math.log(p / (1 - p))
    gradients = tape.gradient(log_odds, features)
    if gradients is None:
        raise HeatmapUnavailable(f"{NOT_AVAILABLE}: the score does not depend on layer {layer_name}")
    weights = tf.reduce_mean(gradients, axis=(1, 2))  # one weight per channel
    cam = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))[0].numpy()
    peak = float(cam.max())
    return (cam / peak if peak > 0 else cam).astype(np.float32), layer_name


def colourise(cam, size):
    """An RGBA image of `size` (w, h): a blue-to-red colour map whose transparency follows the map's value."""
    import cv2

    resized = cv2.resize(cam, size, interpolation=cv2.INTER_CUBIC).clip(0, 1)
    rgb = cv2.applyColorMap((resized * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    alpha = (np.sqrt(resized) * 255).astype(np.uint8)  # cold regions fade out instead of tinting the image blue
    return np.dstack([rgb, alpha])


def compute(detector, data, working, submission_id):
    """Signal: the Grad-CAM overlay for a submission, stored as a PNG the size of the working image."""
    from training.preprocessing import load_image

    from .imaging import save_derivative

    try:
        cam, layer_name = grad_cam(detector.model, load_image(data, detector.input_size))
    except HeatmapUnavailable as exc:
        return {"status": "not_applicable", "message": str(exc)}
    overlay = colourise(cam, working.image.size)
    hot = float((cam >= 0.5).mean())
    return {
        "layer": layer_name,
        "hot_fraction": round(hot, 4),
        "caption": CAPTION,
        "_heatmap_image": save_derivative(submission_id, "heatmap", overlay),
    }
