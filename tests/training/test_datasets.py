import pytest

from training.datasets import DatasetError, load_dataset

from .conftest import make_tiny_dataset


def test_it_reads_the_split_layout_with_sources(tiny_dataset):
    dataset = load_dataset(tiny_dataset)
    assert dataset.layout == "split"
    counts = dataset.counts()
    assert counts["train"]["real"] == 6 and counts["train"]["fake"] == 6
    assert counts["test"]["by_source"]["alpha"] == {"real": 3, "fake": 3}
    assert dataset.sources() == ["alpha", "beta"]


def test_it_splits_a_flat_folder_stratified_and_reproducibly(flat_dataset):
    first = load_dataset(flat_dataset, valid_fraction=0.2, test_fraction=0.2, seed=7)
    again = load_dataset(flat_dataset, valid_fraction=0.2, test_fraction=0.2, seed=7)
    assert first.layout == "flat"
    assert [s.path for s in first.split("valid")] == [s.path for s in again.split("valid")]
    for split in ("train", "valid", "test"):
        counts = first.counts()[split]
        assert counts["real"] == counts["fake"] > 0
    all_paths = [s.path for name in ("train", "valid", "test") for s in first.split(name)]
    assert len(all_paths) == len(set(all_paths)) == 40


def test_it_gives_the_same_fingerprint_until_the_data_changes(tiny_dataset):
    before = load_dataset(tiny_dataset).fingerprint()
    assert load_dataset(tiny_dataset).fingerprint() == before
    (tiny_dataset / "train" / "real" / "alpha_0.jpg").unlink()
    assert load_dataset(tiny_dataset).fingerprint() != before


def test_it_rejects_a_missing_class_folder(tmp_path):
    root = make_tiny_dataset(tmp_path / "d", manifest=False)
    for f in (root / "valid" / "fake").iterdir():
        f.unlink()
    (root / "valid" / "fake").rmdir()
    with pytest.raises(DatasetError, match="no 'fake' class folder"):
        load_dataset(root)


def test_it_rejects_a_dataset_with_one_class(tmp_path):
    root = make_tiny_dataset(tmp_path / "d", layout="flat", per_class=5, manifest=False)
    for f in (root / "fake").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="no fake images: two classes are needed"):
        load_dataset(root)


def test_it_rejects_an_empty_split(tmp_path):
    root = make_tiny_dataset(tmp_path / "d", manifest=False)
    for cls in ("real", "fake"):
        for f in (root / "test" / cls).iterdir():
            f.unlink()
    with pytest.raises(DatasetError, match="the test split .* is empty"):
        load_dataset(root)


def test_it_rejects_a_dataset_without_a_test_split(tmp_path):
    root = make_tiny_dataset(tmp_path / "d", manifest=False)
    import shutil

    shutil.rmtree(root / "test")
    with pytest.raises(DatasetError, match="no test split"):
        load_dataset(root)


def test_it_skips_and_counts_a_few_unreadable_files(tmp_path):
    root = make_tiny_dataset(tmp_path / "d", layout="flat", per_class=40, manifest=False)
    (root / "real" / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    (root / "fake" / "notes.txt").write_text("not an image")
    dataset = load_dataset(root)
    assert len(dataset.skipped) == 2
    reasons = dict(dataset.skipped)
    assert reasons[str(root / "fake" / "notes.txt")] == "not an image file"
    assert reasons[str(root / "real" / "broken.jpg")].startswith("cannot decode")
    assert dataset.summary()["skipped"] == 2


def test_it_rejects_a_folder_of_mostly_unreadable_files(tmp_path):
    root = make_tiny_dataset(tmp_path / "d", layout="flat", per_class=5, manifest=False)
    for i in range(6):
        (root / "real" / f"junk{i}.jpg").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="are not readable images"):
        load_dataset(root)


def test_it_rejects_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
