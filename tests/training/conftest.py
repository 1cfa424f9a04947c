"""Tiny datasets made on the fly: fake images are reddish, real ones greenish, with noise, so that even
a one-epoch SmallCNN can tell them apart and every metric has something to measure."""
import csv
import io

import numpy as np
import pytest
from PIL import Image

SOURCES = ("alpha", "beta")


def write_image(path, label, rng, size=40):
    base = np.array([190, 60, 60] if label == "fake" else [60, 170, 70], dtype=np.float64)
    pixels = np.clip(base + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


def make_tiny_dataset(root, layout="split", per_class=6, manifest=True, seed=0):
    """Write a dataset: `split` ({train,valid,test}/{real,fake}) or `flat` ({real,fake}); returns root."""
    rng = np.random.default_rng(seed)
    rows = []
    splits = ("train", "valid", "test") if layout == "split" else ("",)
    for split in splits:
        for label in ("real", "fake"):
            for i in range(per_class):
                source = SOURCES[i % 2]
                rel = f"{split}/{label}/{source}_{i}.jpg" if split else f"{label}/{source}_{i}.jpg"
                write_image(root / rel, label, rng)
                rows.append({"path": rel, "label": label, "source": source, "split": split})
    if manifest:
        with (root / "MANIFEST.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["path", "label", "source", "split"])
            writer.writeheader()
            writer.writerows(rows)
    return root


@pytest.fixture
def tiny_dataset(tmp_path):
    return make_tiny_dataset(tmp_path / "faces")


@pytest.fixture
def flat_dataset(tmp_path):
    return make_tiny_dataset(tmp_path / "flat", layout="flat", per_class=20)


def jpeg_bytes(pixels, quality=90):
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
