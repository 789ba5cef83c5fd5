"""ImageNet as the zoo lays it out: the layout check, the index, and the loaders' datasets.

Accepted layout under RAW (the zoo's ResNet-50 README)::

    train/<wnid>/*.JPEG            class folders; labels follow the sorted folder names
    train_list.txt                 optional: "relative_path label" per line (its labels win,
                                   checked against the folders)
    val/<wnid>/*.JPEG              class folders with the train folders' names, or
    val/*.JPEG + val_list.txt      flat, labelled by "relative_path label" lines

List paths may be relative to RAW or to the split's folder. ``prepare`` checks every
image (``header``: a non-empty file with an image signature; ``decode``: a full decode),
lists the unreadable ones in ``failures.txt`` without failing, and writes the index the
loader reads instead of scanning 1.3 million files per run::

    <index_dir>/index.json          root, classes, counts, how val was labelled
    <index_dir>/train.csv, val.csv  path (relative to root), label
    <index_dir>/failures.txt        unreadable or missing images and why

The training dataset decodes and applies torchvision's RandomResizedCrop on the host
(it needs the original image), yielding uint8 224x224; flip and normalization run on the
device (:class:`modelzoo.toolkit.imagedata.DeviceAugment`). Validation: shorter side resized to
256, centre crop 224.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from modelzoo.contract.api import PrepareResult, UserError
from modelzoo.store import safe_load
from modelzoo.store.records import write_atomic
from modelzoo.toolkit.imageheader import pixel_problem

INDEX_FORMAT = 1
IMAGE_EXTS = (".jpeg", ".jpg", ".png")
LIST_FORMAT = "lines 'relative_path label'"
# File signatures of the formats OpenCV decodes that ImageNet holds (JPEG; one PNG and a
# few CMYK JPEGs hide among the .JPEG files).
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")
HEADER_BYTES = 65536  # where a JPEG states its size, after its EXIF segments


@dataclass
class Split:
    """One split's images: paths relative to the root, integer labels."""

    paths: list[str]
    labels: list[int]


# --- The layout check ----------------------------------------------------------------

def _class_dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name)


def _images_in(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(IMAGE_EXTS))


def read_list(path: Path, root: Path, split: str) -> Split:
    """A ``relative_path label`` list; each path resolved against ``root`` or ``root/split``."""
    paths, labels = [], []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise UserError(f"{path}:{number}: expected 'relative_path label', got {line.strip()[:80]!r}; "
                            f"fix the line ({LIST_FORMAT})")
        relative = parts[0].strip()
        if not (root / relative).exists() and (root / split / relative).exists():
            relative = f"{split}/{relative}"
        paths.append(relative)
        labels.append(int(parts[1]))
    if not paths:
        raise UserError(f"{path} lists no images; fill it ({LIST_FORMAT}) or delete it")
    return Split(paths, labels)


def _folder_split(root: Path, split: str, classes: list[str]) -> Split:
    """``split/<class>/*`` labelled by the position of the folder's name in ``classes``."""
    position = {name: label for label, name in enumerate(classes)}
    paths, labels = [], []
    for folder in _class_dirs(root / split):
        if folder.name not in position:
            raise UserError(f"{root / split / folder.name} is not one of the {len(classes)} train classes; "
                            f"remove it or add {root / 'train' / folder.name}")
        for name in _images_in(folder):
            paths.append(f"{split}/{folder.name}/{name}")
            labels.append(position[folder.name])
    return Split(paths, labels)


def _check_list_against_folders(listed: Split, classes: list[str], list_file: Path) -> None:
    """A list whose labels contradict the class folders (1-based labels, another class order) is an error."""
    position = {name: label for label, name in enumerate(classes)}
    wrong = [(p, l) for p, l in zip(listed.paths, listed.labels)
             if Path(p).parent.name in position and position[Path(p).parent.name] != l]
    if wrong:
        path, label = wrong[0]
        raise UserError(f"{list_file}: {len(wrong)} labels disagree with the class folders (e.g. {path} is "
                        f"{label}, its folder is class {position[Path(path).parent.name]} in sorted order); "
                        "fix the list or delete it to label by folder")


def scan_layout(raw: Path) -> tuple[list[str], Split, Split, str]:
    """Classes, train and val splits and how val is labelled (``folders`` or ``list``); UserError on a bad layout."""
    if not raw.is_dir():
        raise UserError(f"ImageNet folder not found: {raw}; pass --imagenet DIR holding train/ and val/")
    for split in ("train", "val"):
        if not (raw / split).is_dir():
            raise UserError(f"{raw} has no {split}/ folder; pass --imagenet the folder that holds train/ and "
                            "val/ (the zoo README's layout)")
    classes = [p.name for p in _class_dirs(raw / "train")]
    train_list = raw / "train_list.txt"
    if train_list.is_file():
        train = read_list(train_list, raw, "train")
        if classes:
            _check_list_against_folders(train, classes, train_list)
        else:  # a flat train/ labelled by the list alone
            classes = [f"class_{k:04d}" for k in range(max(train.labels) + 1)]
    elif classes:
        train = _folder_split(raw, "train", classes)
    else:
        raise UserError(f"{raw / 'train'} has no class folders and {train_list} is missing; sort the training "
                        f"images into train/<wnid>/ folders or add train_list.txt ({LIST_FORMAT})")
    val_list = raw / "val_list.txt"
    val_classes = _class_dirs(raw / "val")
    if val_classes:
        val, form = _folder_split(raw, "val", classes), "folders"
        if val_list.is_file():
            _check_list_against_folders(read_list(val_list, raw, "val"), classes, val_list)
    elif val_list.is_file():
        val, form = read_list(val_list, raw, "val"), "list"
    else:
        flat = len(_images_in(raw / "val"))
        raise UserError(f"{raw / 'val'} holds {flat} images in no class folders and {val_list} is missing: "
                        f"add val_list.txt ({LIST_FORMAT}) or sort val/ into class folders")
    for name, split in (("train", train), ("val", val)):
        bad = [l for l in split.labels if not 0 <= l < len(classes)]
        if bad:
            raise UserError(f"{name} labels must be 0..{len(classes) - 1} (one per train class), found {bad[0]}; "
                            "fix the list file")
        if not split.paths:
            raise UserError(f"no {name} images under {raw / name}; check the --imagenet folder")
    return classes, train, val, form


# --- Image check ---------------------------------------------------------------------

def header_problem(path: Path) -> Optional[str]:
    """Why ``path`` cannot be an image we decode (missing, empty, no known signature, a size
    over the pixel limit in its header), or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if not head:
        return "empty file"
    if not any(head.startswith(sig) for sig in _SIGNATURES):
        return "not a JPEG/PNG/GIF/BMP file"
    too_large = pixel_problem(head)
    return f"too large: {too_large}" if too_large else None


def decode_problem(path: Path) -> Optional[str]:
    """Why OpenCV cannot decode ``path``, or None."""
    problem = header_problem(path)
    if problem:
        return problem
    import cv2

    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
    return None if image is not None and image.size else "OpenCV cannot decode it"


def check_images(root: Path, relative: list[str], how: str, workers: int,
                 log: Optional[Callable[[str], None]] = None) -> dict[str, str]:
    """``{relative path: problem}`` for the images that fail ``how`` (``header`` or ``decode``)."""
    check = {"header": header_problem, "decode": decode_problem}[how]
    problems: dict[str, str] = {}
    started, step = time.perf_counter(), max(1, len(relative) // 10)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # file reads and cv2 release the GIL
        for i, (path, problem) in enumerate(zip(relative, pool.map(lambda p: check(root / p), relative,
                                                                    chunksize=256))):
            if problem:
                problems[path] = problem
            if log and (i + 1) % step == 0 and i + 1 < len(relative):
                log(f"checked {i + 1}/{len(relative)} images ({how}), "
                    f"{(i + 1) / (time.perf_counter() - started):.0f}/s, {len(problems)} problems")
    return problems


# --- prepare --imagenet --------------------------------------------------------------

def _csv_text(split: Split) -> str:
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("path", "label"))
    writer.writerows(zip(split.paths, split.labels))
    return buffer.getvalue()


def _without(split: Split, problems: dict[str, str]) -> Split:
    rows = [i for i, path in enumerate(split.paths) if path not in problems]
    return Split([split.paths[i] for i in rows], [split.labels[i] for i in rows])


def prepare_imagenet(raw: Path, index_dir: Path, *, check: str = "header", workers: int = 8,
                     log: Callable[[str], None] = print) -> PrepareResult:
    """Check ``raw``'s layout and images; write the index under ``index_dir`` (see the module docstring)."""
    started = time.perf_counter()
    raw = raw.resolve()
    classes, train, val, form = scan_layout(raw)
    log(f"{raw}: {len(classes)} classes, {len(train.paths)} train and {len(val.paths)} val images "
        f"(val labelled by {'class folders' if form == 'folders' else 'val_list.txt'}); checking images ({check})")
    problems = check_images(raw, train.paths + val.paths, check, workers, log)
    kept = {"train": _without(train, problems), "val": _without(val, problems)}
    for name, split in kept.items():
        if not split.paths:
            raise UserError(f"every {name} image failed the check; see the listed problems and check --imagenet")
    index_dir.mkdir(parents=True, exist_ok=True)
    failures = index_dir / "failures.txt"
    write_atomic(failures, "".join(f"{path}\t{why}\n" for path, why in sorted(problems.items())))
    for name, split in kept.items():
        write_atomic(index_dir / f"{name}.csv", _csv_text(split))
    meta = {"format": INDEX_FORMAT, "root": str(raw), "classes": classes, "val_labels": form, "check": check,
            "train_images": len(kept["train"].paths), "val_images": len(kept["val"].paths),
            "failures": len(problems), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_atomic(index_dir / "index.json", json.dumps(meta, indent=1))  # last: its presence means complete
    return PrepareResult(outputs={"imagenet index": str(index_dir)},
                         processed=len(train.paths) + len(val.paths) - len(problems), skipped=0,
                         failed=len(problems), failures_file=str(failures), seconds=time.perf_counter() - started)


# --- Reading the index ---------------------------------------------------------------

@dataclass
class ImageNetIndex:
    root: Path
    classes: list[str]
    train: Split
    val: Split
    meta: dict


def _read_csv(path: Path) -> Split:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return Split([r[0] for r in rows[1:]], [int(r[1]) for r in rows[1:]])


def read_meta(index_dir: Path, remedy: str) -> dict:
    """``index.json`` (cheap: no image list); UserError ending with ``remedy`` when missing or stale."""
    meta_file = index_dir / "index.json"
    if not meta_file.is_file():
        raise UserError(f"data not found: {meta_file}; {remedy}")
    try:
        meta = safe_load.json_file(meta_file)
    except (OSError, safe_load.UnreadableData) as exc:
        raise UserError(f"{meta_file} cannot be read ({exc}); {remedy}") from None
    if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT or not isinstance(meta.get("root"), str):
        raise UserError(f"{meta_file} was written by another version of the plugin; {remedy}")
    if not Path(meta["root"]).is_dir():
        raise UserError(f"the ImageNet folder {meta['root']} named in {meta_file} is gone; {remedy}")
    return meta


def read_index(index_dir: Path, remedy: str) -> ImageNetIndex:
    """The index ``prepare`` wrote; UserError ending with ``remedy`` when it is missing or stale."""
    meta = read_meta(index_dir, remedy)
    return ImageNetIndex(Path(meta["root"]), list(meta["classes"]), _read_csv(index_dir / "train.csv"),
                         _read_csv(index_dir / "val.csv"), meta)


# --- Datasets --------------------------------------------------------------------------

def _decode(path: str):
    """uint8 CHW RGB tensor (OpenCV decode; grayscale and CMYK files come out RGB)."""
    import torch

    from modelzoo.toolkit import imagedata

    imagedata.ensure_worker_init()  # one OpenCV thread per loader worker: the workers are the parallelism
    return torch.from_numpy(imagedata.decode_image(path)).permute(2, 0, 1)


class _Files:
    """Paths and labels as numpy arrays: 1.3 million Python strings would be copied into every
    forked loader worker page by page as their reference counts change; arrays are not."""

    def __init__(self, root: Path, split: Split):
        self.root = str(root)
        self.paths = np.array([p.encode() for p in split.paths])
        self.labels = np.asarray(split.labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, i: int) -> str:
        return os.path.join(self.root, self.paths[i].decode())


class RandomResizedCropDataset(_Files):
    """Training items ``(uint8 3 x size x size, label)``: decode, then torchvision's
    RandomResizedCrop (area ``scale``, aspect ``ratio``, bilinear with antialiasing), as
    torchvision's reference recipe does before its flip. Draws use torch's RNG, which the
    DataLoader seeds per worker."""

    def __init__(self, root: Path, split: Split, size: int = 224, scale: tuple = (0.08, 1.0),
                 ratio: tuple = (3 / 4, 4 / 3)):
        super().__init__(root, split)
        self.size, self.scale, self.ratio = size, tuple(scale), tuple(ratio)

    def __getitem__(self, i: int):
        from torchvision.transforms import InterpolationMode, RandomResizedCrop
        from torchvision.transforms.v2 import functional as TF

        image = _decode(self.path(i))
        top, left, h, w = RandomResizedCrop.get_params(image, self.scale, self.ratio)
        crop = TF.resized_crop(image, top, left, h, w, [self.size, self.size],
                               interpolation=InterpolationMode.BILINEAR, antialias=True)
        return crop, int(self.labels[i])


class ResizeCentreCropDataset(_Files):
    """Validation items ``(uint8 3 x crop x crop, label)``: shorter side to ``resize``, centre ``crop``."""

    def __init__(self, root: Path, split: Split, resize: int = 256, crop: int = 224):
        super().__init__(root, split)
        self.resize, self.crop = resize, crop

    def __getitem__(self, i: int):
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.v2 import functional as TF

        image = TF.resize(_decode(self.path(i)), [self.resize], interpolation=InterpolationMode.BILINEAR,
                          antialias=True)
        return TF.center_crop(image, [self.crop, self.crop]), int(self.labels[i])
