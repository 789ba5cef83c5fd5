"""FaceNet training losses.

Every loss is an ``nn.Module`` called as ``loss(prelogits, labels) -> scalar tensor``,
where ``prelogits`` is the network's ``forward`` output (un-normalized, ``(N, D)``) and
``labels`` the identity indices ``(N,)``. Losses that need a classifier own it (its
parameters are trained and checkpointed with the network's). After each call,
``loss.last_terms`` is a ``dict[str, float]`` of the detached components for logging;
the values are kept as tensors until read, so a trainer that reads them only every few
steps does not synchronize the device on every step.

- :class:`SoftmaxLoss`: davidsandberg/facenet's recipe (the casia profile, profiles.py): softmax
  cross-entropy on the prelogits + prelogits-norm penalty + optional center loss. The L2
  weight decay of the recipe belongs to the optimizer, not here.
- :class:`CosFaceLoss`, :class:`ArcFaceLoss`: large-margin losses on the normalized
  embedding and normalized class weights.
- :class:`TripletLoss`: FaceNet's triplet loss with online semi-hard mining in the batch.
- :class:`TripletSoftmaxLoss`: bubbliiiing/facenet-pytorch's triplet loss on the sampler's
  fixed triplets (only those inside the margin count) + cross-entropy of a classifier.

:func:`build_loss` builds one by name.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import nn
from torch.nn import functional as F

from modelzoo.contract.api import UserError


class _LoggedLoss(nn.Module):
    """Keeps the last call's components as detached tensors; ``last_terms`` reads them."""

    def __init__(self) -> None:
        super().__init__()
        self._terms: dict[str, torch.Tensor] = {}

    def _record(self, **terms: torch.Tensor) -> None:
        self._terms = {k: v.detach() for k, v in terms.items()}

    @property
    def last_terms(self) -> dict[str, float]:
        """Components of the last call (``loss`` is the total), as Python floats."""
        return {k: float(v) for k, v in self._terms.items()}


def _no_autocast(tensor: torch.Tensor):
    return torch.autocast(device_type=tensor.device.type, enabled=False)


def _accuracy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (scores.argmax(dim=1) == labels).float().mean()


class SoftmaxLoss(_LoggedLoss):
    """Softmax cross-entropy on the prelogits with the recipe's regularizers.

    ``loss = CE(classifier(prelogits), labels)
    + prelogits_norm_factor * mean_i ||prelogits_i||_p
    + center_loss_factor * center_loss``.

    - ``classifier``: ``Linear(embedding_size, num_classes)`` with bias (the recipe's
      ``Logits`` layer), Xavier-uniform weights, zero bias.
    - Prelogits norm: as in the recipe, the norm of ``|prelogits| + 1e-4`` (the offset
      keeps the gradient finite for p < 1 at zero entries), averaged over the batch.
    - Center loss (Wen et al. 2016, in davidsandberg's form): ``centers`` is a
      ``(num_classes, embedding_size)`` buffer (present only when the factor is > 0),
      starting at zero and moved only in training mode, after the loss is computed from
      the old centres: ``centers[y] -= (1 - alfa) * (centers[y] - prelogits_i)`` for
      every sample i of class y (repeated labels each contribute, like TF's
      ``scatter_sub``). The loss is the mean over batch *and* dimensions of
      ``(prelogits - centers[y])**2`` (TF's ``reduce_mean``), i.e.
      ``mean_i ||f_i - c_{y_i}||^2 / D``. Gradients reach the prelogits, not the centres.
      Under ``torch.distributed``, the update is summed over ranks so every rank keeps
      the same centres (a collective: all ranks must call the loss in training mode).

    ``last_terms``: ``loss``, ``cross_entropy``, ``prelogits_norm``, ``center_loss``
    (when enabled) and ``accuracy`` (of the batch, before the step).
    """

    def __init__(self, embedding_size: int, num_classes: int,
                 prelogits_norm_factor: float = 5e-4, prelogits_norm_p: float = 1.0,
                 center_loss_factor: float = 0.0, center_loss_alfa: float = 0.95) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"softmax needs at least 2 classes, got {num_classes}")
        if prelogits_norm_p <= 0:
            raise ValueError(f"prelogits_norm_p must be positive, got {prelogits_norm_p}")
        if not 0.0 <= center_loss_alfa <= 1.0:
            raise ValueError(f"center_loss_alfa must be in [0, 1], got {center_loss_alfa}")
        self.prelogits_norm_factor = prelogits_norm_factor
        self.prelogits_norm_p = prelogits_norm_p
        self.center_loss_factor = center_loss_factor
        self.center_loss_alfa = center_loss_alfa
        self.classifier = nn.Linear(embedding_size, num_classes)
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)
        if center_loss_factor > 0:
            self.register_buffer("centers", torch.zeros(num_classes, embedding_size))
        else:
            self.centers = None

    def forward(self, prelogits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(prelogits)
        cross_entropy = F.cross_entropy(logits.float(), labels)
        total = cross_entropy
        terms = {"cross_entropy": cross_entropy, "accuracy": _accuracy(logits, labels)}
        if self.prelogits_norm_factor > 0:
            norm = torch.linalg.vector_norm(prelogits.float().abs() + 1e-4,
                                            ord=self.prelogits_norm_p, dim=1).mean()
            total = total + self.prelogits_norm_factor * norm
            terms["prelogits_norm"] = norm
        if self.centers is not None:
            center = self._center_loss(prelogits.float(), labels)
            total = total + self.center_loss_factor * center
            terms["center_loss"] = center
        self._record(loss=total, **terms)
        return total

    def _center_loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # A copy (advanced indexing), so the in-place update below does not touch it.
        centers_batch = self.centers[labels].float()
        loss = (features - centers_batch).pow(2).mean()
        if self.training:
            with torch.no_grad():
                step = (1.0 - self.center_loss_alfa) * (centers_batch - features.detach())
                delta = torch.zeros(self.centers.shape, device=step.device).index_add_(
                    0, labels, step)
                if torch.distributed.is_available() and torch.distributed.is_initialized() \
                        and torch.distributed.get_world_size() > 1:
                    torch.distributed.all_reduce(delta)
                self.centers.sub_(delta.to(self.centers.dtype))
        return loss


class _MarginLoss(_LoggedLoss):
    """Cosine classifier: normalized embedding against normalized class weights."""

    def __init__(self, embedding_size: int, num_classes: int, scale: float,
                 margin: float) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a margin loss needs at least 2 classes, got {num_classes}")
        if scale <= 0 or margin < 0:
            raise ValueError(f"need scale > 0 and margin >= 0, got {scale}, {margin}")
        self.scale = scale
        self.margin = margin
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_size))
        nn.init.xavier_uniform_(self.weight)

    def _target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, prelogits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # fp32 even under autocast: bf16 cosines (3 digits) times scale 30 are too coarse.
        with _no_autocast(prelogits):
            return self._forward(prelogits.float(), labels)

    def _forward(self, prelogits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = F.linear(F.normalize(prelogits, dim=1), F.normalize(self.weight.float(), dim=1))
        index = labels.view(-1, 1)
        cos_target = cos.gather(1, index)
        logits = cos.scatter(1, index, self._target_logit(cos_target)) * self.scale
        loss = F.cross_entropy(logits, labels)
        self._record(loss=loss, cross_entropy=loss, accuracy=_accuracy(cos, labels),
                     cos_target=cos_target.mean())
        return loss


class CosFaceLoss(_MarginLoss):
    """CosFace / large-margin cosine loss (Wang et al. 2018).

    ``logit_j = s * (cos(theta_j) - m * [j == y])``, cross-entropy over classes. Class
    weights are a parameter ``weight`` ``(num_classes, embedding_size)``, normalized at
    every call. ``last_terms``: ``loss``, ``cross_entropy``, ``accuracy`` (argmax of the
    cosines, without margin), ``cos_target`` (mean cosine to the true class).
    """

    def __init__(self, embedding_size: int, num_classes: int, scale: float = 30.0,
                 margin: float = 0.35) -> None:
        super().__init__(embedding_size, num_classes, scale, margin)

    def _target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:
        return cos_target - self.margin


class ArcFaceLoss(_MarginLoss):
    """ArcFace / additive angular margin loss (Deng et al. 2019).

    ``logit_y = s * cos(theta_y + m)``, other classes ``s * cos(theta_j)``. Where
    ``theta_y + m`` would pass pi (``cos(theta_y + m)`` stops decreasing), the target
    logit becomes ``cos(theta_y) - m * sin(m)`` instead, the usual fix that keeps it
    monotonic in theta. Same parameter and ``last_terms`` as :class:`CosFaceLoss`.
    """

    def __init__(self, embedding_size: int, num_classes: int, scale: float = 30.0,
                 margin: float = 0.5) -> None:
        super().__init__(embedding_size, num_classes, scale, margin)
        self._cos_m, self._sin_m = math.cos(margin), math.sin(margin)
        self._threshold = math.cos(math.pi - margin)

    def _target_logit(self, cos_target: torch.Tensor) -> torch.Tensor:
        # The clamp keeps sqrt's gradient finite at |cos| = 1.
        cos_target = cos_target.clamp(-1.0 + 1e-7, 1.0 - 1e-7)
        sin_target = torch.sqrt(1.0 - cos_target * cos_target)
        shifted = cos_target * self._cos_m - sin_target * self._sin_m
        return torch.where(cos_target > self._threshold, shifted,
                           cos_target - self.margin * self._sin_m)


class TripletLoss(_LoggedLoss):
    """FaceNet's triplet loss with online semi-hard negative mining (Schroff et al. 2015).

    Embeddings are the L2-normalized prelogits; distances are squared Euclidean. Every
    ordered pair (a, p) of distinct batch positions with the same label is an
    anchor-positive pair. Its negative n (a different label) is:

    - semi-hard: the closest negative strictly farther than the positive,
      ``min { d(a,n) : d(a,n) > d(a,p) }``. (The FaceNet paper also asks for
      ``d(a,n) < d(a,p) + margin``; when the closest farther negative lies beyond the
      margin its loss is 0 either way, so the results agree.) A negative at exactly
      ``d(a,p)`` is not semi-hard.
    - fallback, when every negative is at most as far as the positive: the farthest
      negative, ``max_n d(a,n)`` (the easiest of the hard ones), as TensorFlow's
      ``triplet_semihard_loss`` does.

    ``loss = sum over pairs of max(d(a,p) - d(a,n) + margin, 0) / number of pairs``
    (pairs whose anchor has no negative in the batch are left out; a batch without any
    pair gives 0, still attached to the graph). Gradients flow through both distances.
    The cost is O(B^2 log B) time and O(B^2) memory (a sort per anchor, no B^3 tensor).
    Under DDP each rank mines in its own batch; :class:`~modelzoo_facenet.samplers.PKBatchSampler`
    gives every rank whole identities, so no pair is split across ranks.

    ``last_terms``: ``loss``, ``pairs`` (count), ``active_fraction`` (pairs with a
    positive loss), ``semi_hard_fraction`` (pairs that found a semi-hard negative),
    ``positive_distance`` and ``negative_distance`` (means over pairs).
    """

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin = margin

    def forward(self, prelogits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # fp32 even under autocast: mining compares distances, bf16 would blur them.
        with _no_autocast(prelogits):
            return self._forward(prelogits.float(), labels)

    def _forward(self, prelogits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embeddings = F.normalize(prelogits, dim=1)
        distances = pairwise_squared_distances(embeddings)
        same = labels.view(-1, 1) == labels.view(1, -1)
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        negative = ~same
        negatives_per_anchor = negative.sum(dim=1)
        positive_pair = same & ~eye & (negatives_per_anchor > 0).view(-1, 1)

        # Per anchor, its negatives' distances in ascending order, non-negatives at +inf.
        sorted_negative, _ = distances.masked_fill(~negative, float("inf")).sort(dim=1)
        # For every (a, p): index of the first negative strictly farther than d(a, p).
        first_farther = torch.searchsorted(sorted_negative, distances.contiguous(),
                                           right=True)
        semi_hard = first_farther < negatives_per_anchor.view(-1, 1)
        farthest = (negatives_per_anchor - 1).clamp_min(0).view(-1, 1)
        chosen = torch.where(semi_hard, first_farther, farthest.expand_as(first_farther))
        negative_distance = sorted_negative.gather(1, chosen.clamp_max(len(labels) - 1))

        # Masked sums rather than boolean indexing or branching: no device sync per step.
        pairs = positive_pair.sum().float()
        denominator = pairs.clamp_min(1.0)
        per_pair = torch.where(positive_pair,
                               (distances - negative_distance + self.margin).clamp_min(0.0),
                               torch.zeros_like(distances))
        loss = per_pair.sum() / denominator  # 0 (with a graph) when the batch has no pair

        def mean_over_pairs(values: torch.Tensor) -> torch.Tensor:
            return torch.where(positive_pair, values, torch.zeros_like(values)).sum() \
                / denominator

        self._record(loss=loss, pairs=pairs,
                     active_fraction=mean_over_pairs((per_pair > 0).float()),
                     semi_hard_fraction=mean_over_pairs(semi_hard.float()),
                     positive_distance=mean_over_pairs(distances),
                     negative_distance=mean_over_pairs(negative_distance))
        return loss


class TripletSoftmaxLoss(_LoggedLoss):
    """bubbliiiing/facenet-pytorch's loss: a triplet term on fixed triplets + cross-entropy.

    The batch is ``3n`` rows in thirds, anchors, positives, negatives: row ``i``, ``n + i``
    and ``2n + i`` are one (anchor, positive, negative) triplet, as
    :class:`~modelzoo_facenet.samplers.TripletBatchSampler` lays batches out (labels must
    agree: ``labels[i] == labels[n + i] != labels[2n + i]``, checked on the first call).

    - Triplet term, on the L2-normalized prelogits with plain Euclidean distances ``d``:
      only the triplets inside the margin count, ``d(a, n) - d(a, p) < margin``, each
      ``max(d(a, p) - d(a, n) + margin, 0)``, summed and divided by their number (0,
      attached to the graph, when none is inside). Unlike :class:`TripletLoss`, nothing is
      mined: the sampler fixed the negatives.
    - Cross-entropy of a classifier on the un-normalized prelogits over all ``3n`` rows,
      through :class:`SoftmaxLoss` without regularizers (its ``classifier``: Linear with bias).

    ``loss = triplet + cross_entropy``. ``last_terms``: ``loss``, ``triplet``,
    ``cross_entropy``, ``accuracy``, ``inside_margin_fraction``, ``positive_distance``,
    ``negative_distance``.
    """

    def __init__(self, embedding_size: int, num_classes: int, margin: float = 0.2) -> None:
        super().__init__()
        if margin <= 0:
            raise ValueError(f"margin must be positive, got {margin}")
        self.margin = margin
        self.softmax = SoftmaxLoss(embedding_size, num_classes, prelogits_norm_factor=0.0)
        self._checked = False

    def forward(self, prelogits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with _no_autocast(prelogits):
            return self._forward(prelogits.float(), labels)

    def _forward(self, prelogits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if len(labels) % 3:
            raise ValueError(f"a triplet batch has 3n rows (anchors, positives, negatives), got {len(labels)}")
        n = len(labels) // 3
        if not self._checked:
            anchor, positive, negative = labels[:n], labels[n:2 * n], labels[2 * n:]
            if not bool(((anchor == positive) & (anchor != negative)).all()):
                raise ValueError("the batch is not laid out as anchors, positives, negatives "
                                 "(labels[i] == labels[n + i] != labels[2n + i]); use TripletBatchSampler")
            self._checked = True
        embeddings = F.normalize(prelogits, dim=1)
        a, p, q = embeddings[:n], embeddings[n:2 * n], embeddings[2 * n:]
        positive_distance = (a - p).pow(2).sum(dim=1).clamp_min(1e-12).sqrt()
        negative_distance = (a - q).pow(2).sum(dim=1).clamp_min(1e-12).sqrt()
        inside = (negative_distance - positive_distance < self.margin).float()
        per_triplet = (positive_distance - negative_distance + self.margin).clamp_min(0.0) * inside
        triplet = per_triplet.sum() / inside.sum().clamp_min(1.0)
        cross_entropy = self.softmax(prelogits, labels)
        total = triplet + cross_entropy
        self._record(loss=total, triplet=triplet, cross_entropy=cross_entropy,
                     accuracy=self.softmax._terms["accuracy"], inside_margin_fraction=inside.mean(),
                     positive_distance=positive_distance.mean(), negative_distance=negative_distance.mean())
        return total


def pairwise_squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """``(N, N)`` squared Euclidean distances, clamped at 0, exact zeros on the diagonal."""
    squared = embeddings.pow(2).sum(dim=1)
    distances = squared.view(-1, 1) + squared.view(1, -1) - 2.0 * embeddings @ embeddings.T
    distances = distances.clamp_min(0.0)
    return distances.masked_fill(torch.eye(len(embeddings), dtype=torch.bool,
                                           device=embeddings.device), 0.0)


LOSSES: dict[str, type[nn.Module]] = {
    "softmax": SoftmaxLoss,
    "cosface": CosFaceLoss,
    "arcface": ArcFaceLoss,
    "triplet": TripletLoss,
    "triplet_softmax": TripletSoftmaxLoss,
}


def build_loss(name: str, embedding_size: int, num_classes: int, **options) -> nn.Module:
    """Build the loss called ``name`` (``softmax``, ``cosface``, ``arcface``, ``triplet``).

    ``options`` are the loss's keyword arguments (e.g. ``prelogits_norm_factor=5e-4`` for
    softmax, ``margin=0.2`` for triplet); ``embedding_size`` and ``num_classes`` are
    ignored by the triplet loss. Unknown names, unknown options or bad values raise
    :class:`~modelzoo.contract.api.UserError`.
    """
    cls = LOSSES.get(name)
    if cls is None:
        raise UserError(f"unknown loss {name!r}; use one of: {', '.join(LOSSES)}")
    accepted = [p for p in inspect.signature(cls).parameters
                if p not in ("embedding_size", "num_classes")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UserError(f"loss {name!r} has no option {', '.join(unknown)}; "
                        f"its options are: {', '.join(accepted) or 'none'}")
    try:
        if cls is TripletLoss:
            return cls(**options)
        return cls(embedding_size, num_classes, **options)
    except ValueError as error:
        raise UserError(f"loss {name!r}: {error}; fix the loss options") from error
