"""P x K batch sampler: composition, determinism, epochs, DDP sharding."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from modelzoo.contract.api import UserError
from modelzoo_facenet.samplers import PKBatchSampler, TripletBatchSampler


def _labels():
    # 40 identities with 1..8 images each (identity i has 1 + i % 8), shuffled in index
    # order so grouping by label is exercised.
    labels = [i for i in range(40) for _ in range(1 + i % 8)]
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    return [labels[j] for j in perm.tolist()]


LABELS = _labels()
COUNTS = Counter(LABELS)


def _identity_blocks(batch, k):
    labels = [LABELS[i] for i in batch]
    return [labels[j:j + k] for j in range(0, len(labels), k)], labels


def test_batches_are_p_blocks_of_k_images_of_one_identity():
    sampler = PKBatchSampler(LABELS, identities_per_batch=4, images_per_identity=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        assert len(batch) == 12 == sampler.batch_size
        blocks, _ = _identity_blocks(batch, 3)
        identities = [block[0] for block in blocks]
        assert all(len(set(block)) == 1 for block in blocks)
        assert len(set(identities)) == 4
        for block_index, identity in enumerate(identities):
            images = batch[3 * block_index:3 * block_index + 3]
            if COUNTS[identity] >= 3:
                assert len(set(images)) == 3  # without replacement
            else:
                # every image of a small identity appears, the rest are repeats
                assert set(images) == {i for i, y in enumerate(LABELS) if y == identity}


def test_single_image_identities_are_left_out_unless_asked():
    singles = {y for y, n in COUNTS.items() if n == 1}
    assert singles
    seen = {LABELS[i] for b in PKBatchSampler(LABELS, 5, 2, batches_per_epoch=50) for i in b}
    assert not seen & singles
    sampler = PKBatchSampler(LABELS, 5, 2, batches_per_epoch=50, min_images_per_identity=1)
    seen = {LABELS[i] for b in sampler for i in b}
    assert singles <= seen
    assert sampler.num_identities == 40


def test_one_epoch_visits_each_identity_at_most_once():
    sampler = PKBatchSampler(LABELS, identities_per_batch=4, images_per_identity=2)
    eligible = sum(1 for n in COUNTS.values() if n >= 2)
    assert sampler.num_identities == eligible == 35
    assert len(sampler) == 35 // 4
    visits = Counter(LABELS[b[j]] for b in sampler for j in range(0, len(b), 2))
    assert max(visits.values()) == 1
    assert sum(visits.values()) == 4 * len(sampler)


def test_deterministic_from_seed_and_epoch():
    a = PKBatchSampler(LABELS, 4, 3, seed=7)
    b = PKBatchSampler(LABELS, 4, 3, seed=7)
    assert list(a) == list(b)
    assert list(a) == list(a)  # iterating again without set_epoch repeats the epoch
    assert list(PKBatchSampler(LABELS, 4, 3, seed=8)) != list(a)
    first = list(a)
    a.set_epoch(1)
    second = list(a)
    assert second != first
    a.set_epoch(0)
    assert list(a) == first


def test_ranks_get_disjoint_identities_and_equal_lengths():
    ranks = [PKBatchSampler(LABELS, 4, 2, rank=r, world_size=2, seed=3) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 35 // 8
    per_rank = [[{LABELS[i] for i in batch} for batch in sampler] for sampler in ranks]
    for step_0, step_1 in zip(*per_rank):
        assert len(step_0) == len(step_1) == 4
        assert not step_0 & step_1
    # One pass over the identities: disjoint over the whole epoch, too.
    all_0 = set().union(*per_rank[0])
    all_1 = set().union(*per_rank[1])
    assert not all_0 & all_1
    # The ranks split the plan of one process drawing 8 identities per step.
    single = list(PKBatchSampler(LABELS, 8, 2, seed=3))
    assert [b0 + b1 for b0, b1 in zip(*ranks)] == single


def test_long_epochs_reshuffle_without_repeating_within_a_step():
    ranks = [PKBatchSampler(LABELS, 6, 2, rank=r, world_size=2, seed=1,
                            batches_per_epoch=40) for r in range(2)]
    assert len(ranks[0]) == 40
    visits = Counter()
    for batch_0, batch_1 in zip(*ranks):
        ids_0 = [LABELS[i] for i in batch_0[::2]]
        ids_1 = [LABELS[i] for i in batch_1[::2]]
        step = ids_0 + ids_1
        assert len(set(step)) == 12  # 35 identities, 12 per step: permutations overlap
        visits.update(step)
    assert len(visits) == 35
    # 480 draws over 35 identities, one permutation after another: nearly uniform.
    assert max(visits.values()) - min(visits.values()) <= 2


def test_too_few_identities_is_a_user_error():
    with pytest.raises(UserError, match="needs 40 identities"):
        PKBatchSampler(LABELS, identities_per_batch=20, images_per_identity=2, world_size=2)
    with pytest.raises(UserError):
        PKBatchSampler(LABELS, identities_per_batch=0, images_per_identity=2)


def test_drives_a_dataloader():
    dataset = TensorDataset(torch.arange(len(LABELS)), torch.tensor(LABELS))
    sampler = PKBatchSampler(LABELS, 3, 4, batches_per_epoch=5)
    batches = list(DataLoader(dataset, batch_sampler=sampler))
    assert len(batches) == 5
    for indices, labels in batches:
        assert indices.shape == labels.shape == (12,)
        assert labels.view(3, 4).unique(dim=1).shape[1] == 1  # one identity per row


# --- facenet-pytorch's triplet batches ----------------------------------------------------------

def test_triplet_batches_are_anchors_positives_negatives():
    labels = _labels()
    sampler = TripletBatchSampler(labels, triplets=32, seed=3)
    assert sampler.batch_size == 96 and len(sampler) == len(labels) // 96
    for batch in sampler:
        assert len(batch) == 96
        a, p, n = batch[:32], batch[32:64], batch[64:]
        for i, j, k in zip(a, p, n):
            assert labels[i] == labels[j] != labels[k]
            assert i != j  # two distinct images of the anchor's identity
    # single-image identities (i % 8 == 0) are never anchors, but may be negatives
    anchors = {labels[i] for batch in TripletBatchSampler(labels, 32, seed=0, batches_per_epoch=50)
               for i in batch[:32]}
    assert anchors and all(identity % 8 for identity in anchors)


def test_triplet_batches_are_seeded_per_epoch_and_sharded():
    labels = _labels()
    first, again = TripletBatchSampler(labels, 4, seed=1), TripletBatchSampler(labels, 4, seed=1)
    assert list(first) == list(again)
    first.set_epoch(1)
    assert list(first) != list(again)
    ranks = [list(TripletBatchSampler(labels, 4, rank=r, world_size=2, seed=1)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) and ranks[0] != ranks[1]


def test_triplet_batches_need_two_identities():
    with pytest.raises(UserError, match="2 or more identities"):
        TripletBatchSampler([0, 0, 0], 2)
