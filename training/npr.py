"""NPR (Tan et al., CVPR 2024, "Rethinking the Up-Sampling Operations in CNN-based Generative Network for
Generalizable Deepfake Detection") in Keras.

Generators build images by up-sampling, which leaves a correlation between neighbouring pixels. NPR
(neighbouring pixel relationships) exposes it as the residual between an image and its nearest-neighbour
down-then-up-sampled copy: every pixel minus the top-left pixel of its 2x2 block, as the authors'
`x - interpolate(interpolate(x, 0.5, 'nearest'), 2, 'nearest')` computes it. A small ResNet trained from
scratch reads the residual: the authors' network is the start of a ResNet-50 (a 3x3 stride-2 stem,
max-pool, then the bottleneck stages layer1 and layer2, 3 and 4 blocks) with global average pooling,
about 1.44M parameters. The authors normalise with the ImageNet mean and std before the residual and
scale it by 2/3; both are kept, as layers, so the model takes [0, 255] RGB like every detector here.

Everything is a standard Keras layer: the down-sampling is a 1x1 average pool at stride 2 (it keeps the
top-left pixel of each 2x2 block, like PyTorch's nearest interpolation), the up-sampling UpSampling2D.
"""
from .architectures import BACKBONE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NPR_SCALE = 2.0 / 3.0
# (planes, blocks, stride) of the two bottleneck stages; the outputs have 4 * planes channels
STAGES = ((64, 3, 1), (128, 4, 2))
BN = {"momentum": 0.9, "epsilon": 1e-5}


def npr_residual(x, name="npr"):
    """x minus its nearest-neighbour down-then-up-sampled copy (zero wherever 2x2 blocks are constant)."""
    from keras import layers

    down = layers.AveragePooling2D(pool_size=1, strides=2, name=name + "_down")(x)
    up = layers.UpSampling2D(2, interpolation="nearest", name=name + "_up")(down)
    return layers.Subtract(name=name)([x, up])


def _bottleneck(x, planes, stride, name, downsample):
    """torchvision's ResNet bottleneck (stride on the 3x3 convolution), as the NPR authors use it."""
    from keras import layers

    shortcut = x
    if downsample:
        shortcut = layers.Conv2D(planes * 4, 1, strides=stride, use_bias=False, name=name + "_downsample_conv")(x)
        shortcut = layers.BatchNormalization(name=name + "_downsample_bn", **BN)(shortcut)
    y = layers.Conv2D(planes, 1, use_bias=False, name=name + "_conv1")(x)
    y = layers.BatchNormalization(name=name + "_bn1", **BN)(y)
    y = layers.ReLU(name=name + "_relu1")(y)
    if stride == 2:
        # PyTorch pads 1 on every side; Keras's 'same' would pad only after at stride 2.
        y = layers.ZeroPadding2D(1, name=name + "_pad")(y)
    y = layers.Conv2D(planes, 3, strides=stride, padding="valid" if stride == 2 else "same", use_bias=False,
                      name=name + "_conv2")(y)  # fmt: skip
    y = layers.BatchNormalization(name=name + "_bn2", **BN)(y)
    y = layers.ReLU(name=name + "_relu2")(y)
    y = layers.Conv2D(planes * 4, 1, use_bias=False, name=name + "_conv3")(y)
    y = layers.BatchNormalization(name=name + "_bn3", **BN)(y)
    y = layers.Add(name=name + "_add")([y, shortcut])
    return layers.ReLU(name=name + "_out")(y)


def npr_backbone(input_size=256):
    """NPR feature extractor named `backbone`: [0, 255] RGB in, 512 pooled features out."""
    import keras
    from keras import layers

    if input_size is not None and (input_size % 2 or input_size < 32):
        raise ValueError(f"NPR needs an even input size of at least 32, not {input_size}")
    inputs = keras.Input((input_size, input_size, 3))
    x = layers.Rescaling(1 / 255.0, name="to_unit_range")(inputs)
    x = layers.Normalization(mean=IMAGENET_MEAN, variance=[s * s for s in IMAGENET_STD], name="imagenet_normalise")(x)
    x = npr_residual(x)
    x = layers.Rescaling(NPR_SCALE, name="npr_scale")(x)
    x = layers.ZeroPadding2D(1, name="stem_pad")(x)
    x = layers.Conv2D(64, 3, strides=2, use_bias=False, name="stem_conv")(x)
    x = layers.BatchNormalization(name="stem_bn", **BN)(x)
    x = layers.ReLU(name="stem_relu")(x)
    # Zero padding before the max-pool equals PyTorch's -inf padding here: the input is a ReLU's, never negative.
    x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    inplanes = 64
    for stage, (planes, blocks, stride) in enumerate(STAGES, start=1):
        for index in range(blocks):
            downsample = index == 0 and (stride != 1 or inplanes != planes * 4)
            x = _bottleneck(x, planes, stride if index == 0 else 1, f"layer{stage}_{index}", downsample)
            inplanes = planes * 4
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name=BACKBONE)
