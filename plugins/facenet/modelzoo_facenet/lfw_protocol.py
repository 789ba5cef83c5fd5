"""The LFW verification protocol (View 2's 10 folds), in numpy only.

Thresholds are chosen on nine folds and scored on the tenth; accuracy is reported as
mean and population std over the folds, with VAL@FAR=1e-3, AUC and EER
(docs/PROTOCOLS.md#lfw-verification). No torch here: the protocol runs on embeddings
already computed (``lfw_eval`` computes them), so reports, tests and re-scoring of
stored embeddings stay light. Reading pairs.txt is :mod:`modelzoo_facenet.lfw`.

Public API
----------
- :func:`distances`: squared Euclidean or angular (arccos of cosine similarity / pi).
- :func:`evaluate` -> :class:`LfwResult`: the 10-fold protocol (accuracy, VAL@FAR=1e-3,
  ROC, AUC, EER), after davidsandberg/facenet's ``lfw.evaluate``.
- :func:`interleaved_subfolds`: class-balanced sub-folds to score one LFW fold alone.

:func:`evaluate` accepts any integer fold labels in ``folds`` (each distinct value is a
fold), such as :attr:`modelzoo_facenet.lfw.Pair.fold`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from modelzoo.contract.api import UserError

# The protocol's threshold grids, built exactly as the reference does (np.arange), so that a
# distance equal to a grid value behaves the same here as there.
ACCURACY_THRESHOLDS = np.arange(0, 4, 0.01)
VAL_THRESHOLDS = np.arange(0, 4, 0.001)
FAR_TARGET = 1e-3

DISTANCES = ("euclidean", "cosine")

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


def distances(embeddings1: np.ndarray, embeddings2: np.ndarray,
              distance: str = "euclidean") -> np.ndarray:
    """Per-pair distance: ``"euclidean"`` = squared Euclidean distance; ``"cosine"`` =
    arccos(cosine similarity) / pi, in [0, 1]. A zero vector counts as similarity 0."""
    e1 = np.asarray(embeddings1, dtype=np.float64)
    e2 = np.asarray(embeddings2, dtype=np.float64)
    if distance == "euclidean":
        diff = e1 - e2
        return np.einsum("ij,ij->i", diff, diff)
    if distance == "cosine":
        dot = np.einsum("ij,ij->i", e1, e2)
        norm = np.sqrt(np.einsum("ij,ij->i", e1, e1) * np.einsum("ij,ij->i", e2, e2))
        sim = np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)
        # Rounding can push |sim| a hair above 1, where arccos is nan.
        return np.arccos(np.clip(sim, -1.0, 1.0)) / math.pi
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


class _CenteredCosine:
    """Cosine distances of (e1 - m, e2 - m) for many means m, in O(n) per mean.

    (e1 - m).(e2 - m) = e1.e2 - e1.m - e2.m + m.m, and likewise the squared norms: the
    pair products are computed once, each mean costs two matrix-vector products instead
    of re-centering n x d arrays (several times faster for 6000 x 1024). The same quantity as
    :func:`distances` on centered embeddings, to float64 rounding (relative 1e-15 when
    |m| is comparable to |e - m|, as for unit embeddings).
    """

    def __init__(self, e1: np.ndarray, e2: np.ndarray):
        self.e1, self.e2 = e1, e2
        self.e12 = np.einsum("ij,ij->i", e1, e2)
        self.e11 = np.einsum("ij,ij->i", e1, e1)
        self.e22 = np.einsum("ij,ij->i", e2, e2)

    def distances(self, mean: np.ndarray) -> np.ndarray:
        # einsum rather than BLAS gemv: as fast single-threaded, and no spinning BLAS
        # threads on a shared, loaded host.
        m1, m2 = np.einsum("ij,j->i", self.e1, mean), np.einsum("ij,j->i", self.e2, mean)
        mm = float(np.dot(mean, mean))
        dot = self.e12 - m1 - m2 + mm
        # Cancellation may leave a tiny negative squared norm: clamp at 0.
        norm = np.sqrt(np.maximum(self.e11 - 2 * m1 + mm, 0) * np.maximum(self.e22 - 2 * m2 + mm, 0))
        sim = np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)
        return np.arccos(np.clip(sim, -1.0, 1.0)) / math.pi


@dataclass
class LfwResult:
    """The outcome of :func:`evaluate`. All arrays are plain lists (JSON-ready).

    ``thresholds``: the accuracy threshold chosen for each fold; ``val_thresholds``: the
    VAL@FAR threshold of each fold; ``roc_fpr``/``roc_tpr``: the mean ROC over the
    accuracy threshold grid (0, 0.01, ..., 3.99); ``fold_labels``: the fold label of each
    entry of the per-fold lists.
    """

    accuracy: float
    accuracy_std: float
    fold_accuracies: list[float]
    thresholds: list[float]
    val: float
    val_std: float
    far: float
    far_std: float
    val_thresholds: list[float]
    auc: float
    eer: float
    roc_fpr: list[float]
    roc_tpr: list[float]
    distance: str = "euclidean"
    subtract_mean: bool = False
    n_pairs: int = 0
    n_images: int = 0  # distinct images embedded (set by lfw_eval)
    n_people: int = 0  # distinct people among them
    fold_labels: list[int] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def formatted(self) -> str:
        """The zoo README's LFW_Accuracy cell: ``0.98900+-0.00642``."""
        from modelzoo.contract.api import format_mean_std

        return format_mean_std(self.accuracy, self.accuracy_std)

    def as_metrics(self) -> dict:
        return {
            "lfw_accuracy": self.accuracy,
            "lfw_accuracy_std": self.accuracy_std,
            "val_far_1e-3": self.val,
            "val_far_1e-3_std": self.val_std,
            "far": self.far,
            "auc": self.auc,
            "eer": self.eer,
            "best_threshold_mean": float(np.mean(self.thresholds)),
        }


def _fold_labels(n: int, n_folds: int, folds: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(fold index 0..F-1 per pair, label of each fold)."""
    if folds is None:
        if not 2 <= n_folds <= n:
            raise ValueError(f"need 2 <= n_folds <= number of pairs, got {n_folds} for {n}")
        # Contiguous blocks in file order, sized like sklearn's KFold(shuffle=False):
        # the first n % n_folds folds hold one extra pair. 6000 pairs: 10 blocks of 600.
        sizes = np.full(n_folds, n // n_folds)
        sizes[: n % n_folds] += 1
        return np.repeat(np.arange(n_folds), sizes), np.arange(n_folds)
    folds = np.asarray(folds)
    if folds.shape != (n,):
        raise ValueError(f"folds must hold one label per pair: shape {folds.shape} for {n} pairs")
    labels, index = np.unique(folds, return_inverse=True)
    if len(labels) < 2:
        raise UserError(f"the pairs span {len(labels)} fold(s); cross-validation needs at "
                        "least 2 (score a single LFW fold with interleaved sub-folds)")
    return index.reshape(-1), labels


def _accepted_counts(dist: np.ndarray, thresholds: np.ndarray, groups: np.ndarray,
                     n_groups: int) -> np.ndarray:
    """counts[g, j] = number of pairs of group g with dist < thresholds[j].

    ``k = searchsorted(thr, d, 'right')`` is the number of thresholds <= d, so d < thr[j]
    exactly when j >= k: a histogram over k, cumulated, counts every threshold at once
    with the same strict comparison as the reference. NaN sorts last: never accepted.
    """
    n_thr = len(thresholds)
    k = np.searchsorted(thresholds, dist, side="right")
    hist = np.bincount(groups * (n_thr + 1) + k, minlength=n_groups * (n_thr + 1))
    return np.cumsum(hist.reshape(n_groups, n_thr + 1), axis=1)[:, :n_thr]


def _ratio(num, den):
    num = np.asarray(num, dtype=np.float64)
    return num / den if den else np.zeros_like(num)


def _val_threshold(far_train: np.ndarray, thresholds: np.ndarray, target: float) -> float:
    """The threshold at which the training FAR reaches ``target``, by linear interpolation
    of threshold over FAR; 0 when the training FAR never reaches the target.

    FAR never decreases as the threshold grows, but it repeats (a flat step between two
    different-pair distances), and interp1d refuses repeated x. For each FAR value we keep
    the SMALLEST threshold giving it: that is where the step starts, so the interpolated
    threshold lies inside [t_k, t_k+1) of the two steps around the target and its training
    FAR is FAR_k <= target. Keeping the largest would interpolate between the ends of
    the two steps, [T_k, T_k+1], where all but the first grid step already has the
    training FAR of the step above the target. FAR 0 is kept at threshold 0, so when the
    first FAR step already exceeds the target (fewer than 1/target training different
    pairs, e.g. one LFW fold scored alone), the threshold lands between 0 and that step:
    VAL@FAR is then not resolvable and comes out low, never with a training FAR above
    the target.
    """
    if far_train.max() < target:
        return 0.0
    far_values, first = np.unique(far_train, return_index=True)
    return float(np.interp(target, far_values, thresholds[first]))


def _eer(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Equal error rate: where the ROC polyline crosses 1 - tpr == fpr.

    The ROC is completed with (0, 0) and (1, 1) (thresholds -inf and +inf) so a crossing
    always exists. g = 1 - fpr - tpr never increases along the curve; the crossing is
    interpolated linearly on the segment where g turns non-positive.
    """
    fpr = np.concatenate([[0.0], fpr, [1.0]])
    tpr = np.concatenate([[0.0], tpr, [1.0]])
    g = 1.0 - fpr - tpr
    i = int(np.argmax(g <= 0))  # g[0] = 1 > 0 and g[-1] = -1, so 1 <= i
    if g[i] == 0:
        return float(fpr[i])
    s = g[i - 1] / (g[i - 1] - g[i])
    return float(fpr[i - 1] + s * (fpr[i] - fpr[i - 1]))


def evaluate(
    embeddings1: np.ndarray,
    embeddings2: np.ndarray,
    issame: np.ndarray,
    *,
    distance: str = "euclidean",
    subtract_mean: bool = False,
    n_folds: int = 10,
    folds: Optional[np.ndarray] = None,
) -> LfwResult:
    """The LFW 10-fold verification protocol (davidsandberg/facenet ``lfw.evaluate``).

    Folds: ``folds=None`` splits the pairs in file order into ``n_folds`` contiguous
    blocks (no shuffle; 6000 pairs: fold i = pairs i*600..(i+1)*600-1). Otherwise
    ``folds`` gives a label per pair (any integers; each distinct value is a fold, in
    ascending order) and ``n_folds`` is ignored.

    For each held-out fold: with ``subtract_mean``, the mean of the training folds'
    embeddings (both sides of each pair) is subtracted from all embeddings (which leaves
    squared Euclidean distances unchanged: it matters for the cosine one); distances
    (:func:`distances`) predict "same" when ``dist < threshold``. Accuracy: the threshold
    of grid 0, 0.01, ..., 3.99 with the best training accuracy (ties: the lowest) scores
    the held-out fold; mean and population std over folds. ROC: TPR/FPR of the held-out
    fold at every grid threshold, averaged over folds; AUC = trapezoid over it; EER where
    1 - TPR = FPR on it. VAL@FAR=1e-3: on grid 0, 0.001, ..., 3.999 the training FAR is
    interpolated to 1e-3 (see :func:`_val_threshold`), VAL and FAR measured on the
    held-out fold; mean and std over folds.
    """
    e1 = np.asarray(embeddings1, dtype=np.float64)
    e2 = np.asarray(embeddings2, dtype=np.float64)
    same = np.asarray(issame, dtype=bool)
    n = len(same)
    if e1.ndim != 2 or e1.shape != e2.shape or e1.shape[0] != n:
        raise ValueError(f"embeddings must be (n_pairs, dim) arrays of one shape with "
                         f"n_pairs = len(issame): got {e1.shape}, {e2.shape}, {n}")
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    fold_of, labels = _fold_labels(n, n_folds, folds)
    n_f = len(labels)

    acc_thr, val_thr = ACCURACY_THRESHOLDS, VAL_THRESHOLDS
    accuracy = np.zeros(n_f)
    best = np.zeros(n_f)
    tprs = np.zeros((n_f, len(acc_thr)))
    fprs = np.zeros((n_f, len(acc_thr)))
    val = np.zeros(n_f)
    far = np.zeros(n_f)
    val_t = np.zeros(n_f)
    # Subtracting one vector from both sides leaves e1 - e2, hence the squared Euclidean
    # distance, unchanged: only the cosine distance depends on the mean.
    per_fold_mean = subtract_mean and distance == "cosine"
    if per_fold_mean:
        centered = _CenteredCosine(e1, e2)
        # Training mean = (sum of all - sum of the held-out fold) / count, without
        # concatenating the nine training folds for every fold.
        total = e1.sum(axis=0) + e2.sum(axis=0)
    else:
        dist = distances(e1, e2, distance)
    for f in range(n_f):
        test = fold_of == f
        train = ~test
        if per_fold_mean:
            mean = (total - e1[test].sum(axis=0) - e2[test].sum(axis=0)) / (2 * train.sum())
            dist = centered.distances(mean)
        # Group 0 = training folds, 1 = the held-out fold; split by class.
        group = test.astype(np.int64)
        tp = _accepted_counts(dist[same], acc_thr, group[same], 2)
        fp = _accepted_counts(dist[~same], acc_thr, group[~same], 2)
        n_same = np.bincount(group[same], minlength=2)
        n_diff = np.bincount(group[~same], minlength=2)
        # Training accuracy is (tp + n_diff - fp) / n: the same order as tp - fp, in
        # integers, so ties are exact and argmax takes the lowest threshold.
        j = int(np.argmax(tp[0] - fp[0]))
        best[f] = acc_thr[j]
        accuracy[f] = (tp[1, j] + n_diff[1] - fp[1, j]) / test.sum()
        tprs[f] = _ratio(tp[1], n_same[1])
        fprs[f] = _ratio(fp[1], n_diff[1])

        fa_train = _accepted_counts(dist[~same & train], val_thr,
                                    np.zeros((~same & train).sum(), dtype=np.int64), 1)[0]
        t = _val_threshold(_ratio(fa_train, n_diff[0]), val_thr, FAR_TARGET)
        val_t[f] = t
        val[f] = _ratio(np.sum(dist[same & test] < t), n_same[1])
        far[f] = _ratio(np.sum(dist[~same & test] < t), n_diff[1])

    tpr, fpr = tprs.mean(axis=0), fprs.mean(axis=0)
    # fpr and tpr both grow with the threshold; sorting (stable, fpr then tpr) only
    # guards the trapezoid against a caller-built curve.
    order = np.lexsort((tpr, fpr))
    auc = float(_trapezoid(tpr[order], fpr[order]))
    return LfwResult(
        accuracy=float(accuracy.mean()),
        accuracy_std=float(accuracy.std()),
        fold_accuracies=accuracy.tolist(),
        thresholds=best.tolist(),
        val=float(val.mean()),
        val_std=float(val.std()),
        far=float(far.mean()),
        far_std=float(far.std()),
        val_thresholds=val_t.tolist(),
        auc=auc,
        eer=_eer(fpr, tpr),
        roc_fpr=fpr.tolist(),
        roc_tpr=tpr.tolist(),
        distance=distance,
        subtract_mean=subtract_mean,
        n_pairs=n,
        fold_labels=labels.tolist(),
    )


def interleaved_subfolds(issame: np.ndarray, n_subfolds: int = 10) -> np.ndarray:
    """Sub-fold index (0..n_subfolds-1) per pair, each sub-fold class-balanced.

    Scores ONE LFW fold's 600 pairs with the 10-fold threshold protocol run inside them:
    pairs.txt lists a fold's 300 same pairs before its 300 different ones, so file-order
    sub-folds would each be all one class. Same pairs and different pairs are taken
    separately, in file order, and each class is cut into ``n_subfolds`` contiguous
    blocks (the first ``count % n_subfolds`` blocks one pair larger), as sklearn's
    StratifiedKFold(shuffle=False) does. Contiguous blocks keep a person's consecutive
    pairs together; a fold of 300 + 300 gives sub-folds of 30 + 30.
    """
    same = np.asarray(issame, dtype=bool)
    out = np.empty(len(same), dtype=np.int64)
    for mask in (same, ~same):
        count = int(mask.sum())
        if count < n_subfolds:
            raise UserError(f"{count} {'same' if mask is same else 'different'}-person "
                            f"pairs cannot fill {n_subfolds} sub-folds; use fewer sub-folds "
                            "or more pairs")
        sizes = np.full(n_subfolds, count // n_subfolds)
        sizes[: count % n_subfolds] += 1
        out[mask] = np.repeat(np.arange(n_subfolds), sizes)
    return out
