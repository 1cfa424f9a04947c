import numpy as np
import pytest

from training.datasets import load_dataset
from training.pipeline import Augmentation, decode_path, make_augmenter, make_dataset
from training.preprocessing import load_image


def test_training_batches_carry_exactly_the_serving_pixels(tiny_dataset):
    samples = load_dataset(tiny_dataset).split("valid")
    images, labels = next(iter(make_dataset(samples, 32, batch_size=len(samples))))
    for i, sample in enumerate(samples):
        with open(sample.path, "rb") as fh:
            served = load_image(fh.read(), 32)
        np.testing.assert_array_equal(images[i].numpy(), served)
        assert labels[i, 0] == sample.label


def test_decoded_pixels_are_whole_numbers_so_caching_as_uint8_is_exact(tiny_dataset):
    sample = load_dataset(tiny_dataset).split("train")[0]
    with open(sample.path, "rb") as fh:
        served = load_image(fh.read(), 24)
    np.testing.assert_array_equal(decode_path(sample.path, 24).astype(np.float32), served)


def test_augmented_batches_keep_shape_range_and_labels(tiny_dataset):
    samples = load_dataset(tiny_dataset).split("train")
    ds = make_dataset(samples, 32, batch_size=4, training=True, augmentation=Augmentation(jpeg_probability=1.0, blur_probability=1.0))
    images, labels = next(iter(ds))
    assert images.shape == (4, 32, 32, 3) and images.dtype.name == "float32"
    assert float(images.numpy().min()) >= 0 and float(images.numpy().max()) <= 255
    assert set(labels.numpy().reshape(-1).tolist()) <= {0.0, 1.0}


def test_augmentation_changes_pixels_and_no_augmentation_does_not():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    changed = make_augmenter(Augmentation(jpeg_probability=1.0), 32, seed=1)(image).numpy()
    assert changed.shape == image.shape and changed.dtype == np.uint8
    assert not np.array_equal(changed, image)
    same = make_augmenter(Augmentation.none(), 32)(image).numpy()
    np.testing.assert_array_equal(same, image)


@pytest.mark.parametrize("size", [24, 40])
def test_every_split_yields_every_sample_once(tiny_dataset, size):
    samples = load_dataset(tiny_dataset).split("test")
    total = sum(int(y.shape[0]) for _, y in make_dataset(samples, size, batch_size=5))
    assert total == len(samples)
