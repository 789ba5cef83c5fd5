"""Batch sampling for metric-learning losses: P x K (FaceNet's triplet loss) and fixed
(anchor, positive, negative) triplets (facenet-pytorch's, :class:`TripletBatchSampler`).

Each batch holds ``P`` identities with ``K`` images each, so every anchor has ``K - 1``
positives and ``(P - 1) x K`` negatives for in-batch mining. Use it as a DataLoader's
``batch_sampler``::

    sampler = PKBatchSampler(dataset_labels, identities_per_batch=30, images_per_identity=4,
                             rank=rank, world_size=world_size, seed=seed)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=...)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in loader: ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Optional

import numpy as np
from torch.utils.data import Sampler

from modelzoo.contract.api import UserError


def images_by_identity(labels: Sequence[int]) -> list[np.ndarray]:
    """The sample indices of each identity, identities in label order, indices ascending."""
    labels_array = np.asarray(labels).reshape(-1)
    order = np.argsort(labels_array, kind="stable")
    _, starts = np.unique(labels_array[order], return_index=True)
    return np.split(order, starts[1:]) if len(order) else []


class PKBatchSampler(Sampler[list[int]]):
    """Batches of ``identities_per_batch`` (P) identities x ``images_per_identity`` (K) images.

    Args:
        labels: the identity label of every dataset index.
        identities_per_batch: P, per rank.
        images_per_identity: K.
        rank, world_size: this process's shard under DDP.
        seed: with the epoch, fixes everything drawn (the sampler is reproducible, and
            all ranks draw the same global plan without communicating).
        batches_per_epoch: batches per rank per epoch. ``None``: one pass over the
            identities, ``num_identities // (P x world_size)`` batches, each identity at
            most once per epoch. A larger number reshuffles the identities whenever
            they run out (still never one identity twice in the same step).
        min_images_per_identity: identities with fewer images are left out. The
            default 2 drops single-image identities: they give no real positive pair
            (their K slots would all be one image, differing only by augmentation).
            Set 1 to keep them.

    Composition of a batch: P blocks of K consecutive indices, one identity per block.
    An identity with at least K images contributes K distinct images (drawn without
    replacement); one with fewer contributes all of them once, and the remaining slots
    are drawn from them with replacement.

    Sharding: every step draws ``P x world_size`` distinct identities from the epoch's
    identity permutation, and rank r takes the r-th block of P, so ranks see different
    identities in the same step (and, with ``batches_per_epoch=None``, in the whole
    epoch). Every rank yields ``len(self)`` batches.
    """

    def __init__(self, labels: Sequence[int], identities_per_batch: int,
                 images_per_identity: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0, batches_per_epoch: Optional[int] = None,
                 min_images_per_identity: int = 2) -> None:
        if identities_per_batch < 1 or images_per_identity < 1:
            raise UserError(f"P x K sampling needs P >= 1 and K >= 1, got "
                            f"{identities_per_batch} x {images_per_identity}; fix the sampler "
                            "settings")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size}")
        if batches_per_epoch is not None and batches_per_epoch < 1:
            raise UserError(f"batches_per_epoch must be positive, got {batches_per_epoch}; "
                            "fix the sampler settings")
        self.identities_per_batch = identities_per_batch
        self.images_per_identity = images_per_identity
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.epoch = 0

        self._images = [g for g in images_by_identity(labels) if len(g) >= max(1, min_images_per_identity)]
        self.num_identities = len(self._images)

        per_step = identities_per_batch * world_size
        if self.num_identities < per_step:
            raise UserError(
                f"P x K sampling needs {per_step} identities per step "
                f"({identities_per_batch} per card x {world_size} cards) with at least "
                f"{min_images_per_identity} images each, but the data has "
                f"{self.num_identities}; lower identities_per_batch or use more data")
        self._batches = batches_per_epoch if batches_per_epoch is not None \
            else self.num_identities // per_step

    @property
    def batch_size(self) -> int:
        return self.identities_per_batch * self.images_per_identity

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose (seeded) order the next iteration yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self._batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        steps = self._identity_steps(rng)
        p = self.identities_per_batch
        for _ in range(self._batches):
            identities = next(steps)
            # Draw images for every rank's identities, in the same order on all ranks,
            # so the random stream stays identical everywhere; keep this rank's block.
            blocks = [self._draw_images(rng, identity) for identity in identities]
            mine = blocks[self.rank * p:(self.rank + 1) * p]
            yield [int(i) for block in mine for i in block]

    def _identity_steps(self, rng: np.random.Generator) -> Iterator[list[int]]:
        """Endless steps of ``P x world_size`` distinct identities, permutation by permutation."""
        need = self.identities_per_batch * self.world_size
        queue: list[int] = []
        while True:
            chosen: list[int] = []
            seen: set[int] = set()
            skipped: list[int] = []
            i = 0
            while len(chosen) < need:
                if i == len(queue):
                    queue.extend(rng.permutation(self.num_identities).tolist())
                identity = queue[i]
                i += 1
                if identity in seen:  # only where a step spans two permutations
                    skipped.append(identity)
                else:
                    seen.add(identity)
                    chosen.append(identity)
            queue = skipped + queue[i:]
            yield chosen

    def _draw_images(self, rng: np.random.Generator, identity: int) -> np.ndarray:
        images = self._images[identity]
        k = self.images_per_identity
        if len(images) >= k:
            return images[rng.choice(len(images), size=k, replace=False)]
        extra = rng.choice(len(images), size=k - len(images), replace=True)
        return np.concatenate([images[rng.permutation(len(images))], images[extra]])


class TripletBatchSampler(Sampler[list[int]]):
    """bubbliiiing/facenet-pytorch's batches: ``triplets`` random (anchor, positive, negative) triplets.

    Each triplet draws an identity with at least two images, two distinct images of it
    (anchor, positive), then another identity and one of its images (negative), all
    uniformly, as the recipe's dataset does. A batch is laid out in thirds: the
    ``triplets`` anchors, then their positives, then their negatives, the layout
    :class:`~modelzoo_facenet.losses.TripletSoftmaxLoss` reads (batch = 3 x triplets: 96
    = 32 triplets in the recipe). Why not :class:`PKBatchSampler`: the recipe's triplet
    term takes the drawn negative, not one mined among the batch's identities.

    ``batches_per_epoch``: per rank; ``None``: ``len(labels) // (3 x triplets x world_size)``
    (one epoch sees about as many images as the data set holds). Rank ``r`` takes the
    ``r``-th of ``world_size`` batches drawn per step from one seeded stream (the seed
    and epoch fix everything; the ranks draw the same plan without communicating).
    """

    def __init__(self, labels: Sequence[int], triplets: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0, batches_per_epoch: Optional[int] = None) -> None:
        if triplets < 1:
            raise UserError(f"triplet batches need at least 1 triplet, got {triplets}; "
                            "set train.batch_size to a multiple of 3")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size}")
        self.triplets = triplets
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.epoch = 0
        self._images = images_by_identity(labels)
        self._anchors = np.array([i for i, g in enumerate(self._images) if len(g) >= 2], dtype=np.int64)
        if len(self._images) < 2 or len(self._anchors) < 1:
            raise UserError(f"triplets need 2 or more identities, one with 2 or more images; the data has "
                            f"{len(self._images)} identities, {len(self._anchors)} with 2+ images: use more data")
        self._batches = batches_per_epoch if batches_per_epoch is not None \
            else max(1, sum(len(g) for g in self._images) // (3 * triplets * world_size))

    @property
    def batch_size(self) -> int:
        return 3 * self.triplets

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self._batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        identities = len(self._images)
        for _ in range(self._batches):
            batches = [self._draw(rng, identities) for _ in range(self.world_size)]
            yield batches[self.rank]

    def _draw(self, rng: np.random.Generator, identities: int) -> list[int]:
        anchor_ids = self._anchors[rng.integers(len(self._anchors), size=self.triplets)]
        # another identity: an offset of 1..identities-1 from the anchor's
        negative_ids = (anchor_ids + rng.integers(1, identities, size=self.triplets)) % identities
        anchors, positives, negatives = [], [], []
        for a, q in zip(anchor_ids, negative_ids):
            first, second = rng.choice(len(self._images[a]), size=2, replace=False)
            anchors.append(int(self._images[a][first]))
            positives.append(int(self._images[a][second]))
            negatives.append(int(self._images[q][rng.integers(len(self._images[q]))]))
        return anchors + positives + negatives
