"""MTCNN face detection (Zhang et al. 2016), batched over many images.

Our own implementation of the three-stage cascade (PNet -> RNet -> ONet) that loads the
state dicts shipped with facenet-pytorch 2.6.0 (``pnet.pt``, ``rnet.pt``, ``onet.pt``,
MIT licence). It reproduces facenet-pytorch's ``MTCNN.detect`` (same boxes, probabilities
and landmarks up to float rounding) with the parameters of docs/PROTOCOLS.md (face alignment):

- minimum face 20 px, thresholds 0.6 / 0.7 / 0.7, pyramid factor 0.709,
  inputs scaled ``(x - 127.5) * 0.0078125``;
- NMS IoU 0.5 within each pyramid scale, 0.7 across scales, 0.7 after RNet and 0.7 by
  the "Min" overlap rule (intersection / smaller area) after ONet;
- the RNet/ONet crops are the clipped box areas resized to 24/48 px by area averaging
  (``interpolate(mode="area")``), like facenet-pytorch.

What makes it fast (facenet-pytorch runs the RNet/ONet crops one box at a time in
Python and does the last NMS in a Python loop):

- images of the same size are stacked and go through each pyramid scale of PNet
  together; images of different sizes form separate groups in the same call;
- every candidate box of a group is cropped and resized in one vectorised gather from an
  integer summed-area table (exact area averages), and RNet/ONet run on all the crops of
  the group at once;
- NMS is torchvision's ``batched_nms`` (one call for all images of a group), and the
  final "Min" NMS works on a precomputed overlap matrix.

Public API::

    mtcnn = MTCNN(weights_dir=None, device="cpu")
    dets = mtcnn.detect([rgb_uint8_hxwx3, ...])   # -> list[Detections], one per image

The weights are found, in order: ``weights_dir`` (a folder holding the three files), then
the installed facenet-pytorch distribution's files (located without importing the
package, whose pins clash with a modern stack). Neither: :class:`modelzoo.contract.api.UserError`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn
from torchvision.ops import batched_nms

from modelzoo.contract.api import UserError

WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")
_NORM_MEAN = 127.5
_NORM_SCALE = 0.0078125  # 1 / 128


# --- The three networks ----------------------------------------------------------------
# Module names match facenet-pytorch's so its state dicts load as they are.

class PNet(nn.Module):
    """Proposal net: fully convolutional, one 12x12 window per output cell (stride 2).

    ``forward(x)`` returns ``(reg (N,4,h,w), prob (N,2,h,w))``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), self.softmax4_1(self.conv4_1(x))


class RNet(nn.Module):
    """Refinement net on 24x24 crops. ``forward(x)`` returns ``(reg (N,4), prob (N,2))``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights were converted from a (W, H, C)-ordered framework: flatten in
        # (N, W, H, C) order or dense4 sees scrambled features.
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(nn.Module):
    """Output net on 48x48 crops.

    ``forward(x)`` returns ``(reg (N,4), landmarks (N,10), prob (N,2))``; landmarks are
    five x values then five y values, as fractions of the box.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)  # see RNet.forward
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))


# --- Weights ---------------------------------------------------------------------------

_WEIGHTS_HINT = ("pip install --no-deps facenet-pytorch==2.6.0 or pass --mtcnn-weights DIR "
                 "(a folder holding pnet.pt, rnet.pt, onet.pt)")


def _has_weights(folder: Path) -> bool:
    return all((folder / name).is_file() for name in WEIGHT_FILES)


def find_weights_dir(weights_dir: Optional[str | Path] = None) -> Path:
    """Return the folder holding ``pnet.pt``, ``rnet.pt`` and ``onet.pt``.

    An explicit ``weights_dir`` must hold all three files. Otherwise the installed
    facenet-pytorch distribution's ``facenet_pytorch/data`` folder is used, found through
    its metadata or its import spec; the package itself is never imported.
    """
    if weights_dir is not None:
        folder = Path(weights_dir).expanduser()
        if not _has_weights(folder):
            missing = [n for n in WEIGHT_FILES if not (folder / n).is_file()]
            raise UserError(f"MTCNN weights missing in {folder}: {', '.join(missing)}; "
                            f"{_WEIGHTS_HINT}")
        return folder
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution("facenet-pytorch")
        candidates.append(Path(str(dist.locate_file("facenet_pytorch/data"))))
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        # find_spec on a top-level name locates the package without executing it.
        spec = importlib.util.find_spec("facenet_pytorch")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(Path(p) / "data" for p in spec.submodule_search_locations)
    for folder in candidates:
        if _has_weights(folder):
            return folder
    raise UserError(f"MTCNN weights not found (facenet-pytorch is not installed); {_WEIGHTS_HINT}")


def _load(net: nn.Module, path: Path) -> nn.Module:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as exc:  # a truncated download or a foreign file
        raise UserError(f"cannot load MTCNN weights {path}: {exc}; {_WEIGHTS_HINT}") from None
    return net.eval()


# --- Results ---------------------------------------------------------------------------

@dataclass
class Detections:
    """The faces found in one image, highest probability first.

    ``boxes``: (n, 4) float32 ``x1, y1, x2, y2`` in source pixels (may reach slightly
    outside the image); ``probs``: (n,) float32 ONet face probabilities; ``landmarks``:
    (n, 5, 2) float32 ``(x, y)`` of left eye, right eye, nose, left and right mouth corner.
    An image without a face has n = 0.
    """

    boxes: np.ndarray
    probs: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                   np.zeros((0, 5, 2), np.float32))


# --- Box helpers (same arithmetic as facenet-pytorch, in float32 tensors) ---------------

def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (the cascade's "rerec")."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    x1 = boxes[:, 0] + w * 0.5 - side * 0.5
    y1 = boxes[:, 1] + h * 0.5 - side * 0.5
    return torch.stack([x1, y1, x1 + side, y1 + side], dim=1)


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Apply RNet/ONet box offsets (fractions of the box size, "+1" sizes as in MTCNN)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return torch.stack([boxes[:, 0] + reg[:, 0] * w, boxes[:, 1] + reg[:, 1] * h,
                        boxes[:, 2] + reg[:, 2] * w, boxes[:, 3] + reg[:, 3] * h], dim=1)


def _nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor,
         threshold: float) -> torch.Tensor:
    """IoU NMS per group (image). Float64 so that torchvision's per-group coordinate
    offsets do not round the boxes of high-numbered images."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    return batched_nms(boxes.double(), scores.double(), groups, threshold)


def _nms_min(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray,
             threshold: float) -> np.ndarray:
    """Greedy NMS per group where overlap = intersection / smaller area ("Min").

    Mirrors facenet-pytorch's per-image numpy loop, float32 arithmetic and MTCNN's
    inclusive "+1" areas included. Boxes are visited in reverse ``np.argsort`` order of
    their float32 scores, taken per image over the candidates in their incoming order:
    ONet often scores two boxes of one face exactly alike (0.99999988), and numpy's sort
    decides which one survives, so we ask it the same question the reference does.
    Returns the kept indices.
    """
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    boxes = boxes.astype(np.float32, copy=False)
    scores = scores.astype(np.float32, copy=False)
    by_group = np.argsort(groups, kind="stable")
    g = groups[by_group]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], g.size]
    kept: list[np.ndarray] = []
    for s, e in zip(starts, ends):
        members = by_group[s:e]            # this image's candidates, incoming order
        if e - s == 1:
            kept.append(members)
            continue
        bb = boxes[members]
        visit = np.argsort(scores[members])[::-1]
        bb = bb[visit]
        area = (bb[:, 2] - bb[:, 0] + 1) * (bb[:, 3] - bb[:, 1] + 1)
        iw = np.maximum(np.float32(0), np.minimum(bb[:, None, 2], bb[None, :, 2])
                        - np.maximum(bb[:, None, 0], bb[None, :, 0]) + 1)
        ih = np.maximum(np.float32(0), np.minimum(bb[:, None, 3], bb[None, :, 3])
                        - np.maximum(bb[:, None, 1], bb[None, :, 1]) + 1)
        overlap = iw * ih / np.minimum(area[:, None], area[None, :])
        alive = np.ones(e - s, dtype=bool)
        for i in range(e - s):
            if alive[i]:
                alive[i + 1:] &= overlap[i, i + 1:] <= threshold
        kept.append(members[visit[alive]])
    return np.concatenate(kept)


# --- Crops -----------------------------------------------------------------------------

def _integral(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """Integer summed-area table (B, H+1, W+1, 3) of uint8 images (B, H, W, 3).

    Exact, so the area averages taken from it are exactly those of adaptive average
    pooling. Built with numpy on the CPU (several times faster than torch.cumsum there).
    """
    b, h, w, c = batch.shape
    dtype = np.int32 if 255 * h * w < 2**31 else np.int64
    if device.type == "cpu":
        table = np.zeros((b, h + 1, w + 1, c), dtype)
        inner = table[:, 1:, 1:]
        np.cumsum(batch, axis=1, dtype=dtype, out=inner)
        np.cumsum(inner, axis=2, out=inner)
        return torch.from_numpy(table)
    tdtype = torch.int32 if dtype == np.int32 else torch.int64
    x = torch.from_numpy(batch).to(device)
    table = torch.zeros((b, h + 1, w + 1, c), dtype=tdtype, device=device)
    table[:, 1:, 1:] = x.cumsum(1, dtype=tdtype).cumsum(2, dtype=tdtype)
    return table


def _bins(n: int | torch.Tensor, size: int, device: torch.device
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive-average-pooling bins of ``size`` cells over ``n`` pixels.

    Cell i covers pixels floor(i*n/size) .. ceil((i+1)*n/size) - 1, the bins of
    ``F.adaptive_avg_pool2d`` (= ``interpolate(mode="area")``). ``n`` may be a (K, 1)
    tensor of window sizes; returns (start, end) of shape (size,) or (K, size).
    """
    i = torch.arange(size, device=device)
    start = torch.div(i * n, size, rounding_mode="floor")
    end = torch.div((i + 1) * n + size - 1, size, rounding_mode="floor")
    return start, end


def _area_resize(table: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """Whole images resized by area averaging: (B, out_h, out_w, 3) float32 pixels."""
    _, th, tw, _ = table.shape
    ys, ye = _bins(th - 1, out_h, table.device)
    xs, xe = _bins(tw - 1, out_w, table.device)
    rows = table.index_select(1, ye) - table.index_select(1, ys)
    sums = rows.index_select(2, xe) - rows.index_select(2, xs)
    counts = ((ye - ys)[:, None] * (xe - xs)[None, :]).to(torch.float32)
    return sums.to(torch.float32) / counts[None, :, :, None]


def _crop_windows(boxes: torch.Tensor, width: int, height: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer crop window of each box, clipped to the image: (x0, y0, x1, y1, valid).

    MTCNN's convention: truncate the box, clip to [1, W] x [1, H] in 1-based pixels, take
    rows y-1 .. ey-1 and columns x-1 .. ex-1 (no zero padding outside the image).
    """
    q = boxes.trunc().to(torch.int64)
    x = q[:, 0].clamp(min=1)
    y = q[:, 1].clamp(min=1)
    ex = q[:, 2].clamp(max=width)
    ey = q[:, 3].clamp(max=height)
    x0, y0 = x - 1, y - 1
    valid = (ex > x0) & (ey > y0)
    return x0, y0, ex, ey, valid


def _area_resize_crops(table: torch.Tensor, image_index: torch.Tensor, x0: torch.Tensor,
                       y0: torch.Tensor, x1: torch.Tensor, y1: torch.Tensor, size: int
                       ) -> torch.Tensor:
    """Crop windows resized to ``size`` x ``size`` by area averaging, all at once.

    Four gathers (one per corner of each cell) from the summed-area table. Returns
    (K, size, size, 3) float32 pixel values.
    """
    _, th, tw, c = table.shape
    dev = table.device
    ys, ye = _bins((y1 - y0)[:, None], size, dev)
    xs, xe = _bins((x1 - x0)[:, None], size, dev)
    ys, ye = ys + y0[:, None], ye + y0[:, None]
    xs, xe = xs + x0[:, None], xe + x0[:, None]
    flat = table.reshape(-1, c)
    base = (image_index * (th * tw))[:, None, None]

    def corner(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        # index_select on (pixels, 3) rows: far faster than advanced indexing.
        idx = base + (rows * tw)[:, :, None] + cols[:, None, :]
        return flat.index_select(0, idx.reshape(-1))

    sums = corner(ye, xe) - corner(ys, xe) - corner(ye, xs) + corner(ys, xs)
    counts = ((ye - ys)[:, :, None] * (xe - xs)[:, None, :]).reshape(-1, 1)
    k = image_index.shape[0]
    return (sums.to(torch.float32) / counts.to(torch.float32)).view(k, size, size, c)


# --- The cascade -----------------------------------------------------------------------

def _run_batched(fn, x: torch.Tensor, batch: int) -> tuple[torch.Tensor, ...]:
    if x.shape[0] <= batch:
        return fn(x)
    outs = [fn(x[i:i + batch]) for i in range(0, x.shape[0], batch)]
    return tuple(torch.cat(parts, 0) for parts in zip(*outs))


def _to_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"MTCNN expects uint8 images, got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 4:
        return image[:, :, :3]
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"MTCNN expects HxWx3 RGB images, got shape {image.shape}")


class MTCNN:
    """The MTCNN face detector, batched over lists of images.

    ``weights_dir``: folder with ``pnet.pt``/``rnet.pt``/``onet.pt`` (default: the
    installed facenet-pytorch's data folder). ``device``: ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` or ``"auto"`` (CUDA when available). ``max_pixels`` bounds how many
    image pixels go through PNet together (memory); ``crop_batch`` bounds the RNet/ONet
    batch.
    """

    def __init__(self, weights_dir: Optional[str | Path] = None, device: str = "cpu",
                 min_face_size: int = 20,
                 thresholds: Sequence[float] = (0.6, 0.7, 0.7),
                 factor: float = 0.709, max_pixels: Optional[int] = None,
                 crop_batch: Optional[int] = None) -> None:
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise UserError("--device cuda given but torch sees no CUDA device; "
                            "use --device cpu or auto")
        folder = find_weights_dir(weights_dir)
        self.weights_dir = folder
        # channels_last: CPU convolutions and max pools with 10-64 channels run about
        # twice as fast in NHWC (measured; docs/mtcnn.md).
        cl = torch.channels_last
        self.pnet = _load(PNet(), folder / "pnet.pt").to(self.device, memory_format=cl)
        self.rnet = _load(RNet(), folder / "rnet.pt").to(self.device, memory_format=cl)
        self.onet = _load(ONet(), folder / "onet.pt").to(self.device, memory_format=cl)
        self.min_face_size = int(min_face_size)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.factor = float(factor)
        on_gpu = self.device.type == "cuda"
        self.max_pixels = int(max_pixels or (64 if on_gpu else 8) * 250 * 250)
        self.crop_batch = int(crop_batch or (8192 if on_gpu else 512))

    # The pyramid is computed exactly as facenet-pytorch does, so boxes match.
    def scales(self, height: int, width: int) -> list[float]:
        """Pyramid scales for an image: 12/min_face, times factor while the short side
        stays >= 12 px."""
        m = 12.0 / self.min_face_size
        minl = min(height, width) * m
        out = []
        scale = m
        while minl >= 12:
            out.append(scale)
            scale *= self.factor
            minl *= self.factor
        return out

    @torch.inference_mode()
    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect faces in RGB uint8 images (H x W x 3; sizes may differ).

        Grayscale (H x W) and RGBA inputs are converted. Returns one
        :class:`Detections` per image, in input order; an image without a face gets
        empty arrays.
        """
        images = [_to_rgb(im) for im in images]
        results: list[Detections] = [Detections.empty() for _ in images]
        groups: dict[tuple[int, int], list[int]] = {}
        for idx, im in enumerate(images):
            groups.setdefault(im.shape[:2], []).append(idx)
        for (h, w), members in groups.items():
            per_chunk = max(1, self.max_pixels // (h * w))
            for start in range(0, len(members), per_chunk):
                chunk = members[start:start + per_chunk]
                batch = np.stack([images[i] for i in chunk])
                for i, det in zip(chunk, self._detect_same_size(batch)):
                    results[i] = det
        return results

    def _detect_same_size(self, batch: np.ndarray) -> list[Detections]:
        dev = self.device
        n, h, w = batch.shape[:3]
        table = _integral(batch, dev)
        t1, t2, t3 = self.thresholds

        # Stage 1: PNet over the pyramid, all images of the chunk together.
        per_scale = []
        for scale in self.scales(h, w):
            size = (int(h * scale + 1), int(w * scale + 1))
            # (B, h, w, 3) memory seen as NCHW: the channels_last layout PNet runs in.
            data = (_area_resize(table, *size) - _NORM_MEAN) * _NORM_SCALE
            reg, prob = self.pnet(data.permute(0, 3, 1, 2))
            face = prob[:, 1]
            mask = face >= t1
            where = mask.nonzero()
            if where.shape[0] == 0:
                continue
            score = face[mask]
            offsets = reg.permute(0, 2, 3, 1)[mask]
            cell = where[:, 1:].to(reg.dtype).flip(1)  # (x, y) of each window
            lo = ((2 * cell + 1) / scale).floor()
            hi = ((2 * cell + 12) / scale).floor()
            boxes = torch.cat([lo, hi], dim=1)
            keep = _nms(boxes, score, where[:, 0], 0.5)
            per_scale.append((boxes[keep], score[keep], offsets[keep], where[keep, 0]))
        if not per_scale:
            return [Detections.empty() for _ in range(n)]
        boxes, score, offsets, owner = (torch.cat(v, 0) for v in zip(*per_scale))
        keep = _nms(boxes, score, owner, 0.7)
        boxes, score, offsets, owner = boxes[keep], score[keep], offsets[keep], owner[keep]
        bw = boxes[:, 2] - boxes[:, 0]
        bh = boxes[:, 3] - boxes[:, 1]
        boxes = torch.stack([boxes[:, 0] + offsets[:, 0] * bw, boxes[:, 1] + offsets[:, 1] * bh,
                             boxes[:, 2] + offsets[:, 2] * bw, boxes[:, 3] + offsets[:, 3] * bh], 1)
        boxes = _square(boxes)

        # Stage 2: RNet on every candidate of the chunk at once.
        boxes, owner, crops = self._crops(table, boxes, owner, w, h, 24)
        if boxes.shape[0] == 0:
            return [Detections.empty() for _ in range(n)]
        reg, prob = _run_batched(self.rnet, crops, self.crop_batch)
        score = prob[:, 1]
        ok = score > t2
        boxes, score, reg, owner = boxes[ok], score[ok], reg[ok], owner[ok]
        keep = _nms(boxes, score, owner, 0.7)
        boxes, score, reg, owner = boxes[keep], score[keep], reg[keep], owner[keep]
        boxes = _square(_regress(boxes, reg))

        # Stage 3: ONet, landmarks, final "Min" NMS.
        boxes, owner, crops = self._crops(table, boxes, owner, w, h, 48)
        if boxes.shape[0] == 0:
            return [Detections.empty() for _ in range(n)]
        reg, marks, prob = _run_batched(self.onet, crops, max(1, self.crop_batch // 4))
        score = prob[:, 1]
        ok = score > t3
        boxes, score, reg, marks, owner = boxes[ok], score[ok], reg[ok], marks[ok], owner[ok]
        bw = boxes[:, 2] - boxes[:, 0] + 1
        bh = boxes[:, 3] - boxes[:, 1] + 1
        px = bw[:, None] * marks[:, :5] + boxes[:, 0:1] - 1
        py = bh[:, None] * marks[:, 5:] + boxes[:, 1:2] - 1
        points = torch.stack([px, py], dim=2)
        boxes = _regress(boxes, reg)

        boxes_np = boxes.cpu().numpy().astype(np.float32)
        score_np = score.cpu().numpy().astype(np.float32)
        points_np = points.cpu().numpy().astype(np.float32)
        owner_np = owner.cpu().numpy()
        keep = _nms_min(boxes_np, score_np, owner_np, 0.7)
        out = [Detections.empty() for _ in range(n)]
        if keep.size == 0:
            return out
        # Group the kept boxes by image, highest probability first inside each image.
        order = keep[np.lexsort((-score_np[keep], owner_np[keep]))]
        owners = owner_np[order]
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        ends = np.r_[starts[1:], order.size]
        for s, e in zip(starts, ends):
            sel = order[s:e]
            out[int(owners[s])] = Detections(boxes_np[sel], score_np[sel], points_np[sel])
        return out

    def _crops(self, table: torch.Tensor, boxes: torch.Tensor, owner: torch.Tensor,
               width: int, height: int, size: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x0, y0, x1, y1, valid = _crop_windows(boxes, width, height)
        if not bool(valid.all()):
            boxes, owner = boxes[valid], owner[valid]
            x0, y0, x1, y1 = x0[valid], y0[valid], x1[valid], y1[valid]
        crops = _area_resize_crops(table, owner, x0, y0, x1, y1, size)
        return boxes, owner, ((crops - _NORM_MEAN) * _NORM_SCALE).permute(0, 3, 1, 2)


def detect_faces(images: Iterable[np.ndarray], **kwargs) -> list[Detections]:
    """One-shot convenience: build an :class:`MTCNN` with ``kwargs`` and detect."""
    return MTCNN(**kwargs).detect(list(images))
