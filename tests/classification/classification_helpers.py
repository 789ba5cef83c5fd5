"""Helpers for the classification plugin's tests: tiny generated data, profiles at test size, a RunContext."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

try:
    import modelzoo_classification  # noqa: F401
except ImportError:  # the plugin is not pip-installed in this checkout: import it from the tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "classification"))

from modelzoo.contract.api import RunContext
from modelzoo.contract.settings import with_core_defaults
from modelzoo_classification.profiles import PROFILES

WNIDS = ("n01440764", "n01443537", "n01484850")


def write_jpeg(path: Path, seed: int, size: tuple[int, int] = (40, 56)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)
    assert cv2.imwrite(str(path), image)


def profile(name: str, **changes) -> dict:
    """A built-in profile as a run sees it (core defaults merged under it), with
    ``section.key=value`` changes given as ``section={"key": value}``."""
    config = with_core_defaults(PROFILES[name])
    for section, values in changes.items():
        config[section].update(values)
    return config


def tiny_demo(**data) -> dict:
    """The demo profile at test size: 3 classes, 12 + 6 images each, 16 px."""
    return profile("demo", data={"demo_classes": 3, "demo_train_per_class": 12, "demo_test_per_class": 6,
                                 "val_resize": 16, "train_crop": 14, "val_crop": 14, **data},
                   train={"batch_size": 8, "epochs": 1})


def context(config: dict, tmp_path: Path, profile_name: str = "demo", **extra) -> RunContext:
    return RunContext(model="resnet50", profile=profile_name, config=config, data_root=tmp_path / "data",
                      cache_dir=tmp_path / "cache", run_dir=tmp_path / "run", device="cpu", log=lambda _: None,
                      **extra)
