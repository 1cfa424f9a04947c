"""TResNet-M (Ridnik et al., "TResNet: High Performance GPU-Dedicated Architecture", WACV 2021) in Keras.

The graph follows timm's `tresnet_m` at inference, so that timm's weights convert one to one (see
training/tresnet_weights.py):

- a SpaceToDepth stem (4x4 blocks of pixels become 48 channels), then a 3x3 convolution;
- four stages of [3, 4, 11, 3] blocks: basic blocks in the first two, bottlenecks in the last two,
  squeeze-excitation in all but the last;
- anti-aliased downsampling: a stride-2 block convolves at stride 1 and then blurs with a fixed binomial
  3x3 filter at stride 2 (BlurPool, reflect padding); shortcuts average-pool before their 1x1 convolution;
- inplace-ABN as BatchNorm followed by LeakyReLU, as timm's graph has it: slope 0.01 in the stem, 0.001
  inside the blocks;
- global average pooling to 2048 features.

timm's pretrained configuration has mean 0 and std 1 on [0, 1] input, so the only normalisation is a
division by 255. Everything is a standard Keras layer: a saved model loads without custom objects.
"""
import numpy as np

from .architectures import BACKBONE

LAYERS = (3, 4, 11, 3)
STEM_SLOPE = 0.01
BLOCK_SLOPE = 1e-3
BN = {"momentum": 0.9, "epsilon": 1e-5}  # PyTorch's BatchNorm2d defaults (momentum 0.1 there)
BLUR = np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0
NUM_FEATURES = 2048


def block_specs():
    """The blocks of TResNet-M, in timm's order: dicts with stage, index, kind, inplanes, planes, stride,
    se (squeeze-excitation), se_channels and downsample (whether the shortcut has a 1x1 convolution)."""
    specs = []
    inplanes = 64
    for stage, (blocks, kind, planes, stride, se) in enumerate(
        [
            (LAYERS[0], "basic", 64, 1, True),
            (LAYERS[1], "basic", 128, 2, True),
            (LAYERS[2], "bottleneck", 256, 2, True),
            (LAYERS[3], "bottleneck", 512, 2, False),
        ],
        start=1,
    ):
        expansion = 1 if kind == "basic" else 4
        downsample = stride != 1 or inplanes != planes * expansion
        for index in range(blocks):
            specs.append(
                {
                    "stage": stage,
                    "index": index,
                    "kind": kind,
                    "inplanes": inplanes,
                    "planes": planes,
                    "out": planes * expansion,
                    "stride": stride if index == 0 else 1,
                    "se": se,
                    # timm: max(planes // 4, 64) for basic blocks, max(planes * 4 // 8, 64) for bottlenecks
                    "se_channels": max(planes // 4, 64) if kind == "basic" else max(planes * expansion // 8, 64),
                    "downsample": downsample and index == 0,
                }
            )
            inplanes = planes * expansion
    return specs


def block_prefix(spec):
    return f"layer{spec['stage']}_{spec['index']}_"


def _reflect_pad(x, name):
    """Pad one pixel on every side by reflection (PyTorch's 'reflect' mode) with crops and concatenations."""
    from keras import layers

    height, width = x.shape[1], x.shape[2]
    top = layers.Cropping2D(((1, height - 2), (0, 0)), name=name + "_top")(x)
    bottom = layers.Cropping2D(((height - 2, 1), (0, 0)), name=name + "_bottom")(x)
    x = layers.Concatenate(axis=1, name=name + "_rows")([top, x, bottom])
    left = layers.Cropping2D(((0, 0), (1, width - 2)), name=name + "_left")(x)
    right = layers.Cropping2D(((0, 0), (width - 2, 1)), name=name + "_right")(x)
    return layers.Concatenate(axis=2, name=name + "_cols")([left, x, right])


def blur_pool(x, name):
    """Anti-aliased stride-2 downsampling: reflect padding, then a fixed binomial depthwise filter."""
    from keras import layers

    channels = x.shape[-1]
    x = _reflect_pad(x, name + "_pad")
    blur = layers.DepthwiseConv2D(3, strides=2, padding="valid", use_bias=False, trainable=False, name=name)
    x = blur(x)
    blur.set_weights([np.repeat(BLUR[:, :, None, None], channels, axis=2).astype(np.float32)])
    return x


def _conv_bn(x, filters, kernel, name, slope=None, stride=1):
    """timm's ConvNormAct: convolution, BatchNorm, LeakyReLU (unless slope is None), then BlurPool at stride 2."""
    from keras import layers

    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=name + "_conv")(x)
    x = layers.BatchNormalization(name=name + "_bn", **BN)(x)
    if slope is not None:
        x = layers.LeakyReLU(negative_slope=slope, name=name + "_act")(x)
    if stride == 2:
        x = blur_pool(x, name + "_aa")
    return x


def _squeeze_excite(x, channels, name):
    from keras import layers

    gate = layers.GlobalAveragePooling2D(keepdims=True, name=name + "_pool")(x)
    gate = layers.Conv2D(channels, 1, name=name + "_fc1")(gate)
    gate = layers.ReLU(name=name + "_relu")(gate)
    gate = layers.Conv2D(x.shape[-1], 1, name=name + "_fc2")(gate)
    gate = layers.Activation("sigmoid", name=name + "_gate")(gate)
    return layers.Multiply(name=name + "_scale")([x, gate])


def _block(x, spec):
    from keras import layers

    prefix = block_prefix(spec)
    shortcut = x
    if spec["downsample"]:
        if spec["stride"] == 2:
            # AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False): 'same' padding averages valid pixels only.
            shortcut = layers.AveragePooling2D(2, 2, padding="same", name=prefix + "downsample_pool")(shortcut)
        shortcut = _conv_bn(shortcut, spec["out"], 1, prefix + "downsample")
    planes = spec["planes"]
    if spec["kind"] == "basic":
        y = _conv_bn(x, planes, 3, prefix + "conv1", slope=BLOCK_SLOPE, stride=spec["stride"])
        y = _conv_bn(y, planes, 3, prefix + "conv2")
        if spec["se"]:
            y = _squeeze_excite(y, spec["se_channels"], prefix + "se")
    else:
        y = _conv_bn(x, planes, 1, prefix + "conv1", slope=BLOCK_SLOPE)
        y = _conv_bn(y, planes, 3, prefix + "conv2", slope=BLOCK_SLOPE, stride=spec["stride"])
        if spec["se"]:
            y = _squeeze_excite(y, spec["se_channels"], prefix + "se")
        y = _conv_bn(y, spec["out"], 1, prefix + "conv3")
    y = layers.Add(name=prefix + "add")([y, shortcut])
    return layers.ReLU(name=prefix + "relu")(y)


def space_to_depth(x, block=4, name="s2d"):
    """timm's SpaceToDepth in NHWC: each block x block patch becomes block * block * C channels, ordered
    (row in block, column in block, channel) as timm's view/permute orders them."""
    from keras import layers

    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    x = layers.Reshape((height // block, block, width // block, block, channels), name=name + "_split")(x)
    x = layers.Permute((1, 3, 2, 4, 5), name=name + "_permute")(x)
    return layers.Reshape((height // block, width // block, block * block * channels), name=name + "_merge")(x)


def tresnet_m_backbone(input_size=224):
    """TResNet-M feature extractor as a functional model named `backbone`: [0, 255] RGB in, 2048 pooled features out."""
    import keras
    from keras import layers

    if input_size is not None and (input_size % 4 or input_size < 32):
        raise ValueError(f"TResNet-M needs an input size that is a multiple of 4 and at least 32, not {input_size}")
    inputs = keras.Input((input_size, input_size, 3))
    x = layers.Rescaling(1 / 255.0, name="normalise")(inputs)  # timm: mean 0, std 1 on [0, 1]
    x = space_to_depth(x)
    x = _conv_bn(x, 64, 3, "conv1", slope=STEM_SLOPE)
    for spec in block_specs():
        x = _block(x, spec)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name=BACKBONE)
