"""A deterministic synthetic classification set for the ``demo`` profile.

``modelzoo run resnet50 --profile demo`` must train and score a real accuracy in minutes
on a CPU with nothing downloaded. Each class is a shape (disc, square, triangle, plus,
ring) filled solid or striped; everything else varies per image: colours (foreground,
a two-colour background gradient), size, position, rotation, stripe period and angle, an
optional distracting blob and pixel noise. Colour says nothing about the class, so a
network must learn shape and texture. Chance is 1 / classes.

Layout written under ``root`` (class folders, as :func:`modelzoo.toolkit.imagedata.scan_class_folders`
reads them)::

    train/<NN_shape_texture>/<n>.png      training images
    test/<NN_shape_texture>/<n>.png       held-out images, drawn from their own generators
    DONE.json                             manifest (generator version, seed, parameters), written last

Image ``n`` of class ``k`` in split ``s`` draws from ``numpy.random.default_rng([seed, s, k, n])``,
so the bytes depend only on the seed and the parameters. The set is written in a
temporary folder and renamed into place: a folder without a matching manifest is
regenerated, a matching one reused.

Public API::

    CLASS_NAMES                                      # the 10 classes, in label order
    draw_image(rng, label, size) -> uint8 HxWx3 RGB
    generate_demo_set(root, *, seed=0, classes=10, train_per_class=..., test_per_class=..., size=...,
                      log=None) -> DemoSet
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from modelzoo.contract.api import UserError
from modelzoo.store import runlock, safe_load

# Bump whenever the drawing or the layout changes: existing sets are then regenerated.
GENERATOR_VERSION = 1
SHAPES = ("disc", "square", "triangle", "plus", "ring")
TEXTURES = ("solid", "striped")
CLASS_NAMES = tuple(f"{s * len(TEXTURES) + t:02d}_{shape}_{texture}"
                    for s, shape in enumerate(SHAPES) for t, texture in enumerate(TEXTURES))
_SPLITS = {"train": 0, "test": 1}
_SUPERSAMPLE = 4  # draw at 4x and shrink with area averaging: antialiased edges


@dataclass
class DemoSet:
    """Where a generated demo set is and what it holds."""

    root: Path
    train_dir: Path
    test_dir: Path
    classes: int
    train_images: int
    test_images: int
    generated: bool   # True when this process generated it (on this call or an earlier one)
    seconds: float


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, 3).astype(np.float32)


def _luma(colour: np.ndarray) -> float:
    return float(colour @ np.array([0.299, 0.587, 0.114], np.float32))


def _contrasting(rng: np.random.Generator, against: np.ndarray, minimum: float = 70.0) -> np.ndarray:
    """A random colour whose brightness differs from ``against`` by at least ``minimum``."""
    for _ in range(100):
        colour = _colour(rng)
        if abs(_luma(colour) - _luma(against)) >= minimum:
            return colour
    return 255.0 - against


def _shape_mask(rng: np.random.Generator, shape: str, big: int) -> np.ndarray:
    """A filled ``shape`` at a random size, position and rotation on a ``big`` x ``big`` canvas."""
    mask = np.zeros((big, big), np.uint8)
    radius = big * rng.uniform(0.22, 0.36)
    cx, cy = big / 2 + rng.uniform(-0.12, 0.12, 2) * big
    angle = rng.uniform(0, 2 * math.pi)

    def polygon(points: np.ndarray) -> None:
        turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        placed = points @ turn.T * radius + (cx, cy)
        cv2.fillPoly(mask, [np.round(placed).astype(np.int32)], 255)

    if shape in ("disc", "ring"):
        cv2.circle(mask, (round(cx), round(cy)), round(radius), 255, -1)
        if shape == "ring":
            cv2.circle(mask, (round(cx), round(cy)), round(radius * rng.uniform(0.45, 0.6)), 0, -1)
    elif shape == "square":
        polygon(np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * 0.8)
    elif shape == "triangle":
        polygon(np.array([[math.cos(a), math.sin(a)] for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]))
    elif shape == "plus":
        arm = rng.uniform(0.28, 0.38)
        polygon(np.array([[-arm, -1], [arm, -1], [arm, -arm], [1, -arm], [1, arm], [arm, arm], [arm, 1],
                          [-arm, 1], [-arm, arm], [-1, arm], [-1, -arm], [-arm, -arm]]))
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return mask


def _alpha(mask: np.ndarray, size: int) -> np.ndarray:
    """A supersampled 0/255 mask shrunk to ``size`` by area averaging: antialiased coverage in [0, 1]."""
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)[..., None] / 255.0


def draw_image(rng: np.random.Generator, label: int, size: int) -> np.ndarray:
    """One image of class ``label`` (an index into :data:`CLASS_NAMES`), uint8 ``size x size x 3`` RGB.

    Edges are drawn as masks at 4x and shrunk (antialiased coverage); colours are blended at
    the output size, which keeps a 36 px image near a millisecond.
    """
    shape, texture = SHAPES[label // len(TEXTURES)], TEXTURES[label % len(TEXTURES)]
    big = size * _SUPERSAMPLE
    # Background: a two-colour gradient along a random direction.
    first, second = _colour(rng), _colour(rng)
    direction = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    ramp = np.clip(0.5 + xs * math.cos(direction) + ys * math.sin(direction), 0, 1)[..., None]
    canvas = first * (1 - ramp) + second * ramp
    # A distracting blob (half of the images): clutter that belongs to no class.
    if rng.random() < 0.5:
        blob = np.zeros((big, big), np.uint8)
        centre = tuple(int(v) for v in rng.integers(0, big, 2))
        cv2.circle(blob, centre, int(big * rng.uniform(0.06, 0.12)), 255, -1)
        cover = _alpha(blob, size)
        canvas = canvas * (1 - cover) + _colour(rng) * cover
    # The class: a shape, filled solid or with stripes of a second colour.
    fill = _contrasting(rng, canvas.mean(axis=(0, 1)))
    cover = _alpha(_shape_mask(rng, shape, big), size)
    if texture == "striped":
        period = big * rng.uniform(0.09, 0.14)
        theta = rng.uniform(0, math.pi)
        by, bx = np.mgrid[0:big, 0:big].astype(np.float32)
        phase = (bx * math.cos(theta) + by * math.sin(theta)) / period
        stripes = _alpha(np.where(np.floor(phase) % 2 == 0, 255, 0).astype(np.uint8), size)
        fill = fill * stripes + _contrasting(rng, fill, minimum=60.0) * (1 - stripes)
    canvas = canvas * (1 - cover) + fill * cover
    canvas += rng.normal(0, 8.0, canvas.shape).astype(np.float32)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)


def read_manifest(root: str | os.PathLike) -> Optional[dict]:
    path = Path(root) / "DONE.json"
    manifest = safe_load.json_file_or_none(path)
    return manifest if isinstance(manifest, dict) else None


def generate_demo_set(root: str | os.PathLike, *, seed: int = 0, classes: int = 10, train_per_class: int = 300,
                      test_per_class: int = 100, size: int = 36,
                      log: Optional[Callable[[str], None]] = None) -> DemoSet:
    """Write (or reuse) the demo set under ``root``; see the module docstring for the layout."""
    if not 2 <= classes <= len(CLASS_NAMES):
        raise UserError(f"data.demo_classes {classes} is out of range; use 2..{len(CLASS_NAMES)}")
    if train_per_class < 1 or test_per_class < 1 or size < 8:
        raise UserError(f"demo set too small (train {train_per_class}, test {test_per_class} per class, "
                        f"{size} px); use at least 1 image per class and 8 px")
    root = Path(root)
    params = {"version": GENERATOR_VERSION, "seed": seed, "classes": classes, "train_per_class": train_per_class,
              "test_per_class": test_per_class, "size": size}
    started = time.perf_counter()
    key = (str(root.resolve()), json.dumps(params, sort_keys=True))
    generated = _wrong_or_missing(root, params)
    if not generated and key in _made_here:  # this process made it, on an earlier call
        return _made_here[key]
    if generated:
        # Two runs started together on an empty cache: the second waits, then reuses the first's set.
        with runlock.build_lock(root, log):
            generated = _wrong_or_missing(root, params)
            if generated:
                _write_set(root, params, log)
    made = DemoSet(root=root, train_dir=root / "train", test_dir=root / "test", classes=classes,
                   train_images=classes * train_per_class, test_images=classes * test_per_class,
                   generated=generated, seconds=time.perf_counter() - started)
    if generated:
        _made_here[key] = made
    return made


# The sets this process generated: a run asks for its set for training and again for
# evaluation, and the second answer must still say the run generated it (not "reused").
_made_here: dict[tuple, DemoSet] = {}


def _wrong_or_missing(root: Path, params: dict) -> bool:
    manifest = read_manifest(root)
    return manifest is None or manifest.get("params") != params


def _write_set(root: Path, params: dict, log: Optional[Callable[[str], None]]) -> None:
    """Draw the set into a temporary sibling folder and swap it in (the caller holds the build lock)."""
    seed, classes, size = params["seed"], params["classes"], params["size"]
    train_per_class, test_per_class = params["train_per_class"], params["test_per_class"]
    if log:
        log(f"generating the synthetic demo set ({classes} classes, {train_per_class}+{test_per_class} "
            f"images per class, {size} px) in {root}")
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for split, count in (("train", train_per_class), ("test", test_per_class)):
            for label in range(classes):
                folder = tmp / split / CLASS_NAMES[label]
                folder.mkdir(parents=True)
                for n in range(count):
                    rng = np.random.default_rng([seed, _SPLITS[split], label, n])
                    image = draw_image(rng, label, size)
                    if not cv2.imwrite(str(folder / f"{n:05d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                        raise UserError(f"cannot write {folder / f'{n:05d}.png'}; check the cache folder "
                                        "(MODELZOO_CACHE) is writable")
        (tmp / "DONE.json").write_text(json.dumps({"params": params, "class_names": CLASS_NAMES[:classes]},
                                                  indent=1))
        shutil.rmtree(root, ignore_errors=True)  # a stale or different set
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
