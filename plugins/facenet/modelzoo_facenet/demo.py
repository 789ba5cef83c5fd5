"""A deterministic synthetic face-identity data set for the ``demo`` profile.

No real face data ships with the zoo, yet ``modelzoo run facenet --profile demo`` must
train, evaluate with the real LFW protocol code and produce a meaningful accuracy in
minutes on a CPU. This module lays out a set of cartoon faces (drawn by
:mod:`modelzoo_facenet.demo_faces`) as LFW is laid out, deals the test people into folds
and pairs, and writes it all once, atomically, for reuse.

Layout written under ``root`` (LFW's own layout and pairs format, so the LFW evaluation
code runs unchanged, only with ``.png`` files)::

    train/<identity>/<n>.png              training identities, a folder each
    lfw/<person>/<person>_%04d.png        test identities, none of them seen in training
    pairs.txt                             LFW View 2 format: "10 <n>", then per fold n
                                          same pairs "name\\ti\\tj" and n different pairs
                                          "name1\\ti\\tname2\\tj" (1-based image numbers)
    DONE.json                             manifest (generator version, seed, parameters,
                                          counts), written last

As in LFW, the people of different folds are disjoint. Everything follows from the seed:
identity ``k`` of a split and image ``n`` of an identity draw from their own
``numpy`` generators, so the bytes do not depend on the number of worker processes.
The set is generated in a temporary folder and renamed into place; a folder without a
matching manifest (an interrupted run, other parameters) is regenerated.

Public API::

    DEMO_DEFAULTS                                   # the demo profile's parameters
    generate_demo_dataset(root, *, seed=0, **params, workers=None, log=None) -> DemoInfo
    read_manifest(root) -> dict | None
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Optional

import cv2

from modelzoo.contract.api import UserError
from modelzoo.store import runlock, safe_load
from modelzoo_facenet.demo_faces import render_identity_images, seeded_generator

# Bump whenever the bytes change (the drawing in demo_faces, the pairs, the layout): existing
# sets are then regenerated.
GENERATOR_VERSION = 2

# Image size 54 with the training crop 48 keeps davidsandberg's crop ratio (160 of 182 =
# 0.88; 48 of 54 = 0.89). 400 identities x 20 images (8000): the demo profile's MobileNetV1
# (width 0.5, CosFace) trained for 96k images reaches 0.93-0.94 on the pairs, an untrained
# one about 0.5 and raw pixels 0.66 (docs/pipeline.md, docs/BENCHMARKS.md); 800 x 10, 400 x
# 30 and 300 x 32 scored lower for the same number of steps. 150 test identities x 8
# images in 10 folds of 15 people give 100 same + 100 different pairs per fold (2000 pairs),
# so one pair is 0.5 % of a fold's accuracy.
DEMO_DEFAULTS: dict = {
    "train_identities": 400,
    "images_per_identity": 20,
    "test_identities": 150,
    "test_images_per_identity": 8,
    "image_size": 54,
    "pairs_per_fold": 100,
}
DEMO_CROP = 48  # the training/evaluation crop the defaults are made for

_FOLDS = 10


@dataclass
class DemoInfo:
    """Where a generated demo set is and what it holds."""

    root: Path
    train_dir: Path
    lfw_dir: Path
    pairs_path: Path
    seed: int
    params: dict
    train_identities: int
    train_images: int
    test_identities: int
    test_images: int
    pairs: int
    image_ext: str = ".png"
    generated: bool = False  # False when a set made before this process was reused (see generate_demo_dataset)
    seconds: float = 0.0
    manifest: dict = field(default_factory=dict)


# --- The data set ---------------------------------------------------------------------

def _train_name(k: int) -> str:
    return f"id_{k:05d}"


def _test_name(k: int) -> str:
    return f"Person_{k:04d}"


def _write_identity(job: tuple) -> int:
    seed, split, k, count, size, folder, name_fmt = job
    cv2.setNumThreads(1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for n, image in enumerate(render_identity_images(seed, split, k, count, size)):
        # compression 1: fast to write and read back, still lossless
        cv2.imwrite(str(folder / name_fmt.format(n=n, n1=n + 1)), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return count


def make_pairs(seed: int, names: list[str], images_per_person: int, pairs_per_fold: int,
               folds: int = _FOLDS) -> list[list[tuple]]:
    """LFW View 2 pairs: per fold, ``pairs_per_fold`` same then as many different pairs.

    People are dealt to folds round-robin, so no person appears in two folds (as in LFW).
    Same pairs are ``(name, i, j)`` with ``i < j``; different pairs ``(name1, i, name2, j)``
    with ``name1 < name2``; image numbers are 1-based; no pair repeats.
    """
    r = seeded_generator(seed, 3000)
    n_img = images_per_person
    out = []
    for f in range(folds):
        people = sorted(names[f::folds])
        if len(people) < 2 or n_img < 2:
            raise ValueError("each fold needs at least 2 people with 2 images each")
        max_same = len(people) * n_img * (n_img - 1) // 2
        max_diff = len(people) * (len(people) - 1) // 2 * n_img * n_img
        if pairs_per_fold > min(max_same, max_diff):
            raise ValueError(f"pairs_per_fold={pairs_per_fold} exceeds the {min(max_same, max_diff)} "
                             f"distinct pairs {len(people)} people x {n_img} images allow; "
                             "raise test_identities or test_images_per_identity")
        same: set[tuple] = set()
        while len(same) < pairs_per_fold:
            i, j = sorted(r.choice(n_img, 2, replace=False) + 1)
            same.add((people[int(r.integers(len(people)))], int(i), int(j)))
        diff: set[tuple] = set()
        while len(diff) < pairs_per_fold:
            p1, p2 = sorted(r.choice(len(people), 2, replace=False))
            diff.add((people[p1], int(r.integers(n_img)) + 1, people[p2], int(r.integers(n_img)) + 1))
        # sets are unordered: fix the order by the draw-independent sort
        out.append(sorted(same) + sorted(diff))
    return out


def read_manifest(root: str | os.PathLike) -> Optional[dict]:
    """The ``DONE.json`` of a complete set under ``root``, or None."""
    path = Path(root) / "DONE.json"
    manifest = safe_load.json_file_or_none(path)
    return manifest if isinstance(manifest, dict) else None


_OURS = {"train", "lfw", "pairs.txt", "DONE.json"}


def _params(seed: int, overrides: dict) -> dict:
    unknown = set(overrides) - set(DEMO_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown demo parameters: {sorted(unknown)}")
    params = {**DEMO_DEFAULTS, **{k: int(v) for k, v in overrides.items() if v is not None}}
    if params["image_size"] < 16 or params["train_identities"] < 1 or params["images_per_identity"] < 1:
        raise ValueError(f"bad demo parameters: {params}")
    if params["test_identities"] < 2 * _FOLDS:
        raise ValueError(f"test_identities must be at least {2 * _FOLDS} (2 people per fold)")
    return params


def _info(root: Path, manifest: dict, generated: bool, seconds: float) -> DemoInfo:
    c = manifest["counts"]
    return DemoInfo(root=root, train_dir=root / "train", lfw_dir=root / "lfw", pairs_path=root / "pairs.txt",
                    seed=manifest["seed"], params=dict(manifest["params"]),
                    train_identities=c["train_identities"], train_images=c["train_images"],
                    test_identities=c["test_identities"], test_images=c["test_images"], pairs=c["pairs"],
                    generated=generated, seconds=seconds, manifest=manifest)


def cache_folder_name(seed: int, image_size: int, train_identities: int = 0, images_per_identity: int = 0,
                      test_identities: int = 0) -> str:
    """The cache folder of one distinct set (0: the default count), so that runs with two
    sizes of set never replace each other's: ``demo-seed0-72px`` or
    ``demo-seed0-182px-300x30-test150``."""
    name = f"demo-seed{seed}-{image_size}px"
    counts = (train_identities, images_per_identity, test_identities)
    if any(counts):
        name += "-{}x{}-test{}".format(*(n or "d" for n in counts))
    return name


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(root: Path) -> None:
    """Delete the temporary folders of earlier generations that were killed."""
    for prefix in (f".{root.name}.tmp-", f".{root.name}.old-"):
        for path in root.parent.glob(prefix + "*"):
            suffix = path.name[len(prefix):]
            if suffix.isdigit() and (int(suffix) == os.getpid() or not _pid_alive(int(suffix))):
                shutil.rmtree(path, ignore_errors=True)


def generate_demo_dataset(root: str | os.PathLike, *, seed: int = 0, train_identities: Optional[int] = None,
                          images_per_identity: Optional[int] = None, test_identities: Optional[int] = None,
                          test_images_per_identity: Optional[int] = None, image_size: Optional[int] = None,
                          pairs_per_fold: Optional[int] = None, workers: Optional[int] = None,
                          log: Optional[Callable[[str], None]] = None) -> DemoInfo:
    """Generate (or reuse) the synthetic demo set under ``root``; see the module docstring.

    Parameters left ``None`` take :data:`DEMO_DEFAULTS`. A complete set whose manifest has
    the same generator version, seed and parameters is reused as is. Otherwise the set is
    generated in a sibling temporary folder (``workers`` processes, default up to 4 and
    the CPU count) and swapped in; an existing ``root`` is replaced only when it holds
    nothing but a demo set's files (refusing to delete anything else).

    ``generated`` is True when this process generated the set, on this call or an earlier
    one (training, then evaluation, in one run), with the generation's ``seconds``.
    """
    root = Path(root)
    params = _params(seed, {"train_identities": train_identities, "images_per_identity": images_per_identity,
                            "test_identities": test_identities,
                            "test_images_per_identity": test_images_per_identity,
                            "image_size": image_size, "pairs_per_fold": pairs_per_fold})
    wanted = {"generator": "modelzoo_facenet.demo", "version": GENERATOR_VERSION, "seed": int(seed),
              "params": params}
    existing = _reusable(root, wanted)
    if existing:
        ours = _made_here.get(_key(root, wanted))
        return ours if ours and ours.manifest == existing.manifest else existing
    # Two runs started together on an empty cache: the second waits for the first's set
    # rather than swapping its own copy in under the first one's reads.
    with runlock.build_lock(root, log):
        existing = _reusable(root, wanted)
        if existing:
            return existing
        info = _generate(root, params, wanted, workers, log)
        _made_here[_key(root, wanted)] = info
        return info


# The sets this process generated: a run asks for its set for training and again for
# evaluation, and the second answer must still say the run generated it (not "reused").
_made_here: dict[tuple, DemoInfo] = {}


def _key(root: Path, wanted: dict) -> tuple:
    return str(root.resolve()), json.dumps(wanted, sort_keys=True)


def _reusable(root: Path, wanted: dict) -> Optional[DemoInfo]:
    """The set under ``root`` when its manifest matches ``wanted``."""
    manifest = read_manifest(root)
    if manifest and all(manifest.get(k) == v for k, v in wanted.items()):
        return _info(root, manifest, generated=False, seconds=0.0)
    return None


def _generate(root: Path, params: dict, wanted: dict, workers: Optional[int],
              log: Optional[Callable[[str], None]]) -> DemoInfo:
    """Draw the set into a temporary sibling folder and swap it in (the caller holds the build lock)."""
    seed = wanted["seed"]
    if root.exists():
        if not root.is_dir() or not {e.name for e in root.iterdir()} <= _OURS:
            raise UserError(f"{root} exists and is not a demo data set; "
                            "choose an empty or new folder for the demo data")

    started = time.perf_counter()
    size = params["image_size"]
    _remove_stale_temps(root)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        train_names = [_train_name(k) for k in range(params["train_identities"])]
        test_names = [_test_name(k) for k in range(params["test_identities"])]
        jobs = [(seed, 0, k, params["images_per_identity"], size, str(tmp / "train" / name), "{n}.png")
                for k, name in enumerate(train_names)]
        jobs += [(seed, 1, k, params["test_images_per_identity"], size, str(tmp / "lfw" / name),
                  name + "_{n1:04d}.png") for k, name in enumerate(test_names)]
        pairs = make_pairs(seed, test_names, params["test_images_per_identity"], params["pairs_per_fold"])
        total = sum(j[3] for j in jobs)
        n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        if log:
            log(f"generating the synthetic demo set: {total} images of {size}x{size} "
                f"({n_workers} workers) in {root}")
        done = 0
        if n_workers > 1:
            # spawn, not fork: the parent may hold torch/OpenMP/OpenCV threads that a fork
            # would copy mid-state. A __main__ without an import guard breaks spawn: then
            # generate here (the output does not depend on the worker count).
            try:
                with ProcessPoolExecutor(n_workers, mp_context=get_context("spawn")) as pool:
                    done = sum(pool.map(_write_identity, jobs, chunksize=4))
            except BrokenProcessPool:
                if log:
                    log("demo generation: worker processes failed to start; generating in this process")
                done = 0
        if done == 0:
            done = sum(_write_identity(j) for j in jobs)
        assert done == total
        lines = [f"{_FOLDS}\t{params['pairs_per_fold']}"]
        for fold in pairs:
            lines.extend("\t".join(str(v) for v in pair) for pair in fold)
        (tmp / "pairs.txt").write_text("\n".join(lines) + "\n")
        manifest = {**wanted, "counts": {
            "train_identities": len(train_names), "train_images": params["train_identities"] * params["images_per_identity"],
            "test_identities": len(test_names), "test_images": params["test_identities"] * params["test_images_per_identity"],
            "pairs": 2 * _FOLDS * params["pairs_per_fold"]},
            "layout": {"train": "train/<identity>/<n>.png", "lfw": "lfw/<person>/<person>_%04d.png",
                       "pairs": "pairs.txt"}, "crop": DEMO_CROP}
        (tmp / "DONE.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        trash = root.parent / f".{root.name}.old-{os.getpid()}"
        if root.exists():
            os.rename(root, trash)
        os.rename(tmp, root)
        shutil.rmtree(trash, ignore_errors=True)  # after the swap: the set is missing for two renames only
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - started
    if log:
        log(f"generated {total} images in {seconds:.1f}s")
    return _info(root, manifest, generated=True, seconds=seconds)
