"""The facenet training set: identity folders and davidsandberg's validation split.

The data set is a folder per identity (``root/<identity>/<image>.png``), as
``modelzoo prepare facenet`` writes it (MTCNN-aligned, e.g. 182x182) and as the demo
generator writes it. Decoding, the pre-decoded uint8 cache and on-device augmentation are
model-agnostic and live in :mod:`modelzoo.toolkit.imagedata` (``ImageIndex``, ``ImageIndexDataset``,
``DecodedCache``, ``DeviceAugment``, ``make_train_loader``).

Public API::

    scan_identity_folders(root, exts=(".png", ".jpg", ".jpeg"), people=None, min_images=1) -> ImageIndex
    split_validation(index, fraction=0.05, seed=0, by="image") -> (train_index, val_index)
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterable, Sequence
from typing import Optional

import numpy as np

from modelzoo.toolkit.imagedata import DEFAULT_EXTS, ImageIndex, scan_class_folders

PREPARE_REMEDY = "run 'modelzoo prepare facenet' or use --profile demo"


def scan_identity_folders(root: str | os.PathLike, exts: Sequence[str] = DEFAULT_EXTS,
                          people: Optional[set[str]] = None, min_images: int = 1) -> ImageIndex:
    """Index ``root/<identity>/*.<ext>``.

    ``people`` restricts the scan to those folder names; identities with fewer than
    ``min_images`` images are left out (davidsandberg's ``min_nrof_images_per_class``).
    Files within a folder are sorted by name. Raises :class:`~modelzoo.contract.api.UserError`
    when ``root`` is missing or yields no image.
    """
    return scan_class_folders(root, exts, classes=people, min_images=min_images, remedy=PREPARE_REMEDY)


def _subset(index: ImageIndex, rows: Iterable[int], relabel: bool) -> ImageIndex:
    rows = list(rows)
    paths = [index.paths[i] for i in rows]
    labels = [index.labels[i] for i in rows]
    if not relabel:
        return ImageIndex(paths, labels, list(index.class_names), index.root)
    kept = sorted(set(labels))
    remap = {old: new for new, old in enumerate(kept)}
    return ImageIndex(paths, [remap[l] for l in labels],
                         [index.class_names[l] for l in kept], index.root)


def split_validation(index: ImageIndex, fraction: float = 0.05, seed: int = 0,
                     by: str = "image") -> tuple[ImageIndex, ImageIndex]:
    """Hold out ``fraction`` of the data for validation, deterministically from ``seed``.

    ``by="image"`` (default) is davidsandberg's ``SPLIT_IMAGES`` mode, used by
    train_softmax.py's ``validation_set_split_ratio``: within every identity,
    ``ceil(n * fraction)`` randomly chosen images go to validation (his
    ``n - floor(n * (1 - fraction))``), so validation measures the classifier on unseen
    images of the trained identities; both halves keep the full ``class_names`` and labels.
    Unlike his code, an identity always keeps at least one training image (his puts a
    single-image identity's only image into validation, leaving a class with nothing to
    learn from). Each identity's draw depends only on ``seed`` and its name, so adding
    folders does not reshuffle the others.

    ``by="identity"`` holds out ``round(fraction * num_classes)`` whole identities (at least
    one when ``fraction > 0``): a verification-style check on unseen people. Both halves
    are relabelled 0..k-1 over their own sorted ``class_names``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    labels = np.asarray(index.labels, dtype=np.int64)
    if by == "image":
        train_rows: list[int] = []
        val_rows: list[int] = []
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(index.num_classes + 1))
        for label, name in enumerate(index.class_names):
            rows = order[bounds[label]:bounds[label + 1]]
            n = len(rows)
            n_val = min(math.ceil(n * fraction - 1e-9), n - 1) if n > 1 else 0
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            perm = rows[rng.permutation(n)]
            val_rows.extend(sorted(perm[:n_val].tolist()))
            train_rows.extend(sorted(perm[n_val:].tolist()))
        return (_subset(index, sorted(train_rows), relabel=False),
                _subset(index, sorted(val_rows), relabel=False))
    if by == "identity":
        k = index.num_classes
        n_val = min(max(1, round(fraction * k)), k - 1) if fraction > 0 and k > 1 else 0
        held = set(np.random.default_rng(seed).permutation(k)[:n_val].tolist())
        is_val = np.isin(labels, list(held)) if held else np.zeros(len(labels), bool)
        return (_subset(index, np.flatnonzero(~is_val), relabel=True),
                _subset(index, np.flatnonzero(is_val), relabel=True))
    raise ValueError(f"split_validation: by must be 'image' or 'identity', got {by!r}")
