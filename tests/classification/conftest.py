"""Fixtures for the classification plugin's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from classification_helpers import WNIDS, write_jpeg


@pytest.fixture
def imagenet_raw(tmp_path: Path) -> Path:
    """3 classes x 4 train JPEGs in class folders, 2 val JPEGs per class in class folders."""
    raw = tmp_path / "imagenet"
    for label, wnid in enumerate(WNIDS):
        for i in range(4):
            write_jpeg(raw / "train" / wnid / f"{wnid}_{i}.JPEG", seed=10 * label + i)
        for i in range(2):
            write_jpeg(raw / "val" / wnid / f"ILSVRC2012_val_{label}{i}.JPEG", seed=100 + 10 * label + i)
    return raw
