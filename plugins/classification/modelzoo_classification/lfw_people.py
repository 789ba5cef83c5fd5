"""LFW people as classes: a small real-photo classification set (scikit-learn's ``fetch_lfw_people`` idea).

Every person with at least ``min_images`` images is a class (20: 62 people, 3,023
deep-funneled images). Each person's images are split train/test by a seeded draw
(``test_fraction`` of them, at least one, for testing), so the split is stratified, fixed
and disjoint; ``split.json`` records it with its SHA-256 for the run records.

No face detector: the 250x250 deep-funneled images are already roughly centred on the
face, so ``prepare`` keeps the plain centre square of side ``crop`` (default 150: rows and
columns 50-199, face, hair line and chin) and writes it as PNG::

    <out>/images/<person>/<file>.png     the centre crops (written once; a rerun skips them)
    <out>/split.json                     parameters, per-person train/test files, sha256

Public API::

    find_lfw_images(raw) -> Path
    people_with(images_dir, min_images) -> {person: [file names]}
    stratified_split(people, test_fraction, seed) -> {person: {"train": [...], "test": [...]}}
    prepare_lfw_people(raw, out, min_images=20, test_fraction=0.25, seed=0, crop=150, log=print) -> PrepareResult
    read_split(out) -> dict
    split_index(out, split, part) -> ImageIndex        # part: "train" or "test"
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelzoo.contract.api import PrepareResult, UserError
from modelzoo.store import safe_load
from modelzoo.store.records import write_atomic
from modelzoo.toolkit.imageheader import pixel_problem

SPLIT_FORMAT = 1
LFW_SIZE = 250
# Folder names LFW's archives unpack to, deep-funneled first (the set this profile was tuned on).
_IMAGE_FOLDERS = ("images_deepfunneled", "lfw-deepfunneled", "lfw_funneled", "lfw")


def find_lfw_images(raw: Path) -> Path:
    """The folder of person folders inside ``raw`` (or ``raw`` itself)."""
    if not raw.is_dir():
        raise UserError(f"LFW folder not found: {raw}; pass --lfw the folder holding images_deepfunneled/ "
                        "(or the person folders)")
    for name in _IMAGE_FOLDERS:
        inner = raw / name
        if inner.is_dir():
            return find_lfw_images(inner) if (inner / name).is_dir() else inner  # lfw-deepfunneled/lfw-deepfunneled
    if any(p.is_dir() and any(p.glob("*.jpg")) for p in raw.iterdir()):
        return raw
    raise UserError(f"no LFW person folders (NAME/NAME_0001.jpg) in {raw}; pass --lfw the folder holding "
                    "images_deepfunneled/ or the person folders")


def people_with(images_dir: Path, min_images: int) -> dict[str, list[str]]:
    """``{person: sorted .jpg names}`` for everyone with at least ``min_images`` images."""
    people = {}
    for folder in sorted(p for p in images_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f.name for f in os.scandir(folder) if f.name.lower().endswith(".jpg"))
        if len(files) >= min_images:
            people[folder.name] = files
    return people


def stratified_split(people: dict[str, list[str]], test_fraction: float, seed: int) -> dict[str, dict]:
    """Per person, ``round(n * test_fraction)`` (at least 1, at most n - 1) randomly chosen
    images for testing, the rest for training. Each person's draw depends only on ``seed``
    and the name, so adding people leaves the others' split unchanged."""
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test fraction {test_fraction} is out of range; use a number between 0 and 1")
    split = {}
    for name, files in sorted(people.items()):
        if len(files) < 2:
            raise UserError(f"{name} has {len(files)} image; every class needs 2+ to be split (raise --lfw-min-images)")
        n_test = min(max(1, round(len(files) * test_fraction)), len(files) - 1)
        order = np.random.default_rng([seed, zlib.crc32(name.encode())]).permutation(len(files))
        test = sorted(files[i] for i in order[:n_test])
        split[name] = {"train": sorted(set(files) - set(test)), "test": test}
    return split


def centre_crop_box(crop: int) -> tuple[int, int]:
    """First and last-plus-one pixel of the centre ``crop`` square in a 250 px image."""
    if not 16 <= crop <= LFW_SIZE:
        raise UserError(f"--lfw-crop {crop} is out of range; use 16..{LFW_SIZE}")
    start = (LFW_SIZE - crop) // 2
    return start, start + crop


def _png_name(jpg: str) -> str:
    return Path(jpg).stem + ".png"


def _split_digest(split: dict) -> str:
    return hashlib.sha256(json.dumps(split, sort_keys=True).encode()).hexdigest()


def prepare_lfw_people(raw: Path, out: Path, *, min_images: int = 20, test_fraction: float = 0.25, seed: int = 0,
                       crop: int = 150, log: Callable[[str], None] = print) -> PrepareResult:
    """Write the centre crops and ``split.json`` under ``out`` (see the module docstring)."""
    import cv2

    started = time.perf_counter()
    images_dir = find_lfw_images(raw).resolve()
    people = people_with(images_dir, min_images)
    if len(people) < 2:
        raise UserError(f"only {len(people)} people in {images_dir} have {min_images}+ images; "
                        "lower --lfw-min-images or check --lfw")
    split = stratified_split(people, test_fraction, seed)
    start, stop = centre_crop_box(crop)
    total = sum(len(files) for files in people.values())
    log(f"{images_dir}: {len(people)} people with {min_images}+ images, {total} images; writing centre "
        f"{crop}x{crop} crops (rows/columns {start}-{stop - 1})")
    written = skipped = 0
    failures: list[str] = []
    for name, files in people.items():
        folder = out / "images" / name
        folder.mkdir(parents=True, exist_ok=True)
        for jpg in files:
            target = folder / _png_name(jpg)
            if target.is_file():
                skipped += 1
                continue
            data = (images_dir / name / jpg).read_bytes()
            too_large = pixel_problem(data)  # from the header: never decode 20000x20000 to refuse it
            image = None if too_large else cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if image is None or image.shape[:2] != (LFW_SIZE, LFW_SIZE):
                why = f"too large: {too_large}" if too_large else "cannot decode" if image is None else "not 250x250"
                failures.append(f"{name}/{jpg}\t{why}")
                continue
            tmp = folder / f".{target.name}.tmp-{os.getpid()}.png"
            cv2.imwrite(str(tmp), image[start:stop, start:stop])
            os.replace(tmp, target)  # a killed run never leaves half a PNG under the final name
            written += 1
    if failures:
        (out / "failures.txt").write_text("\n".join(failures) + "\n")
        raise UserError(f"{len(failures)} LFW images could not be read (listed in {out / 'failures.txt'}); "
                        "the split needs every image: replace them from the LFW archive")
    record = {"format": SPLIT_FORMAT, "source": str(images_dir), "min_images": min_images,
              "test_fraction": test_fraction, "seed": seed, "crop": crop, "crop_box": [start, stop],
              "people": len(split), "train_images": sum(len(v["train"]) for v in split.values()),
              "test_images": sum(len(v["test"]) for v in split.values()), "sha256": _split_digest(split),
              "split": split}
    write_atomic(out / "split.json", json.dumps(record, indent=1))
    log(f"split: {record['train_images']} train / {record['test_images']} test images of {len(split)} people "
        f"(seed {seed}, sha256 {record['sha256'][:12]})")
    return PrepareResult(outputs={"lfw-people": str(out)}, processed=written, skipped=skipped, failed=0,
                         seconds=time.perf_counter() - started)


def read_split(out: Path, remedy: str) -> dict:
    """``split.json`` under ``out``; UserError ending with ``remedy`` when missing or stale."""
    path = out / "split.json"
    if not path.is_file():
        raise UserError(f"data not found: {path}; {remedy}")
    try:
        record = safe_load.json_file(path)
    except (OSError, safe_load.UnreadableData) as exc:
        raise UserError(f"{path} cannot be read ({exc}); {remedy}") from None
    if not isinstance(record, dict) or not isinstance(record.get("split"), dict) or record.get("format") != SPLIT_FORMAT or record.get("sha256") != _split_digest(record.get("split", {})):
        raise UserError(f"{path} is from another plugin version or was edited; {remedy}")
    return record


def split_index(out: Path, record: dict, part: str):
    """The ``train`` or ``test`` half as an :class:`~modelzoo.toolkit.imagedata.ImageIndex` (labels: sorted names)."""
    from modelzoo.toolkit.imagedata import ImageIndex

    names = sorted(record["split"])
    paths, labels = [], []
    for label, name in enumerate(names):
        for jpg in record["split"][name][part]:
            paths.append(str(out / "images" / name / _png_name(jpg)))
            labels.append(label)
    return ImageIndex(paths=paths, labels=labels, class_names=names, root=str(out / "images"))
