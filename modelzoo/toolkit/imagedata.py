"""Model-agnostic image input: class-folder index, a pre-decoded uint8 cache, on-device augmentation.

For any plugin whose data is images with integer labels. The host only decodes images to
uint8 CHW tensors (or reads them from a pre-decoded memmap); everything per-pixel in
floating point (crop, flip, normalization, jitter) runs after the host-to-device copy in
:class:`DeviceAugment`, on the card. Imports torch and OpenCV: only training workers and
plugins' data hooks import it, never the CLI (``modelzoo list`` stays instant).

Public API::

    ImageIndex(paths, labels, class_names, root="")       # labels follow sorted class names
    scan_class_folders(root, exts=(".png", ".jpg", ".jpeg"), classes=None, min_images=1,
                       remedy="check the path") -> ImageIndex
    decode_image(path, resize_to=None) -> uint8 HxWx3 RGB array
    ImageIndexDataset(index, resize_to=None)               # item: (uint8 CHW RGB tensor, int label)
    DecodedCache.open(index, cache_dir, resize_to=None, workers=None, log=None) -> DecodedCache
    DecodedCache.dataset() -> CachedDataset                # same items as ImageIndexDataset
    DeviceAugment(crop, train=True, flip=True, mean=127.5, std=128.0, ...)  # uint8 NCHW -> float
    make_train_loader(dataset, batch_size, ...) -> DataLoader
    worker_init(worker_id)                                 # DataLoader worker_init_fn
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from modelzoo.contract.api import UserError
from modelzoo.store import safe_load
from modelzoo.toolkit.imageheader import pixel_problem

DEFAULT_EXTS = (".png", ".jpg", ".jpeg")
CACHE_FORMAT = 1  # bump when the cache layout changes: old caches then miss and rebuild
# ImageNet's per-channel statistics in pixel units (0-255): torchvision's Normalize values x 255.
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


# --- The index ------------------------------------------------------------------------

@dataclass
class ImageIndex:
    """Image paths with integer labels; ``class_names[label]`` names the class (its folder).

    Labels follow the sorted class names, so the same folders always give the same labels
    (a checkpoint's classifier rows stay meaningful across machines).
    """

    paths: list[str]
    labels: list[int]
    class_names: list[str]
    root: str = ""

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> np.ndarray:
        """Images per class, indexed by label."""
        return np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=self.num_classes)


def class_folders(root: Path) -> list[Path]:
    """The sub-folders of ``root`` in name order, hidden ones left out."""
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def scan_class_folders(root: str | os.PathLike, exts: Sequence[str] = DEFAULT_EXTS,
                       classes: Optional[set[str]] = None, min_images: int = 1,
                       remedy: str = "check the path") -> ImageIndex:
    """Index ``root/<class>/*.<ext>`` (extensions compared case-insensitively).

    ``classes`` restricts the scan to those folder names; classes with fewer than
    ``min_images`` images are left out. Files within a folder are sorted by name. Raises
    :class:`UserError` ending with ``remedy`` when ``root`` is missing or yields no image.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"data not found: {root} is not a directory; {remedy}")
    wanted = tuple(e.lower() for e in exts)
    paths, labels, names = [], [], []
    for folder in class_folders(root):
        if classes is not None and folder.name not in classes:
            continue
        files = sorted(f.name for f in os.scandir(folder) if f.is_file() and f.name.lower().endswith(wanted))
        if len(files) < max(1, min_images):
            continue
        label = len(names)
        names.append(folder.name)
        paths.extend(str(folder / f) for f in files)
        labels.extend([label] * len(files))
    if not paths:
        what = f" for the {len(classes)} requested classes" if classes is not None else ""
        raise UserError(f"no images ({', '.join(wanted)}) in class folders under {root}{what} "
                        f"with at least {min_images} images each; {remedy}")
    return ImageIndex(paths=paths, labels=labels, class_names=names, root=str(root))


# --- Decoding -------------------------------------------------------------------------

_CV2_CONFIGURED_PID: Optional[int] = None


def worker_init(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: no OpenCV thread pool inside a worker process.

    N workers x cv2's own threads oversubscribe the cores; the parallelism is the workers.
    """
    global _CV2_CONFIGURED_PID
    cv2.setNumThreads(0)
    _CV2_CONFIGURED_PID = os.getpid()


def ensure_worker_init() -> None:
    """For a Dataset's ``__getitem__``: run :func:`worker_init` once in a loader worker whose
    DataLoader was built without it (the core's trainer builds its own loader)."""
    if _CV2_CONFIGURED_PID != os.getpid() and torch.utils.data.get_worker_info() is not None:
        worker_init()


def decode_image(path: str, resize_to: Optional[int | tuple[int, int]] = None) -> np.ndarray:
    """Read an image as a uint8 HxWx3 RGB array (grayscale expanded, alpha dropped)."""
    data = np.fromfile(path, dtype=np.uint8)  # np.fromfile + imdecode also handles non-ASCII paths
    too_large = pixel_problem(data[:65536].tobytes())  # from its header, never after a 1.2 GB decode
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size and not too_large else None
    if image is None:
        what = f"image {path} is {too_large}" if too_large else f"cannot decode image {path}"
        raise UserError(f"{what}; delete or replace the file (or re-run 'modelzoo prepare')")
    if resize_to is not None:
        h, w = (resize_to, resize_to) if isinstance(resize_to, int) else resize_to
        if image.shape[:2] != (h, w):
            shrink = h < image.shape[0] or w < image.shape[1]
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ImageIndexDataset(Dataset):
    """Items ``(uint8 tensor 3xHxW RGB, int label)`` decoded from an :class:`ImageIndex`.

    Images are returned at their stored size (e.g. 182x182) unless ``resize_to`` (an int
    or ``(h, w)``) is given, e.g. to train at 96 px from 182 px sources. All images of a
    batch must have one size: prepared sets do; use ``resize_to`` for mixed sources.
    Cropping, flipping and standardization happen later, on the device (:class:`DeviceAugment`).
    """

    def __init__(self, index: ImageIndex, resize_to: Optional[int | tuple[int, int]] = None):
        self.index = index
        self.resize_to = resize_to
        self.labels = index.labels
        self.num_classes = index.num_classes

    def __len__(self) -> int:
        return len(self.index.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        ensure_worker_init()
        image = decode_image(self.index.paths[i], self.resize_to)
        return torch.from_numpy(image).permute(2, 0, 1), self.index.labels[i]


# --- The pre-decoded cache ------------------------------------------------------------

def _cache_key(index: ImageIndex, resize_to) -> str:
    """Hash of everything the cache content depends on: files (path, size, mtime), labels, size."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": CACHE_FORMAT, "resize_to": resize_to,
                         "classes": index.class_names}).encode())
    for path, label in zip(index.paths, index.labels):
        st = os.stat(path)
        h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{label}\n".encode())
    return h.hexdigest()


def _remove_dead_temps(folder: Path, prefix: str) -> None:
    """Delete ``<prefix><pid>`` folders whose process is gone (a build that was killed)."""
    for path in folder.glob(prefix + "*"):
        pid = path.name[len(prefix):]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


class DecodedCache:
    """The whole data set decoded once into a uint8 memmap ``(N, H, W, 3)`` RGB.

    Decoding PNG/JPEG is usually the host's first limit; repeated benchmark runs instead
    read the memmap (page cache, no decode). The cache lives in
    ``cache_dir/decoded-<key>/`` where the key hashes the file list with each file's size
    and mtime, the labels and ``resize_to``: any change to the files gives a new key and a
    rebuild. It is built in a temporary folder and renamed into place, so a killed build
    never leaves a cache that looks complete. Size: N x H x W x 3 bytes (CASIA-WebFace at
    182 px: about 49 GB; at ``resize_to=96``: about 14 GB).

    Use :meth:`open` (build or reuse), then :meth:`dataset`. Under DDP, open it on rank 0
    before the barrier that follows the data hook; the other ranks' ``open`` then reuses it.
    """

    def __init__(self, path: Path, images: np.ndarray, labels: np.ndarray,
                 class_names: list[str], built: bool):
        self.path = path
        self.images = images
        self.labels = labels
        self.class_names = class_names
        self.built = built  # True when this open() decoded the set, False when it reused one

    @classmethod
    def open(cls, index: ImageIndex, cache_dir: str | os.PathLike,
             resize_to: Optional[int | tuple[int, int]] = None, workers: Optional[int] = None,
             log: Optional[Callable[[str], None]] = None) -> DecodedCache:
        """Reuse the cache for ``index`` under ``cache_dir``, building it first if needed.

        ``workers`` decoding threads (cv2 releases the GIL; default: the CPU count).
        Safe against concurrent builders: the first complete rename wins, the others'
        copies are discarded.
        """
        if isinstance(resize_to, tuple):
            resize_to = tuple(int(v) for v in resize_to)
        key = _cache_key(index, list(resize_to) if isinstance(resize_to, tuple) else resize_to)
        cache_dir = Path(cache_dir)
        final = cache_dir / f"decoded-{key[:24]}"
        built = False
        if not (final / "meta.json").is_file():
            cls._build(index, key, cache_dir, final, resize_to, workers, log)
            built = True
        meta = safe_load.json_file_or_none(final / "meta.json")
        images = np.load(final / "images.npy", mmap_mode="r")
        labels = np.load(final / "labels.npy")
        if not isinstance(meta, dict) or images.shape[0] != len(index) or meta.get("key") != key:
            raise UserError(f"decoded cache {final} is inconsistent; delete that folder and rerun")
        return cls(final, images, labels, list(meta["class_names"]), built)

    @staticmethod
    def _build(index: ImageIndex, key: str, cache_dir: Path, final: Path, resize_to, workers, log) -> None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _remove_dead_temps(cache_dir, f".{final.name}.tmp-")
        tmp = cache_dir / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            first = decode_image(index.paths[0], resize_to)
            h, w = first.shape[:2]
            n = len(index)
            if log:
                log(f"building decoded cache: {n} images {h}x{w} "
                    f"({n * h * w * 3 / 2**30:.2f} GiB) in {final}")
            images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                               shape=(n, h, w, 3))
            chunk = 1024

            def fill(start: int) -> int:
                for i in range(start, min(start + chunk, n)):
                    image = decode_image(index.paths[i], resize_to)
                    if image.shape[:2] != (h, w):
                        raise UserError(f"image {index.paths[i]} is {image.shape[1]}x{image.shape[0]}, "
                                        f"not {w}x{h} like the others; pass resize_to to the cache")
                    images[i] = image
                return min(start + chunk, n) - start

            threads = workers or os.cpu_count() or 1
            done, next_report, started = 0, n / 10, time.perf_counter()
            with ThreadPoolExecutor(max_workers=threads) as pool:  # cv2 decodes without the GIL
                for count in pool.map(fill, range(0, n, chunk)):
                    done += count
                    if log and done >= next_report and done < n:
                        next_report += n / 10
                        log(f"decoded cache: {done}/{n} images, "
                            f"{done / (time.perf_counter() - started):.0f} images/s")
            images.flush()
            images = None  # drop the memmap (closing the file) before the rename
            np.save(tmp / "labels.npy", np.asarray(index.labels, dtype=np.int64))
            (tmp / "meta.json").write_text(json.dumps({
                "key": key, "format": CACHE_FORMAT, "count": n, "height": h, "width": w,
                "resize_to": resize_to, "root": index.root, "class_names": index.class_names,
            }))
            try:
                os.rename(tmp, final)
            except OSError:
                if not (final / "meta.json").is_file():  # not a lost race: a stale partial folder
                    shutil.rmtree(final, ignore_errors=True)
                    os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def __len__(self) -> int:
        return self.images.shape[0]

    def dataset(self) -> CachedDataset:
        return CachedDataset(self.path / "images.npy", self.labels.tolist(), len(self.class_names))


class CachedDataset(Dataset):
    """Items ``(uint8 tensor 3xHxW RGB, int label)`` read from a :class:`DecodedCache` memmap.

    Identical to :class:`ImageIndexDataset` over the same index. ``__getitems__``
    (used by the DataLoader's batched fetch) reads a whole batch in one memmap gather.
    Pickles as the file path (a spawned worker maps the file itself instead of receiving
    a copy of the whole array).
    """

    def __init__(self, images_path: str | os.PathLike, labels: Sequence[int], num_classes: int):
        self.images_path = str(images_path)
        self.labels = [int(v) for v in labels]
        self.num_classes = num_classes
        self._images: Optional[np.ndarray] = None

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = np.load(self.images_path, mmap_mode="r")
        return self._images

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_images": None}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.array(self.images[i])).permute(2, 0, 1), self.labels[i]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx, kind="stable")  # sorted reads are sequential in the file
        block = np.empty((len(idx),) + self.images.shape[1:], dtype=np.uint8)
        block[order] = self.images[idx[order]]
        batch = torch.from_numpy(block).permute(0, 3, 1, 2)
        return [(batch[j], self.labels[i]) for j, i in enumerate(indices)]


# --- On-device augmentation -----------------------------------------------------------

def _per_channel(name: str, value: float | Sequence[float]) -> tuple[float, float, float]:
    """A scalar or an RGB triple as three floats."""
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"{name} must be one number or three (R, G, B), got {value!r}")
    return values


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def crop_flip_gather(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor,
                     ch: int, cw: int) -> torch.Tensor:
    """Per-sample crop windows ``[top, top+ch) x [left, left+cw)``, mirrored where ``flip``.

    One gather over each image's flattened pixels does crop and flip for the whole batch in
    a single kernel (no per-sample launches): the accelerator path.
    """
    n, c, h, w = x.shape
    dev = x.device
    rows = top[:, None] + torch.arange(ch, device=dev)                      # (n, ch)
    cols = torch.arange(cw, device=dev).expand(n, cw)
    cols = left[:, None] + torch.where(flip[:, None], cw - 1 - cols, cols)  # mirror = read right to left
    flat = (rows[:, :, None] * w + cols[:, None, :]).view(n, 1, ch * cw).expand(n, c, ch * cw)
    return x.reshape(n, c, h * w).gather(2, flat).view(n, c, ch, cw)


def crop_flip_copy(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor,
                   ch: int, cw: int) -> torch.Tensor:
    """Same result as :func:`crop_flip_gather` by slicing each sample: the CPU path.

    On a CPU, copying contiguous row slices runs about 4x faster than the gather's
    per-element int64 indexing (bench/pipeline_bench.py: 182 -> 160, batch 256, 1 thread:
    ~15,000 vs ~3,500 images/s), and a Python step per sample costs only microseconds.
    """
    out = torch.empty((x.shape[0], x.shape[1], ch, cw), dtype=x.dtype, device=x.device)
    for i, (t, l, f) in enumerate(zip(top.tolist(), left.tolist(), flip.tolist())):
        window = x[i, :, t:t + ch, l:l + cw]
        out[i] = window.flip(2) if f else window
    return out


class DeviceAugment(nn.Module):
    """uint8 NCHW batch -> standardized float NCHW batch, on the batch's device.

    Training mode (``train=True`` or ``.train()``): a random ``crop`` window per sample
    (offsets uniform over all valid positions, as ``tf.random_crop``) and a random
    horizontal flip per sample (one batched gather on accelerators, row-slice copies on
    the CPU, where they are faster: :func:`crop_flip_gather`, :func:`crop_flip_copy`);
    optional per-sample brightness (additive, ``+-brightness x 255``) and contrast
    (``x1 +- contrast`` about the image mean) jitter, off by default, for small data sets.
    Evaluation mode (``train=False`` or ``.eval()``): the centre crop, no flip, no jitter.
    Then normalization ``(x - mean) / std`` in pixel units (default: the fixed
    standardization ``(x - 127.5) / 128``; ``mean``/``std`` may also be per-channel RGB
    triples, e.g. :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD`) and, if ``output_size``
    is given, a bilinear (antialiased when shrinking) resize.

    ``scale`` / ``rotate`` (training only, off by default): the crop window is also scaled
    by a factor uniform in ``1 +- scale`` and turned by an angle uniform in ``+-rotate``
    degrees about its (randomly placed) centre, all in one bilinear resampling per batch
    (:meth:`_random_affine`); pixels from outside the image read as ``mean``. For small
    data sets where a few pixels of shift are too little to stop memorization. ``erase``
    (training only): the probability of blanking one random rectangle per sample
    (:meth:`_random_erase`).

    ``generator``: an optional ``torch.Generator`` for reproducible draws (on any device;
    the small random tensors are moved to the batch's device). ``channels_last`` returns
    the batch in that memory format (often faster convolutions on GPUs with AMP).
    """

    def __init__(self, crop: int | tuple[int, int], *, train: bool = True, flip: bool = True,
                 output_size: Optional[int | tuple[int, int]] = None, brightness: float = 0.0,
                 contrast: float = 0.0, scale: float = 0.0, rotate: float = 0.0, erase: float = 0.0,
                 mean: float | Sequence[float] = 127.5, std: float | Sequence[float] = 128.0,
                 generator: Optional[torch.Generator] = None, channels_last: bool = False):
        super().__init__()
        self.crop = _pair(crop)
        self.flip = flip
        self.output_size = _pair(output_size) if output_size is not None else None
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        if not 0.0 <= scale < 1.0:
            raise ValueError(f"scale must be in [0, 1), got {scale}")
        self.scale = float(scale)
        self.rotate = float(rotate)
        if not 0.0 <= erase <= 1.0:
            raise ValueError(f"erase must be a probability in [0, 1], got {erase}")
        self.erase = float(erase)
        self.mean = _per_channel("mean", mean)
        self.std = _per_channel("std", std)
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {std}")
        self._per_channel: dict = {}
        self.generator = generator
        self.channels_last = channels_last
        self.train(train)

    def extra_repr(self) -> str:
        return (f"crop={self.crop}, flip={self.flip}, output_size={self.output_size}, "
                f"brightness={self.brightness}, contrast={self.contrast}, scale={self.scale}, "
                f"rotate={self.rotate}, erase={self.erase}, training={self.training}")

    def _rand(self, n: int, device: torch.device) -> torch.Tensor:
        """n uniform [0, 1) draws on ``device``."""
        if self.generator is None:
            return torch.rand(n, device=device)
        return torch.rand(n, generator=self.generator, device=self.generator.device).to(device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"DeviceAugment expects an N x 3 x H x W batch, got {tuple(x.shape)}")
        n, _, h, w = x.shape
        ch, cw = self.crop
        if ch > h or cw > w:
            raise ValueError(f"crop {ch}x{cw} is larger than the images ({h}x{w})")
        if self.training and (self.scale > 0 or self.rotate > 0):
            x = self._random_affine(x, ch, cw)
        else:
            x = self._crop_resize(x, ch, cw)
        if self.training and self.erase > 0:
            x = self._random_erase(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _crop_resize(self, x: torch.Tensor, ch: int, cw: int) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.training:
            x = self._random_crop_flip(x, ch, cw)
        else:
            top, left = (h - ch) // 2, (w - cw) // 2
            x = x[:, :, top:top + ch, left:left + cw]
        x = self._standardized(x)
        if self.output_size is not None and tuple(x.shape[-2:]) != self.output_size:
            shrink = self.output_size[0] < x.shape[-2] or self.output_size[1] < x.shape[-1]
            x = F.interpolate(x, size=self.output_size, mode="bilinear", align_corners=False,
                              antialias=shrink)
        return x

    def _standardized(self, x: torch.Tensor) -> torch.Tensor:
        """A new float tensor (the caller's batch is never written), jittered in training."""
        x = x.float() if x.dtype != torch.float32 else x.clone()
        if self.training and (self.brightness > 0 or self.contrast > 0):
            x = self._jitter(x)
        if len(set(self.mean)) == 1 and len(set(self.std)) == 1:  # one scalar op each, no broadcast
            return x.sub_(self.mean[0]).mul_(1.0 / self.std[0])
        key = (x.device, x.dtype)
        if key not in self._per_channel:  # made once per device: a host-to-card copy per step would sync
            self._per_channel[key] = (torch.tensor(self.mean, dtype=x.dtype).view(1, 3, 1, 1).to(x.device),
                                      (1.0 / torch.tensor(self.std, dtype=x.dtype)).view(1, 3, 1, 1).to(x.device))
        mean, scale = self._per_channel[key]
        return x.sub_(mean).mul_(scale)

    def _random_erase(self, x: torch.Tensor) -> torch.Tensor:
        """With probability ``erase`` per sample, one rectangle (2-25% of the image, aspect
        0.3-3.3) set to ``mean`` (0 after normalization), as Zhong et al.'s random erasing."""
        n, _, h, w = x.shape
        u = self._rand(5 * n, x.device).view(5, n)
        area = (0.02 + u[0] * 0.23) * h * w
        aspect = torch.exp(math.log(0.3) + u[1] * (math.log(3.3) - math.log(0.3)))
        eh = (area * aspect).sqrt().clamp(1, h).long()
        ew = (area / aspect).sqrt().clamp(1, w).long()
        top = (u[2] * (h - eh + 1)).long()
        left = (u[3] * (w - ew + 1)).long()
        rows = torch.arange(h, device=x.device)[None, :]
        cols = torch.arange(w, device=x.device)[None, :]
        in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
        in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
        mask = in_rows[:, :, None] & in_cols[:, None, :] & (u[4] < self.erase)[:, None, None]
        return x.masked_fill(mask[:, None], 0.0)

    def _random_crop_flip(self, x: torch.Tensor, ch: int, cw: int) -> torch.Tensor:
        n, _, h, w = x.shape
        u = self._rand(3 * n, x.device).view(3, n)
        top = (u[0] * (h - ch + 1)).long().clamp_(max=h - ch)
        left = (u[1] * (w - cw + 1)).long().clamp_(max=w - cw)
        flip = u[2] < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool, device=x.device)
        if x.device.type == "cpu":
            return crop_flip_copy(x, top, left, flip, ch, cw)
        return crop_flip_gather(x, top, left, flip, ch, cw)

    def _random_affine(self, x: torch.Tensor, ch: int, cw: int) -> torch.Tensor:
        """Crop window shifted, scaled, turned and mirrored per sample, resampled once."""
        n, _, h, w = x.shape
        out_h, out_w = self.output_size or (ch, cw)
        x = self._standardized(x)
        shrink = min(out_h / ch, out_w / cw)
        if shrink < 1.0:
            # Antialiased shrink first: bilinear sampling alone would alias a 1.6x reduction.
            x = F.interpolate(x, size=(max(1, round(h * shrink)), max(1, round(w * shrink))),
                              mode="bilinear", align_corners=False, antialias=True)
        u = self._rand(5 * n, x.device).view(5, n)
        zoom = 1.0 + (2 * u[0] - 1) * self.scale
        angle = (2 * u[1] - 1) * math.radians(self.rotate)
        mirror = torch.where(u[4] < 0.5, -1.0, 1.0) if self.flip else torch.ones_like(u[4])
        cos, sin = torch.cos(angle), torch.sin(angle)
        # affine_grid maps output to input coordinates, both normalized to [-1, 1]; in pixels
        # the window's half-extent (cw/2, ch/2), zoomed, rotated, then put back in [-1, 1].
        half_w, half_h = zoom * cw / w, zoom * ch / h
        theta = torch.stack([
            torch.stack([cos * half_w * mirror, -sin * half_h * h / w, (2 * u[2] - 1) * (w - cw) / w], 1),
            torch.stack([sin * half_w * mirror * w / h, cos * half_h, (2 * u[3] - 1) * (h - ch) / h], 1),
        ], 1)
        grid = F.affine_grid(theta, [n, 3, out_h, out_w], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        u = self._rand(2 * n, x.device).view(2, n, 1, 1, 1)
        if self.contrast > 0:
            factor = 1.0 + (2 * u[0] - 1) * self.contrast
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * factor + mean
        if self.brightness > 0:
            x = x + (2 * u[1] - 1) * (self.brightness * 255.0)
        return x.clamp(0.0, 255.0)


# --- Loader helper (benchmarks) -------------------------------------------------------

def make_train_loader(dataset: Dataset, batch_size: int, *, sampler=None, batch_sampler=None,
                      shuffle: Optional[bool] = None, num_workers: int = 0, pin_memory: bool = False,
                      persistent_workers: bool = False, prefetch_factor: Optional[int] = None,
                      drop_last: bool = True, generator: Optional[torch.Generator] = None) -> DataLoader:
    """A DataLoader wired for this pipeline (cv2-safe workers, batched fetch, uint8 batches).

    The core's trainer builds its own loader; this helper serves the benchmark and scripts.
    """
    kwargs: dict = {"num_workers": num_workers, "pin_memory": pin_memory,
                    "worker_init_fn": worker_init if num_workers > 0 else None}
    if num_workers > 0:
        kwargs["persistent_workers"] = persistent_workers
        if prefetch_factor is not None:
            kwargs["prefetch_factor"] = prefetch_factor
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, **kwargs)
    if shuffle is None:
        shuffle = sampler is None
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                      shuffle=shuffle if sampler is None else False, drop_last=drop_last,
                      generator=generator, **kwargs)
