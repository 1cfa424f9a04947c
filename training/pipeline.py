"""tf.data input pipelines and augmentation.

Decoding goes through `training.preprocessing.load_image`, the function the workers use, so a model sees
the same pixels in training and in serving. Decoded images are cached as uint8 (exact: load_image returns
integer-valued pixels) and augmented after the cache, so every epoch sees fresh augmentations.
"""
from dataclasses import asdict, dataclass

import numpy as np

from .preprocessing import load_image

AUTOTUNE = -1  # tf.data.AUTOTUNE


@dataclass
class Augmentation:
    """The papers' augmentations (zoom, brightness, flip, rotation, nearest fill) plus re-encoding noise."""

    flip: bool = True
    zoom: float = 0.2  # zoom factor drawn from [1 - zoom, 1 + zoom]
    brightness: float = 0.5  # brightness factor drawn from [1 - brightness, 1 + brightness]
    rotation: float = 10.0  # degrees, either way
    jpeg_probability: float = 0.5  # re-encode as JPEG ...
    jpeg_quality: tuple = (50, 95)  # ... at a quality in this range
    blur_probability: float = 0.2  # Gaussian blur ...
    blur_sigma: float = 1.0  # ... with sigma up to this
    # Downscale by a factor drawn from [downscale_min, 1) and scale back up (bilinear, both ways), as a photo
    # resized on its way to a newsroom is: the one augmentation here that resamples on purpose. Off by default.
    downscale_probability: float = 0.0
    downscale_min: float = 0.5

    def __post_init__(self):
        if not 0 <= self.downscale_probability <= 1 or (self.downscale_probability and not 0 < self.downscale_min < 1):
            raise ValueError("downscale probability must be in [0, 1] and its smallest factor in (0, 1)")

    @classmethod
    def none(cls):
        return cls(flip=False, zoom=0, brightness=0, rotation=0, jpeg_probability=0, blur_probability=0)

    def to_dict(self):
        return asdict(self)


def read_file_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()


def decode_path(path, size):
    """(size, size, 3) uint8 pixels of the image file at `path`, exactly as serving would see them."""
    return load_image(read_file_bytes(path), size).astype(np.uint8)


def make_dataset(samples, size, batch_size, training=False, augmentation=None, cache=True, seed=0, crop=0, mixup=0.0,
                 cutmix=0.0):
    """A batched tf.data.Dataset of (float32 images in [0, 255], float32 labels (n, 1)).

    Training only: `crop`, each image is a random `crop` x `crop` window of the decoded image, cut without
    resampling (at `size`, which for images stored at that size is their own pixels), before augmentation;
    `mixup`, each image of a batch blended with the one the batch's reversal pairs it with, and the labels
    alike, the share drawn from Beta(mixup, mixup); `cutmix`, a box of each image replaced by the same box of its
    partner's, the label mixed by the area each keeps (the box's share drawn from Beta(cutmix, cutmix)).
    """
    import tensorflow as tf

    paths = [s.path for s in samples]
    labels = np.array([[float(s.label)] for s in samples], dtype=np.float32)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))

    def decode(path, label):
        image = tf.numpy_function(lambda p: decode_path(p.decode(), size), [path], tf.uint8, stateful=False)
        image.set_shape((size, size, 3))
        return image, label

    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True)
        augment = make_augmenter(augmentation, crop or size, seed) if augmentation is not None else None
        if crop or augment:
            # Each element's draws are seeded by (seed, position): the same epoch gives the same batches,
            # however the parallel map schedules its calls (a resumed run relies on it).
            def transform(image, index):
                if crop:
                    image = random_window(image, crop, seed, index)
                return augment(image, index) if augment else image

            ds = ds.enumerate().map(lambda i, xy: (transform(xy[0], i), xy[1]), num_parallel_calls=AUTOTUNE)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size)
    if training and mixup:
        ds = ds.enumerate().map(lambda i, xy: mix_batch(*xy, mixup, seed, i), num_parallel_calls=AUTOTUNE)
    if training and cutmix:
        ds = ds.enumerate().map(lambda i, xy: cut_batch(*xy, cutmix, seed, i), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def _beta(n, alpha, seed, stream):
    """n draws from Beta(alpha, alpha), stateless: seeded by (`seed`, `stream`)."""
    import tensorflow as tf

    gamma = [
        tf.random.stateless_gamma((n,), tf.stack([tf.constant(seed, tf.int64), stream + k]), alpha=alpha)
        for k in range(2)
    ]
    return gamma[0] / (gamma[0] + gamma[1])


def mix_batch(images, labels, alpha, seed, index):
    """Mixup of one batch: image k becomes lam_k image_k + (1 - lam_k) image_{n-1-k}, labels alike; the lam_k
    drawn from Beta(alpha, alpha), seeded by (`seed`, batch `index`)."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    lam = _beta(n, alpha, seed, 10**12 + tf.cast(index, tf.int64) * 2)
    other_images, other_labels = tf.reverse(images, [0]), tf.reverse(labels, [0])
    mixed = lam[:, None, None, None] * images + (1 - lam[:, None, None, None]) * other_images
    return mixed, lam[:, None] * labels + (1 - lam[:, None]) * other_labels


def cut_batch(images, labels, alpha, seed, index):
    """CutMix (Yun et al. 2019) of one batch: image k keeps its pixels outside a box and takes image_{n-1-k}'s
    inside it; the label is mixed by the areas (a pasted region is what a composite is). The box's share of the
    area is 1 - lam_k, lam_k drawn from Beta(alpha, alpha), its centre uniform, clipped at the edges (the label
    follows the clipped area); every draw seeded by (`seed`, batch `index`)."""
    import tensorflow as tf

    n, h, w = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    stream = 2 * 10**12 + tf.cast(index, tf.int64) * 4
    lam = _beta(n, alpha, seed, stream)
    centre = tf.random.stateless_uniform((n, 2), tf.stack([tf.constant(seed, tf.int64), stream + 2]))
    side = tf.sqrt(1.0 - lam)

    def edge(axis, extent, offset):  # the box's edge along `axis`, in pixels, clipped to the image
        extent = tf.cast(extent, tf.float32)
        return tf.cast(tf.round(tf.clip_by_value((centre[:, axis] + offset * side / 2) * extent, 0, extent)), tf.int32)

    y0, y1, x0, x1 = edge(0, h, -1), edge(0, h, 1), edge(1, w, -1), edge(1, w, 1)
    rows, cols = tf.range(h)[None, :, None], tf.range(w)[None, None, :]
    inside = ((rows >= y0[:, None, None]) & (rows < y1[:, None, None])
              & (cols >= x0[:, None, None]) & (cols < x1[:, None, None]))  # fmt: skip
    kept = 1.0 - tf.reduce_mean(tf.cast(inside, tf.float32), axis=[1, 2])  # the share of image k left
    mixed = tf.where(inside[..., None], tf.reverse(images, [0]), images)
    return mixed, kept[:, None] * labels + (1 - kept[:, None]) * tf.reverse(labels, [0])


def random_window(image, crop, seed, index):
    """A `crop` x `crop` window of `image` at a place drawn from (`seed`, `index`): its pixels, not resampled."""
    import tensorflow as tf

    element_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64) * 64 + 63])
    return tf.image.stateless_random_crop(image, (crop, crop, 3), seed=element_seed)


def make_augmenter(aug, size, seed=0):
    """A tf function augmenting one uint8 image; returns uint8.

    `augment(image, index)`: every random draw is stateless, seeded by (`seed`, `index`, draw number).
    """
    import tensorflow as tf

    def augment(image, index=0):
        draws = [0]
        index = tf.cast(index, tf.int64)

        def uniform(lo, hi):
            draws[0] += 1
            element_seed = tf.stack([tf.constant(seed, tf.int64), index * 64 + draws[0]])
            return tf.random.stateless_uniform((), element_seed, lo, hi)

        x = tf.cast(image, tf.float32)
        if aug.flip:
            x = tf.cond(uniform(0.0, 1.0) < 0.5, lambda: tf.image.flip_left_right(x), lambda: x)
        if aug.zoom or aug.rotation:
            x = _affine(x, size, uniform(1 - aug.zoom, 1 + aug.zoom) if aug.zoom else 1.0,
                        uniform(-aug.rotation, aug.rotation) * np.pi / 180 if aug.rotation else 0.0)
        if aug.brightness:
            x = x * uniform(1 - aug.brightness, 1 + aug.brightness)
        x = tf.clip_by_value(x, 0.0, 255.0)
        if aug.blur_probability:
            sigma = uniform(0.3, max(aug.blur_sigma, 0.31))
            x = tf.cond(uniform(0.0, 1.0) < aug.blur_probability, lambda: gaussian_blur(x, sigma), lambda: x)
        if aug.downscale_probability:
            factor = uniform(aug.downscale_min, 1.0)
            x = tf.cond(uniform(0.0, 1.0) < aug.downscale_probability, lambda: downscaled(x, size, factor), lambda: x)
        out = tf.cast(tf.round(x), tf.uint8)
        if aug.jpeg_probability:
            lo, hi = aug.jpeg_quality
            quality = tf.cast(uniform(float(lo), float(hi) + 1), tf.int32)
            out = tf.cond(
                uniform(0.0, 1.0) < aug.jpeg_probability,
                lambda: tf.reshape(tf.image.adjust_jpeg_quality(out, quality), (size, size, 3)),
                lambda: out,
            )
        return out

    return augment


def downscaled(x, size, factor):
    """`x` (size, size, 3) resized to `factor` of its side (bilinear, antialiased) and back up to `size`
    (bilinear): the detail a resize on the way loses, at the image's own size."""
    import tensorflow as tf

    small = tf.maximum(tf.cast(tf.round(size * factor), tf.int32), 8)
    x = tf.image.resize(x, tf.stack([small, small]), method="bilinear", antialias=True)
    return tf.clip_by_value(tf.reshape(tf.image.resize(x, (size, size), method="bilinear"), (size, size, 3)), 0.0, 255.0)


def _affine(x, size, scale, angle):
    """Zoom by `scale` (>1 zooms in) and rotate by `angle` radians about the centre, nearest fill."""
    import tensorflow as tf

    c = (size - 1) / 2.0
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # Maps output (x, y) to input coordinates: inverse of rotate-then-scale about the centre.
    transform = tf.stack([cos, -sin, c - cos * c + sin * c, sin, cos, c - sin * c - cos * c, 0.0, 0.0])
    transform = tf.cast(tf.reshape(transform, (1, 8)), tf.float32)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=x[None], transforms=transform, output_shape=[size, size], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST",
    )
    return out[0]


def gaussian_blur(x, sigma, radius=2):
    """Blur an (h, w, 3) float image with a (2 radius + 1)^2 Gaussian kernel."""
    import tensorflow as tf

    taps = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-(taps**2) / (2.0 * sigma**2))
    kernel = kernel / tf.reduce_sum(kernel)
    kx = tf.tile(tf.reshape(kernel, (1, -1, 1, 1)), (1, 1, 3, 1))
    ky = tf.tile(tf.reshape(kernel, (-1, 1, 1, 1)), (1, 1, 3, 1))
    padded = tf.pad(x[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    out = tf.nn.depthwise_conv2d(padded, kx, strides=[1, 1, 1, 1], padding="VALID")
    out = tf.nn.depthwise_conv2d(out, ky, strides=[1, 1, 1, 1], padding="VALID")
    return out[0]


def load_arrays(samples, size):
    """All images of `samples` as one float32 array (n, size, size, 3), and labels (n,): for evaluation."""
    images = np.stack([decode_path(s.path, size) for s in samples]).astype(np.float32) if samples else np.zeros((0, size, size, 3), np.float32)
    return images, np.array([s.label for s in samples], dtype=np.int64)
