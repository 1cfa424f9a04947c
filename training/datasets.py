"""Reading labelled image folders into train/valid/test splits.

Two layouts are understood:

- split:  ROOT/{train,valid,test}/{real,fake}/*   (valid may also be spelled val or validation)
- flat:   ROOT/{real,fake}/*                      (split here, stratified by class, with a fixed seed)

An optional ROOT/MANIFEST.csv with columns `path` (relative to ROOT) and `source` gives each image a
source, used for per-source results. Images that cannot be decoded are skipped and counted; a dataset
where too many are unreadable, or that lacks a class or a split, is refused with a DatasetError.
"""
import csv
import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

CLASSES = ("real", "fake")  # label 0, label 1
SPLITS = ("train", "valid", "test")
SPLIT_ALIASES = {"train": ("train", "training"), "valid": ("valid", "val", "validation"), "test": ("test", "testing")}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic", ".heif"}
UNKNOWN_SOURCE = "all"
# More unreadable files than this (as a fraction of all files) means the folder is wrong, not a few bad files.
MAX_UNREADABLE_FRACTION = 0.05


class DatasetError(Exception):
    """The dataset cannot be used; the message says what is wrong and where."""


@dataclass(frozen=True)
class Sample:
    path: str
    label: int  # 0 real, 1 fake
    source: str = UNKNOWN_SOURCE


@dataclass
class Dataset:
    root: Path
    layout: str
    splits: dict  # split name -> list[Sample]
    skipped: list = field(default_factory=list)  # (path, reason)

    def split(self, name):
        return self.splits[name]

    def sources(self):
        return sorted({s.source for samples in self.splits.values() for s in samples})

    def counts(self):
        """{split: {"real": n, "fake": n, "by_source": {source: {"real": n, "fake": n}}}}."""
        out = {}
        for name, samples in self.splits.items():
            by_source = {}
            for s in samples:
                by_source.setdefault(s.source, Counter())[CLASSES[s.label]] += 1
            labels = Counter(CLASSES[s.label] for s in samples)
            out[name] = {
                "real": labels["real"],
                "fake": labels["fake"],
                "by_source": {k: {"real": v["real"], "fake": v["fake"]} for k, v in sorted(by_source.items())},
            }
        return out

    def fingerprint(self):
        """A SHA-256 over every (split, relative path, label, size): changes when the data does."""
        digest = hashlib.sha256()
        for name in sorted(self.splits):
            for s in sorted(self.splits[name], key=lambda s: s.path):
                rel = Path(s.path).relative_to(self.root).as_posix()
                digest.update(f"{name}\t{rel}\t{s.label}\t{Path(s.path).stat().st_size}\n".encode())
        return digest.hexdigest()

    def summary(self):
        return {
            "root": str(self.root),
            "layout": self.layout,
            "counts": self.counts(),
            "skipped": len(self.skipped),
            "skipped_files": [{"path": p, "reason": r} for p, r in self.skipped[:50]],
            "fingerprint": self.fingerprint(),
        }


def load_dataset(root, valid_fraction=0.15, test_fraction=0.15, seed=1337, verify=True):
    """Read a dataset folder (either layout) and return a Dataset, or raise DatasetError."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    sources = _read_manifest(root)
    split_dirs = _split_dirs(root)
    skipped = []
    if split_dirs:
        layout = "split"
        missing = [name for name in SPLITS if name not in split_dirs]
        if missing:
            raise DatasetError(f"{root} has split folders but no {' or '.join(missing)} split (expected train, valid, test)")
        splits = {name: _read_classes(split_dirs[name], root, sources, skipped, verify) for name in SPLITS}
    else:
        layout = "flat"
        samples = _read_classes(root, root, sources, skipped, verify)
        splits = _stratified_split(samples, valid_fraction, test_fraction, seed)
    total = sum(len(v) for v in splits.values()) + len(skipped)
    if skipped and len(skipped) > max(2, MAX_UNREADABLE_FRACTION * total):
        examples = ", ".join(f"{p} ({r})" for p, r in skipped[:3])
        raise DatasetError(f"{len(skipped)} of {total} files in {root} are not readable images, e.g. {examples}")
    for name, samples in splits.items():
        if not samples:
            raise DatasetError(f"the {name} split of {root} is empty")
        present = {s.label for s in samples}
        for label, cls in enumerate(CLASSES):
            if label not in present:
                raise DatasetError(f"the {name} split of {root} has no {cls} images: two classes are needed")
    return Dataset(root=root, layout=layout, splits=splits, skipped=skipped)


def _split_dirs(root):
    found = {}
    for name, aliases in SPLIT_ALIASES.items():
        for alias in aliases:
            if (root / alias).is_dir():
                found[name] = root / alias
                break
    return found


def _read_manifest(root):
    manifest = root / "MANIFEST.csv"
    if not manifest.exists():
        return {}
    with manifest.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise DatasetError(f"{manifest} has no `path` column")
        if "source" not in reader.fieldnames:
            return {}
        return {row["path"]: row["source"] or UNKNOWN_SOURCE for row in reader}


def _read_classes(folder, root, sources, skipped, verify):
    missing = [cls for cls in CLASSES if not (folder / cls).is_dir()]
    if missing:
        raise DatasetError(f"{folder} has no {' or '.join(repr(m) for m in missing)} class folder (expected real/ and fake/)")
    samples = []
    for label, cls in enumerate(CLASSES):
        for path in sorted((folder / cls).rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            reason = _unreadable(path) if verify else None
            if reason:
                skipped.append((str(path), reason))
                continue
            rel = path.relative_to(root).as_posix()
            samples.append(Sample(str(path), label, sources.get(rel, UNKNOWN_SOURCE)))
    return samples


def _unreadable(path):
    """None when `path` is a decodable image; otherwise why not."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return "not an image file"
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"cannot decode: {exc.__class__.__name__}"
    return None


def _stratified_split(samples, valid_fraction, test_fraction, seed):
    rng = random.Random(seed)
    splits = {name: [] for name in SPLITS}
    for label in (0, 1):
        group = sorted((s for s in samples if s.label == label), key=lambda s: s.path)
        rng.shuffle(group)
        n_valid = max(1, round(len(group) * valid_fraction)) if len(group) >= 3 else 0
        n_test = max(1, round(len(group) * test_fraction)) if len(group) >= 3 else 0
        splits["valid"] += group[:n_valid]
        splits["test"] += group[n_valid : n_valid + n_test]
        splits["train"] += group[n_valid + n_test :]
    return splits
