"""FaceNet losses: the softmax recipe, CosFace/ArcFace, semi-hard triplet mining, facenet-pytorch's
triplet + cross-entropy, the factory."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from modelzoo.contract.api import UserError
from modelzoo_facenet.losses import (
    ArcFaceLoss,
    CosFaceLoss,
    SoftmaxLoss,
    TripletLoss,
    TripletSoftmaxLoss,
    build_loss,
)


def _batch(n=12, d=16, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * 3, torch.randint(0, classes, (n,), generator=g)


# --- softmax recipe ---------------------------------------------------------------------

def test_softmax_loss_is_cross_entropy_plus_prelogits_l1_penalty():
    x, y = _batch()
    loss_fn = SoftmaxLoss(16, 5, prelogits_norm_factor=5e-4)
    loss = loss_fn(x, y)
    logits = x @ loss_fn.classifier.weight.T + loss_fn.classifier.bias
    ce = F.cross_entropy(logits, y)
    l1 = (x.abs() + 1e-4).sum(dim=1).mean()
    torch.testing.assert_close(loss, ce + 5e-4 * l1)
    terms = loss_fn.last_terms
    assert set(terms) == {"loss", "cross_entropy", "prelogits_norm", "accuracy"}
    assert all(isinstance(v, float) for v in terms.values())
    assert terms["cross_entropy"] == pytest.approx(ce.item())
    assert terms["prelogits_norm"] == pytest.approx(l1.item())
    assert terms["accuracy"] == pytest.approx((logits.argmax(1) == y).float().mean().item())


def test_softmax_prelogits_norm_p_and_gradients():
    x, y = _batch()
    x.requires_grad_(True)
    loss_fn = SoftmaxLoss(16, 5, prelogits_norm_factor=1.0, prelogits_norm_p=2.0)
    loss_fn(x, y).backward()
    assert loss_fn.last_terms["prelogits_norm"] == pytest.approx(
        torch.linalg.vector_norm(x.detach().abs() + 1e-4, dim=1).mean().item(), rel=1e-5)
    assert x.grad is not None and loss_fn.classifier.weight.grad is not None
    assert loss_fn.centers is None and "centers" not in loss_fn.state_dict()


def test_center_loss_uses_old_centres_and_updates_like_scatter_sub():
    loss_fn = SoftmaxLoss(3, 4, prelogits_norm_factor=0.0, center_loss_factor=0.5,
                          center_loss_alfa=0.9)
    start = torch.tensor([[1.0, 0, 0], [0, 2.0, 0], [0, 0, 0], [5.0, 5.0, 5.0]])
    loss_fn.centers.copy_(start)
    x = torch.tensor([[2.0, 0, 0], [4.0, 0, 0], [0, 0, 3.0]], requires_grad=True)
    y = torch.tensor([0, 0, 2])
    loss = loss_fn(x, y)

    expected_center = ((x.detach() - start[y]) ** 2).mean()  # mean over batch and dims
    assert loss_fn.last_terms["center_loss"] == pytest.approx(expected_center.item())
    ce = F.cross_entropy(loss_fn.classifier(x.detach()), y)
    assert loss.item() == pytest.approx(ce.item() + 0.5 * expected_center.item(), rel=1e-6)
    # Class 0 appears twice: both samples pull its centre, each with its own difference.
    expected = start.clone()
    expected[0] -= 0.1 * (start[0] - x[0].detach()) + 0.1 * (start[0] - x[1].detach())
    expected[2] -= 0.1 * (start[2] - x[2].detach())
    torch.testing.assert_close(loss_fn.centers, expected)
    assert "centers" in loss_fn.state_dict()
    loss.backward()
    assert x.grad is not None  # gradient reaches the features; centres are a buffer

    loss_fn.eval()
    before = loss_fn.centers.clone()
    loss_fn(x.detach(), y)
    torch.testing.assert_close(loss_fn.centers, before)  # no update outside training


def test_softmax_training_separates_classes():
    torch.manual_seed(0)
    centers = torch.randn(4, 8) * 2
    y = torch.arange(4).repeat(8)
    x = centers[y] + 0.3 * torch.randn(32, 8)
    loss_fn = SoftmaxLoss(8, 4, center_loss_factor=1e-2)
    optimizer = torch.optim.SGD(loss_fn.parameters(), lr=0.5)
    first = loss_fn(x, y).item()
    for _ in range(30):
        optimizer.zero_grad()
        loss_fn(x, y).backward()
        optimizer.step()
    assert loss_fn.last_terms["loss"] < 0.3 * first
    assert loss_fn.last_terms["accuracy"] == 1.0


# --- margin losses ----------------------------------------------------------------------

def test_cosface_matches_its_formula():
    x, y = _batch()
    loss_fn = CosFaceLoss(16, 5, scale=30.0, margin=0.35)
    loss = loss_fn(x, y)
    cos = F.normalize(x, dim=1) @ F.normalize(loss_fn.weight, dim=1).T
    logits = 30.0 * (cos - 0.35 * F.one_hot(y, 5))
    torch.testing.assert_close(loss, F.cross_entropy(logits, y))
    assert loss_fn.last_terms["cos_target"] == pytest.approx(
        cos.gather(1, y.view(-1, 1)).mean().item(), abs=1e-6)
    # The margin makes the task harder: margin 0 gives a lower loss on the same data.
    no_margin = CosFaceLoss(16, 5, margin=0.0)
    no_margin.weight.data.copy_(loss_fn.weight.data)
    assert no_margin(x, y) < loss


def test_arcface_adds_the_angle_and_falls_back_past_pi():
    loss_fn = ArcFaceLoss(2, 3, scale=10.0, margin=0.5)
    loss_fn.weight.data = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    theta = torch.tensor([0.3, 2.9])  # the second: theta + m > pi
    x = torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)
    y = torch.tensor([0, 0])
    loss = loss_fn(x, y)
    cos = x @ loss_fn.weight.T
    target = torch.tensor([math.cos(0.3 + 0.5), math.cos(2.9) - 0.5 * math.sin(0.5)])
    logits = cos.clone()
    logits[:, 0] = target
    torch.testing.assert_close(loss, F.cross_entropy(10.0 * logits, y))


@pytest.mark.parametrize("cls", [CosFaceLoss, ArcFaceLoss])
def test_margin_losses_have_finite_gradients_at_cos_one(cls):
    loss_fn = cls(4, 3)
    x = loss_fn.weight.detach()[[0, 1]].clone().requires_grad_(True)  # cos = 1 to its class
    loss_fn(x, torch.tensor([0, 1])).backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(loss_fn.weight.grad).all()


# --- triplet loss -----------------------------------------------------------------------

def brute_force_triplet(prelogits: torch.Tensor, labels: list[int], margin: float):
    """One anchor-positive pair at a time, written from the definition.

    Returns (loss tensor with a graph, number of pairs, pairs that found a semi-hard
    negative).
    """
    e = F.normalize(prelogits, dim=1)
    n = len(labels)
    losses, semi_hard = [], 0
    for a in range(n):
        negatives = [j for j in range(n) if labels[j] != labels[a]]
        if not negatives:
            continue
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            d_ap = ((e[a] - e[p]) ** 2).sum()
            d_an = [((e[a] - e[j]) ** 2).sum() for j in negatives]
            farther = [d for d in d_an if d.item() > d_ap.item()]
            if farther:
                semi_hard += 1
                chosen = min(farther, key=lambda d: d.item())
            else:
                chosen = max(d_an, key=lambda d: d.item())
            losses.append(torch.clamp(d_ap - chosen + margin, min=0.0))
    if not losses:
        return prelogits.sum() * 0.0, 0, 0
    return torch.stack(losses).mean(), len(losses), semi_hard


@pytest.mark.parametrize("seed", range(5))
def test_triplet_matches_brute_force_on_random_data(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(14, 6, generator=g)
    labels = torch.randint(0, 4, (14,), generator=g)
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    loss_fn = TripletLoss(margin=0.5)
    loss = loss_fn(x1, labels)
    expected, pairs, semi = brute_force_triplet(x2, labels.tolist(), 0.5)
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=1e-5)
    assert loss_fn.last_terms["pairs"] == pairs
    assert loss_fn.last_terms["semi_hard_fraction"] == pytest.approx(semi / pairs)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("seed", range(6))
def test_triplet_matches_brute_force_with_exact_ties(seed):
    # Vectors with four entries of +-1 normalize to +-0.5 exactly, so every squared
    # distance is an exact multiple of 0.5 and many are equal: a negative exactly as far
    # as the positive must not count as semi-hard, duplicates give distance 0.
    g = torch.Generator().manual_seed(100 + seed)
    n, d = 16, 6
    x = torch.zeros(n, d)
    for i in range(n):
        cols = torch.randperm(d, generator=g)[:4]
        x[i, cols] = torch.randint(0, 2, (4,), generator=g).float() * 2 - 1
    x[5] = x[4]  # an exact duplicate, as a P x K sampler with replacement gives
    labels = torch.randint(0, 3, (n,), generator=g)
    labels[5] = labels[4]
    loss_fn = TripletLoss(margin=0.5)
    loss = loss_fn(x, labels)
    expected, pairs, semi = brute_force_triplet(x, labels.tolist(), 0.5)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    assert loss_fn.last_terms["semi_hard_fraction"] == pytest.approx(semi / pairs)


def test_triplet_tie_rule_on_a_hand_built_case():
    # Anchor 0 and positive 1 coincide (d_ap = 0); negative 2 also coincides (d = 0, a
    # tie, not semi-hard); negative 3 is at distance 2. Semi-hard picks 3: loss 0.
    e = torch.tensor([[1.0, 0], [1.0, 0], [1.0, 0], [0, 1.0]])
    loss_fn = TripletLoss(margin=0.2)
    loss_fn(e, torch.tensor([0, 0, 1, 2]))
    # Pairs (0,1) and (1,0) both pick negative 3: each max(0 - 2 + 0.2, 0) = 0.
    assert loss_fn.last_terms["loss"] == 0.0
    assert loss_fn.last_terms["semi_hard_fraction"] == 1.0
    # Without the far negative, the fallback is the farthest (here the only) negative.
    loss_fn(e[:3], torch.tensor([0, 0, 1]))
    assert loss_fn.last_terms["loss"] == pytest.approx(0.2)
    assert loss_fn.last_terms["semi_hard_fraction"] == 0.0


def test_triplet_without_pairs_or_negatives_is_zero_with_a_graph():
    loss_fn = TripletLoss()
    for labels in (torch.arange(4), torch.zeros(4, dtype=torch.long)):
        x = torch.randn(4, 8, requires_grad=True)
        loss = loss_fn(x, labels)
        assert loss.item() == 0.0
        loss.backward()
        assert torch.equal(x.grad, torch.zeros_like(x))
        assert loss_fn.last_terms["pairs"] == 0.0


def test_triplet_training_pulls_identities_together():
    torch.manual_seed(0)
    x = torch.randn(24, 8, requires_grad=True)
    labels = torch.arange(6).repeat_interleave(4)
    loss_fn = TripletLoss(margin=0.2)
    optimizer = torch.optim.Adam([x], lr=0.05)

    def nearest_neighbour_accuracy() -> float:
        e = F.normalize(x.detach(), dim=1)
        d = torch.cdist(e, e).fill_diagonal_(float("inf"))
        return (labels[d.argmin(dim=1)] == labels).float().mean().item()

    assert nearest_neighbour_accuracy() < 0.5
    first = loss_fn(x, labels).item()
    for _ in range(40):
        optimizer.zero_grad()
        loss_fn(x, labels).backward()
        optimizer.step()
    assert loss_fn(x, labels).item() < 0.1 * first
    assert nearest_neighbour_accuracy() == 1.0
    terms = loss_fn.last_terms
    assert terms["positive_distance"] + 0.2 <= terms["negative_distance"]


# --- factory ----------------------------------------------------------------------------

def test_build_loss_by_name_with_options():
    loss = build_loss("softmax", 16, 5, prelogits_norm_factor=0.0, center_loss_factor=0.01)
    assert isinstance(loss, SoftmaxLoss) and loss.centers.shape == (5, 16)
    assert build_loss("cosface", 16, 5, margin=0.2).margin == 0.2
    assert isinstance(build_loss("arcface", 16, 5), ArcFaceLoss)
    assert build_loss("triplet", 16, 5, margin=0.3).margin == 0.3


def test_build_loss_reports_user_errors():
    with pytest.raises(UserError, match="softmax, cosface, arcface, triplet"):
        build_loss("contrastive", 16, 5)
    with pytest.raises(UserError, match="no option scale.*margin"):
        build_loss("triplet", 16, 5, scale=3.0)
    with pytest.raises(UserError, match="margin must be positive"):
        build_loss("triplet", 16, 5, margin=0.0)


@pytest.mark.parametrize("make", [lambda: TripletLoss(0.2), lambda: CosFaceLoss(16, 5),
                                  lambda: ArcFaceLoss(16, 5)])
def test_metric_losses_compute_in_fp32_under_autocast(make):
    x, y = _batch(n=16)
    x = x.bfloat16()
    loss_fn = make()
    full = loss_fn(x.float(), y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss_fn(x, y)
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(full.item(), rel=1e-5, abs=1e-6)


# --- facenet-pytorch: fixed triplets + cross-entropy ------------------------------------------

def _silent_classifier(loss):
    # zero weights and bias: every class scores 0, so the cross-entropy is log(classes) exactly
    with torch.no_grad():
        loss.softmax.classifier.weight.zero_()
        loss.softmax.classifier.bias.zero_()
    return loss


def test_triplet_softmax_on_a_hand_checked_batch():
    # two triplets in thirds (anchors, positives, negatives), 2-d, scaled: distances are on the unit circle
    anchors = [[3.0, 0.0], [2.0, 0.0]]
    positives = [[0.0, 3.0], [0.0, 5.0]]        # d(a, p) = sqrt(2) for both
    negatives = [[-4.0, 0.0], [0.6, 0.8]]       # d(a, n) = 2 (outside the margin), sqrt(0.8) (inside)
    prelogits = torch.tensor(anchors + positives + negatives)
    labels = torch.tensor([0, 1, 0, 1, 2, 3])
    loss = _silent_classifier(TripletSoftmaxLoss(2, 4, margin=0.2))
    value = loss(prelogits, labels)
    triplet = math.sqrt(2) - math.sqrt(0.8) + 0.2  # only the second triplet is inside the margin
    assert loss.last_terms["triplet"] == pytest.approx(triplet, abs=1e-6)
    assert loss.last_terms["cross_entropy"] == pytest.approx(math.log(4), abs=1e-6)
    assert float(value.detach()) == pytest.approx(triplet + math.log(4), abs=1e-6)
    assert loss.last_terms["inside_margin_fraction"] == pytest.approx(0.5)


def test_triplet_softmax_averages_over_the_triplets_inside_the_margin_only():
    def batch(gap):  # d(a, n) - d(a, p) = gap, on the unit circle
        angle_p = 0.5
        d_p = 2 * math.sin(angle_p / 2)
        angle_n = 2 * math.asin((d_p + gap) / 2)
        return [[1.0, 0.0]], [[math.cos(angle_p), math.sin(angle_p)]], [[math.cos(angle_n), math.sin(angle_n)]]

    (a1, p1, n1), (a2, p2, n2) = batch(0.1), batch(0.3)
    prelogits = torch.tensor(a1 + a2 + p1 + p2 + n1 + n2)
    labels = torch.tensor([0, 1, 0, 1, 2, 3])
    loss = TripletSoftmaxLoss(2, 4, margin=0.2)
    loss(prelogits, labels)
    # the 0.3 triplet is outside the margin: the term is 0.1's loss alone, not its half
    assert loss.last_terms["triplet"] == pytest.approx(0.1, abs=1e-5)
    loss(torch.tensor(a2 + a2 + p2 + p2 + n2 + n2), labels)
    assert loss.last_terms["triplet"] == 0.0 and loss.last_terms["inside_margin_fraction"] == 0.0


def test_triplet_softmax_gradients_reach_prelogits_and_classifier():
    prelogits = torch.randn(12, 8, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3] * 2 + [4, 5, 6, 7])
    loss = TripletSoftmaxLoss(8, 8, margin=0.2)
    loss(prelogits, labels).backward()
    assert prelogits.grad.abs().sum() > 0
    assert loss.softmax.classifier.weight.grad.abs().sum() > 0
    # every third of the batch gets gradient (the triplet term reaches the normalized rows)
    for third in prelogits.grad.split(4):
        assert third.abs().sum() > 0


def test_triplet_softmax_refuses_a_batch_not_in_thirds():
    loss = TripletSoftmaxLoss(4, 4)
    with pytest.raises(ValueError, match="3n rows"):
        loss(torch.randn(4, 4), torch.tensor([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="anchors, positives, negatives"):
        loss(torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1]))  # positives of other identities


def test_triplet_softmax_by_name():
    loss = build_loss("triplet_softmax", 16, 10, margin=0.2)
    assert isinstance(loss, TripletSoftmaxLoss) and loss.margin == 0.2
    assert loss.softmax.classifier.weight.shape == (10, 16)
