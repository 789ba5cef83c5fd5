"""LFW evaluation of an embedding network: load the pair images, embed each distinct image
once, run the protocol of :mod:`modelzoo_facenet.lfw_protocol`.

Public API
----------
- :func:`load_image`: one image as a uint8 RGB CHW tensor, resized to a square size.
- :class:`LfwPairsDataset`: the distinct images of resolved pairs, with the pair -> image
  index maps (``index1``/``index2``).
- :func:`embed_images`: embeddings of a dataset's images (optionally image + mirror,
  concatenated), as a numpy array.
- :func:`evaluate_lfw`: pairs file + image folder + ``embed_fn`` ->
  :class:`lfw_protocol.LfwResult`.

``embed_fn`` is any callable taking a float NCHW tensor on ``device`` (already
standardized) and returning ``(N, D)`` embeddings, e.g. ``model.embed`` of a model in
``eval()`` mode; putting the model in eval mode is the caller's job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from modelzoo.contract.api import UserError
from modelzoo.toolkit.imageheader import pixel_problem

from . import lfw, lfw_protocol

log = logging.getLogger(__name__)

EmbedFn = Callable[[torch.Tensor], torch.Tensor]


def fixed_standardization(x: torch.Tensor) -> torch.Tensor:
    """davidsandberg's fixed image standardization: (x - 127.5) / 128."""
    return (x - 127.5) / 128.0


def standardization(pixel_std: float = 128.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """``(x - 127.5) / pixel_std``: 128 is :func:`fixed_standardization`, 127.5 maps to [-1, 1]."""
    if pixel_std == 128.0:
        return fixed_standardization
    return lambda x: (x - 127.5) / pixel_std


Size = int | tuple[int, int]


def _hw(size: Size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def load_image(path: str | Path, image_size: Optional[Size] = None,
               crop_size: Optional[Size] = None) -> torch.Tensor:
    """Read an image as a uint8 RGB ``(3, H, W)`` tensor; with ``crop_size`` (a side or
    (height, width)), its centre window of that size first (the window a training crop of
    that size sees on average); with ``image_size`` (a side or (height, width)), resized to
    it when it differs (area interpolation to shrink, bilinear to enlarge).
    IMREAD_COLOR turns grayscale into 3 equal channels and drops an alpha channel."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        data = b""
    too_large = pixel_problem(data)
    if too_large:
        raise UserError(f"image {path} is {too_large}; replace it with the aligned face it should be")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise UserError(f"cannot read image {path}; the file is missing or not an image")
    if crop_size:
        crop_h, crop_w = _hw(crop_size)
        height, width = image.shape[:2]
        if crop_h > height or crop_w > width:
            given = crop_size if isinstance(crop_size, int) else f"{crop_h}x{crop_w} (height x width)"
            raise UserError(f"eval.crop_size {given} is larger than {path} ({width}x{height}); "
                            "lower eval.crop_size or set it to 0")
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
        image = image[top:top + crop_h, left:left + crop_w]
    if image_size is not None and image.shape[:2] != _hw(image_size):
        target_h, target_w = _hw(image_size)
        shrink = image.shape[0] > target_h or image.shape[1] > target_w
        image = cv2.resize(image, (target_w, target_h),
                           interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class LfwPairsDataset(Dataset):
    """The distinct images of a list of pairs (each loaded once), in first-seen order.

    ``paths``: the distinct image paths; ``index1[i]``/``index2[i]``: the positions in
    ``paths`` of pair i's two images. Items are uint8 RGB ``(3, H, W)`` tensors.
    """

    def __init__(self, paths1: Sequence[str], paths2: Sequence[str],
                 image_size: Optional[Size] = None, crop_size: Optional[Size] = None):
        if len(paths1) != len(paths2):
            raise ValueError(f"{len(paths1)} first images for {len(paths2)} second images")
        position: dict[str, int] = {}
        for path in (*paths1, *paths2):
            position.setdefault(str(path), len(position))
        self.paths = list(position)
        self.index1 = np.array([position[str(p)] for p in paths1], dtype=np.int64)
        self.index2 = np.array([position[str(p)] for p in paths2], dtype=np.int64)
        self.image_size = image_size
        self.crop_size = crop_size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return load_image(self.paths[i], self.image_size, self.crop_size)


def embed_images(
    embed_fn: EmbedFn,
    dataset: Dataset,
    batch_size: int,
    device: str | torch.device,
    flip: bool,
    standardize: Callable[[torch.Tensor], torch.Tensor] = fixed_standardization,
    num_workers: int = 0,
) -> np.ndarray:
    """Embed every image of ``dataset`` (uint8 CHW tensors) in order -> float32
    ``(N, D)``; with ``flip``, each image and its horizontal mirror are embedded and the
    two embeddings concatenated -> ``(N, 2D)`` (davidsandberg's use_flipped_images)."""
    device = torch.device(device)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, pin_memory=device.type == "cuda")
    chunks = []
    with torch.no_grad():
        for batch in loader:
            # Move uint8 (a quarter of the bytes), convert on the device.
            x = standardize(batch.to(device, non_blocking=True).float())
            parts = [embed_fn(x)]
            if flip:
                parts.append(embed_fn(torch.flip(x, dims=[3])))
            for part in parts:
                if part.ndim != 2 or part.shape[0] != x.shape[0]:
                    raise ValueError(f"embed_fn must return (N, D) for N = {x.shape[0]} "
                                     f"images, got shape {tuple(part.shape)}")
            chunks.append(torch.cat(parts, dim=1).float().cpu())
    if not chunks:
        raise ValueError("the dataset has no images to embed")
    return torch.cat(chunks).numpy()


def evaluate_lfw(
    embed_fn: EmbedFn,
    pairs_file: str | Path,
    image_dir: str | Path,
    *,
    image_size: Optional[Size],
    batch_size: int,
    crop_size: Optional[Size] = None,
    device: str | torch.device,
    flip: bool,
    distance: str,
    subtract_mean: bool,
    allow_missing: bool = False,
    folds: str = "file",
    test_fold: Optional[int] = None,
    num_workers: int = 0,
    pixel_std: float = 128.0,
) -> lfw_protocol.LfwResult:
    """Score ``embed_fn`` on LFW pairs.

    ``folds="file"``: the pairs file's own folds (View 2: 10 folds of 600 in file order;
    pairs dropped for missing images leave their fold smaller, not shifted).
    ``folds="interleaved"``: 10 class-balanced sub-folds
    (:func:`lfw_protocol.interleaved_subfolds`).
    ``test_fold`` (1-based): score only that fold's pairs, which needs
    ``folds="interleaved"`` (the threshold is then chosen within the fold: the unrestricted
    protocol with LFW's other 9 sets as training data).
    Images are found as ``image_dir/name/name_%04d.{png,jpg,jpeg}``; missing images raise
    UserError unless ``allow_missing`` (their pairs are dropped, listed in
    ``result.missing``). Each distinct image is embedded once, standardized as
    ``(x - 127.5) / pixel_std``.
    With ``flip``, two concatenated unit embeddings have norm sqrt(2): squared Euclidean
    distances reach 8, past the threshold grid's 3.99, so use ``distance="cosine"`` (as
    davidsandberg's recipe does) or embeddings normalized after concatenation.
    """
    if folds not in ("file", "interleaved"):
        raise ValueError(f"folds must be 'file' or 'interleaved', got {folds!r}")
    pairs = lfw.read_pairs(pairs_file)
    if test_fold is not None:
        available = sorted({p.fold for p in pairs})
        if test_fold not in available:
            raise UserError(f"test fold {test_fold} is not in {pairs_file} (folds "
                            f"{available[0]}..{available[-1]}); choose one of those")
        if folds == "file":
            raise UserError("one test fold has a single file fold, so thresholds cannot be "
                            "cross-validated; use interleaved folds with a test fold")
        pairs = [p for p in pairs if p.fold == test_fold]
    paths1, paths2, issame, file_folds, missing = lfw.resolve_pairs(
        pairs, image_dir, allow_missing=allow_missing)
    if len(issame) == 0:
        raise UserError(f"no LFW pair has both images under {image_dir}; "
                        "check the image folder")
    dataset = LfwPairsDataset(paths1, paths2, image_size, crop_size)
    log.info("embedding %d distinct LFW images of %d pairs", len(dataset), len(issame))
    embeddings = embed_images(embed_fn, dataset, batch_size, device, flip,
                              standardize=standardization(pixel_std), num_workers=num_workers)
    fold_labels = file_folds if folds == "file" else lfw_protocol.interleaved_subfolds(issame)
    result = lfw_protocol.evaluate(embeddings[dataset.index1], embeddings[dataset.index2], issame,
                                   distance=distance, subtract_mean=subtract_mean, folds=fold_labels)
    people = {Path(path).parent.name for path in dataset.paths}
    return replace(result, missing=missing, n_images=len(dataset.paths), n_people=len(people))
