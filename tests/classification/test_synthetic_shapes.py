"""The synthetic demo set: deterministic by seed, balanced, reused, regenerated when its parameters change."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelzoo.contract.api import UserError
from modelzoo_classification import demo
from modelzoo_classification.demo import CLASS_NAMES, draw_image, generate_demo_set


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.png")):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def _small(root: Path, **options):
    return generate_demo_set(root, **{"classes": 4, "train_per_class": 5, "test_per_class": 3, "size": 20, **options})


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    first = _small(tmp_path / "a", seed=7)
    assert first.generated and (first.train_images, first.test_images) == (20, 12)
    assert sorted(p.name for p in first.train_dir.iterdir()) == list(CLASS_NAMES[:4])
    assert all(len(list(d.iterdir())) == 5 for d in first.train_dir.iterdir())  # balanced classes
    assert all(len(list(d.iterdir())) == 3 for d in first.test_dir.iterdir())
    assert _digest(first.root) == _digest(_small(tmp_path / "b", seed=7).root)
    assert _digest(first.root) != _digest(_small(tmp_path / "c", seed=8).root)


def test_held_out_images_are_drawn_apart_from_training_images(tmp_path):
    demo = _small(tmp_path / "a")
    train = {p.read_bytes() for p in demo.train_dir.rglob("*.png")}
    assert not train & {p.read_bytes() for p in demo.test_dir.rglob("*.png")}


def test_an_existing_set_is_reused_and_other_parameters_regenerate(tmp_path):
    # made by another process (an earlier run)
    code = ("import sys; from modelzoo_classification.demo import generate_demo_set; "
            "generate_demo_set(sys.argv[1], classes=4, train_per_class=5, test_per_class=3, size=20)")
    plugin = str(Path(demo.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([plugin, os.environ.get("PYTHONPATH", "")]))
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a")], env=env, check=True)
    again = _small(tmp_path / "a")
    assert not again.generated
    bigger = _small(tmp_path / "a", train_per_class=6)
    assert bigger.generated and len(list((bigger.train_dir / CLASS_NAMES[0]).iterdir())) == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == [".a.lock", "a"]  # the build lock; no temporary folder


def test_a_run_that_generated_its_set_says_so_when_it_asks_again(tmp_path):
    """Training asks for the set, then evaluation: both say this run generated it (not "reused")."""
    first = _small(tmp_path / "a", seed=3)
    again = _small(tmp_path / "a", seed=3)
    assert first.generated and again.generated and again.seconds == first.seconds


def test_two_runs_on_an_empty_cache_draw_the_set_once(tmp_path, two_builders_at_once):
    root = tmp_path / "shapes"
    results = two_builders_at_once(root, lambda log: generate_demo_set(
        root, classes=3, train_per_class=2, test_per_class=1, size=16, log=log))
    assert sorted(s.generated for s in results) == [False, True]
    assert len(list((root / "train").rglob("*.png"))) == 6


def test_images_vary_within_a_class_and_colour_does_not_give_the_class_away():
    size = 24
    images = {label: [draw_image(np.random.default_rng([0, 0, label, n]), label, size) for n in range(40)]
              for label in range(len(CLASS_NAMES))}
    assert all(image.shape == (size, size, 3) and image.dtype == np.uint8 for image in images[3])
    assert len({image.tobytes() for image in images[0]}) == 40
    # the mean colour of a class's images is near the middle grey for every class
    means = np.array([np.mean([image.mean(axis=(0, 1)) for image in images[label]], axis=0) for label in images])
    assert np.abs(means - 127.5).max() < 30


def test_out_of_range_parameters_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="demo_classes 11 is out of range"):
        _small(tmp_path / "a", classes=11)
    with pytest.raises(UserError, match="too small"):
        _small(tmp_path / "a", size=4)
