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


def _windows_of(image, crop):
    """Every crop x crop window of `image`, as bytes (to look one up exactly)."""
    h, w = image.shape[:2]
    return {image[y: y + crop, x: x + crop].tobytes() for y in range(h - crop + 1) for x in range(w - crop + 1)}


def test_training_crops_are_windows_of_the_decoded_pixels_never_resampled(tiny_dataset):
    samples = load_dataset(tiny_dataset).split("train")
    windows = {sample.label: set() for sample in samples}
    for sample in samples:
        windows[sample.label] |= _windows_of(decode_path(sample.path, 48), 24)
    ds = make_dataset(samples, 48, batch_size=len(samples), training=True, augmentation=None, crop=24, seed=3)
    images, labels = next(iter(ds))
    assert images.shape == (len(samples), 24, 24, 3)
    places = set()
    for image, label in zip(images.numpy().astype(np.uint8), labels.numpy()[:, 0]):
        assert image.tobytes() in windows[int(label)]  # the exact pixels of a window of an image of its class
        places.add(image.tobytes())
    assert len(places) == len(samples)
    # The same seed and epoch give the same crops (a resumed run sees the same batches); another epoch others.
    again, _ = next(iter(make_dataset(samples, 48, batch_size=len(samples), training=True, crop=24, seed=3)))
    np.testing.assert_array_equal(again.numpy(), images.numpy())
    other, _ = next(iter(make_dataset(samples, 48, batch_size=len(samples), training=True, crop=24, seed=4)))
    assert not np.array_equal(np.sort(other.numpy().reshape(len(samples), -1), 0), np.sort(images.numpy().reshape(len(samples), -1), 0))


def test_validation_batches_are_never_cropped(tiny_dataset):
    samples = load_dataset(tiny_dataset).split("valid")
    images, _ = next(iter(make_dataset(samples, 48, batch_size=len(samples), crop=24)))
    assert images.shape[1:] == (48, 48, 3)


def test_mixup_blends_each_image_and_its_label_with_its_partner_by_the_same_share(tiny_dataset):
    samples = load_dataset(tiny_dataset).split("train")
    n = len(samples)
    plain_images, plain_labels = next(iter(make_dataset(samples, 32, batch_size=n, training=True, seed=5)))
    mixed_images, mixed_labels = next(iter(make_dataset(samples, 32, batch_size=n, training=True, seed=5, mixup=0.4)))
    x, y = plain_images.numpy(), plain_labels.numpy()[:, 0]
    mx, my = mixed_images.numpy(), mixed_labels.numpy()[:, 0]
    assert ((my >= 0) & (my <= 1)).all() and not np.array_equal(mx, x)
    checked = 0
    for k in range(n):
        partner = n - 1 - k
        if y[k] != y[partner]:
            share = (my[k] - y[partner]) / (y[k] - y[partner])  # the label says how much of image k is kept
            assert 0 <= share <= 1
            np.testing.assert_allclose(mx[k], share * x[k] + (1 - share) * x[partner], atol=1e-2)
            checked += 1
    assert checked > 0


def test_cutmix_pastes_a_box_of_the_partner_and_mixes_the_label_by_the_area_kept(tiny_dataset):
    samples = load_dataset(tiny_dataset).split("train")
    n = len(samples)
    plain_images, plain_labels = next(iter(make_dataset(samples, 32, batch_size=n, training=True, seed=5)))
    cut_images, cut_labels = next(iter(make_dataset(samples, 32, batch_size=n, training=True, seed=5, cutmix=1.0)))
    x, y = plain_images.numpy(), plain_labels.numpy()[:, 0]
    cx, cy = cut_images.numpy(), cut_labels.numpy()[:, 0]
    assert not np.array_equal(cx, x) and ((cy >= 0) & (cy <= 1)).all()
    pasted_some = 0
    for k in range(n):
        partner = n - 1 - k
        if np.array_equal(x[k], x[partner]):
            continue
        from_partner = (cx[k] == x[partner]).all(-1) & (cx[k] != x[k]).any(-1)
        assert ((cx[k] == x[k]).all(-1) | (cx[k] == x[partner]).all(-1)).all()  # every pixel is one of the two, unblended
        if from_partner.any():
            rows, cols = np.nonzero(from_partner)
            box = np.zeros_like(from_partner)
            box[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1] = True
            # one rectangle: every pixel inside it that differs between the two images came from the partner
            differs = (x[k] != x[partner]).any(-1)
            np.testing.assert_array_equal(from_partner, box & differs)
            kept = 1 - box.mean()
            if y[k] != y[partner]:
                assert cy[k] == pytest.approx(kept * y[k] + (1 - kept) * y[partner], abs=1e-5)
            pasted_some += 1
        else:
            assert cy[k] == pytest.approx(y[k])
    assert pasted_some > 0
    again, _ = next(iter(make_dataset(samples, 32, batch_size=n, training=True, seed=5, cutmix=1.0)))
    np.testing.assert_array_equal(again.numpy(), cx)  # seeded: a resumed run sees the same boxes


def test_downscaling_removes_the_finest_detail_and_keeps_the_size():
    checker = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)
    image = np.repeat(checker[..., None], 3, -1)  # the finest pattern there is: gone at any real downscale
    out = make_augmenter(Augmentation(flip=False, zoom=0, brightness=0, rotation=0, jpeg_probability=0, blur_probability=0,
                                      downscale_probability=1.0, downscale_min=0.5), 32, seed=2)(image).numpy()
    assert out.shape == image.shape and out.dtype == np.uint8
    assert image.std() > 120 and out.std() < 40  # the checkerboard is averaged away ...
    assert abs(out.mean() - 127.5) < 10  # ... to its mean brightness
    untouched = make_augmenter(Augmentation(flip=False, zoom=0, brightness=0, rotation=0, jpeg_probability=0, blur_probability=0,
                                            downscale_probability=0.0), 32, seed=2)(image).numpy()
    np.testing.assert_array_equal(untouched, image)
