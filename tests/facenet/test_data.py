"""The facenet training set: identity-folder index and davidsandberg's validation split.

Decoding, the uint8 cache and DeviceAugment are model-agnostic: tests/modelzoo/toolkit/test_imagedata.py.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

try:
    import modelzoo_facenet  # noqa: F401
except ImportError:  # the plugin is not pip-installed in this checkout: import it from the tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "facenet"))

from modelzoo.contract.api import UserError
from modelzoo.toolkit.imagedata import ImageIndex
from modelzoo_facenet.data import scan_identity_folders, split_validation


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


# --- scan_identity_folders ------------------------------------------------------------

def test_scan_labels_follow_sorted_folder_names(folder_set: Path):
    index = scan_identity_folders(folder_set)
    assert index.class_names == sorted(["zed", "alice", "Bob", "carol", "dave"])
    assert len(index) == 18 and index.num_classes == 5
    for path, label in zip(index.paths, index.labels):
        assert Path(path).parent.name == index.class_names[label]
        assert path.endswith(".png")
    # files in a folder are in name order, folders in label order
    assert index.paths == sorted(index.paths, key=lambda p: (index.class_names.index(Path(p).parent.name), p))
    assert index.counts().tolist() == [2, 7, 1, 5, 3]  # Bob alice carol dave zed
    # a second scan gives the identical index
    again = scan_identity_folders(folder_set)
    assert (again.paths, again.labels, again.class_names) == (index.paths, index.labels, index.class_names)


def test_scan_people_and_min_images(folder_set: Path):
    index = scan_identity_folders(folder_set, people={"zed", "carol", "nobody"})
    assert index.class_names == ["carol", "zed"] and index.labels == [0, 1, 1, 1]
    index = scan_identity_folders(folder_set, min_images=3)
    assert index.class_names == ["alice", "dave", "zed"]
    with pytest.raises(UserError, match="no images"):
        scan_identity_folders(folder_set, exts=(".jpg",))


def test_scan_missing_or_empty_root(tmp_path: Path):
    with pytest.raises(UserError, match="not a directory"):
        scan_identity_folders(tmp_path / "missing")
    (tmp_path / "empty" / "someone").mkdir(parents=True)
    with pytest.raises(UserError, match="no images"):
        scan_identity_folders(tmp_path / "empty")


# --- split_validation -----------------------------------------------------------------

@pytest.fixture()
def big_index(tmp_path: Path):
    """An index over 40 identities with 1..30 (fake) images each; split needs no files."""
    rng = np.random.default_rng(1)
    paths, labels, names = [], [], []
    for k in range(40):
        names.append(f"person_{k:02d}")
        for i in range(int(rng.integers(1, 31))):
            paths.append(f"/x/person_{k:02d}/{i}.png")
            labels.append(k)
    return ImageIndex(paths, labels, names, "/x")


def test_split_by_image_matches_recipe(big_index):
    train, val = split_validation(big_index, fraction=0.05, seed=3, by="image")
    assert set(train.paths).isdisjoint(val.paths)
    assert sorted(train.paths + val.paths) == sorted(big_index.paths)
    assert train.class_names == val.class_names == big_index.class_names
    for index in (train, val):  # labels unchanged: val scores the trained classifier
        for p, l in zip(index.paths, index.labels):
            assert p.split("/")[2] == index.class_names[l]
    counts = big_index.counts()
    val_counts = val.counts()
    for n, v in zip(counts, val_counts):
        # davidsandberg: n - floor(n * 0.95) held out; a single image stays for training
        assert v == (0 if n == 1 else n - math.floor(n * 0.95))
    assert (train.counts() >= 1).all()
    # deterministic from the seed, different with another seed
    again = split_validation(big_index, fraction=0.05, seed=3, by="image")[1]
    assert again.paths == val.paths
    assert split_validation(big_index, fraction=0.05, seed=4, by="image")[1].paths != val.paths
    # fraction 0: nothing held out
    t0, v0 = split_validation(big_index, fraction=0.0)
    assert len(v0) == 0 and t0.paths == big_index.paths


def test_split_by_image_fraction(big_index):
    _, val = split_validation(big_index, fraction=0.3, seed=0, by="image")
    # ceil per class rounds up: at least the fraction, at most one extra image per class
    assert 0.3 * len(big_index) <= len(val) <= 0.3 * len(big_index) + big_index.num_classes


def test_split_by_identity(big_index):
    train, val = split_validation(big_index, fraction=0.1, seed=0, by="identity")
    assert len(val.class_names) == 4 and len(train.class_names) == 36
    assert set(train.class_names).isdisjoint(val.class_names)
    assert sorted(train.paths + val.paths) == sorted(big_index.paths)
    for index in (train, val):  # relabelled 0..k-1 over sorted names
        assert index.class_names == sorted(index.class_names)
        assert set(index.labels) == set(range(index.num_classes))
        for p, l in zip(index.paths, index.labels):
            assert p.split("/")[2] == index.class_names[l]
    assert split_validation(big_index, 0.1, seed=0, by="identity")[1].class_names == val.class_names
    assert split_validation(big_index, 0.1, seed=1, by="identity")[1].class_names != val.class_names
    with pytest.raises(ValueError):
        split_validation(big_index, 0.1, by="pixels")
