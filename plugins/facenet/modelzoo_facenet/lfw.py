"""The LFW verification protocol (View 2), in numpy only.

No torch here: the protocol runs on embeddings already computed (``lfw_eval`` computes
them), so reports, tests and re-scoring of stored embeddings stay light.

Public API
----------
- :func:`read_pairs` / :class:`Pair`: parse ``pairs.txt`` (View 2, ``10 300`` header) or a
  View 1 file (``pairsDevTest.txt``, a single count on the first line).
- :func:`resolve_pairs`: map pairs to image files ``name/name_%04d.ext``.
- :func:`read_people`: parse ``people.txt`` (View 2's 10 disjoint sets of people).
- :func:`distances`: squared Euclidean or angular (arccos of cosine similarity / pi).
- :func:`evaluate` -> :class:`LfwResult`: the 10-fold protocol (accuracy, VAL@FAR=1e-3,
  ROC, AUC, EER), after davidsandberg/facenet's ``lfw.evaluate``.
- :func:`interleaved_subfolds`: class-balanced sub-folds to score one LFW fold alone.
- :func:`unrestricted_split` / :class:`Split`: train people vs. test pairs for the
  unrestricted protocol with LFW itself as training data.

Fold labels: :attr:`Pair.fold` is LFW's own numbering, 1..10, like the people.txt sets.
:func:`evaluate` accepts any integer labels in ``folds`` (each distinct value is a fold).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from modelzoo.api import UserError

log = logging.getLogger(__name__)

# The protocol's threshold grids, built exactly as the reference does (np.arange), so that a
# distance equal to a grid value behaves the same here as there.
ACCURACY_THRESHOLDS = np.arange(0, 4, 0.01)
VAL_THRESHOLDS = np.arange(0, 4, 0.001)
FAR_TARGET = 1e-3

DISTANCES = ("euclidean", "cosine")

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Pair:
    """One line of a pairs file. ``index1``/``index2`` are LFW's 1-based image numbers;
    ``fold`` is 1-based (View 1 files have a single fold, 1); ``line`` is the 1-based line
    number in the file, for messages."""

    name1: str
    index1: int
    name2: str
    index2: int
    issame: bool
    fold: int
    line: int

    @property
    def key1(self) -> tuple[str, int]:
        return (self.name1, self.index1)

    @property
    def key2(self) -> tuple[str, int]:
        return (self.name2, self.index2)


def _numbered_lines(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"LFW file not found: {path}; check the LFW data folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read LFW file {path}: {exc}; check the file") from None
    # Blank lines (a trailing newline, CRLF leftovers) are skipped; tokens split on any
    # whitespace, so tab- and space-separated files both parse.
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _positive_int(token: str, path: Path, line: int, what: str) -> int:
    try:
        value = int(token)
    except ValueError:
        value = -1
    if value < 1:
        raise UserError(f"{path}:{line}: {what} {token!r} is not a positive integer; "
                        "the file is malformed, get the original from the LFW site")
    return value


def read_pairs(path: str | Path) -> list[Pair]:
    """Parse a LFW pairs file.

    View 2 (``pairs.txt``): first line ``n_folds n_per_class`` (``10 300``), then per fold
    ``n_per_class`` same-person lines ``name i j`` and ``n_per_class`` different-person
    lines ``name1 i name2 j``. A pair's fold is its position: lines
    ``k*2*n_per_class .. (k+1)*2*n_per_class-1`` are fold ``k+1``.
    View 1 (``pairsDevTrain.txt``/``pairsDevTest.txt``): first line ``n``, then ``n``
    same and ``n`` different lines, all in fold 1.

    Raises UserError (with file and line number) on a malformed line or a wrong line count.
    """
    path = Path(path)
    lines = _numbered_lines(path)
    if not lines:
        raise UserError(f"{path} is empty; expected a LFW pairs file (first line '10 300')")
    header_line, header = lines[0]
    if len(header) == 2:
        n_folds = _positive_int(header[0], path, header_line, "number of folds")
        n_per_class = _positive_int(header[1], path, header_line, "pairs per class")
    elif len(header) == 1:
        n_folds, n_per_class = 1, _positive_int(header[0], path, header_line, "pairs per class")
    else:
        raise UserError(f"{path}:{header_line}: header {' '.join(header)!r} is neither "
                        "'n_folds n_per_class' (View 2) nor 'n' (View 1); not a LFW pairs file")
    body = lines[1:]
    expected = 2 * n_folds * n_per_class
    if len(body) != expected:
        raise UserError(f"{path}: header promises {expected} pairs ({n_folds} folds x "
                        f"2 x {n_per_class}) but the file has {len(body)} pair lines; "
                        "the file is truncated or malformed")
    pairs = []
    for position, (line_no, tokens) in enumerate(body):
        fold = position // (2 * n_per_class) + 1
        if len(tokens) == 3:
            name, i, j = tokens
            pairs.append(Pair(name, _positive_int(i, path, line_no, "image number"),
                              name, _positive_int(j, path, line_no, "image number"),
                              True, fold, line_no))
        elif len(tokens) == 4:
            name1, i, name2, j = tokens
            pairs.append(Pair(name1, _positive_int(i, path, line_no, "image number"),
                              name2, _positive_int(j, path, line_no, "image number"),
                              False, fold, line_no))
        else:
            raise UserError(f"{path}:{line_no}: expected 'name i j' or 'name1 i name2 j', "
                            f"got {len(tokens)} fields; the pairs file is malformed")
    return pairs


def read_people(path: str | Path) -> list[list[tuple[str, int]]]:
    """Parse ``people.txt``: first line the number of sets; then per set a line with its
    number of people N followed by N lines ``name count``. View 1 people files (a single
    count, then the names) parse as one set. Returns one ``[(name, n_images), ...]`` list
    per set, in file order (set k of LFW is element k-1)."""
    path = Path(path)
    lines = _numbered_lines(path)
    if not lines:
        raise UserError(f"{path} is empty; expected a LFW people file")

    def count_at(pos: int, what: str) -> int:
        line_no, tokens = lines[pos]
        if len(tokens) != 1:
            raise UserError(f"{path}:{line_no}: expected {what} (one integer), got "
                            f"{' '.join(tokens)!r}; the people file is malformed")
        return _positive_int(tokens[0], path, line_no, what)

    first = count_at(0, "the number of sets")
    # View 1 people files have no set count: the first number counts people directly.
    view1 = len(lines) == first + 1 and first > 0 and len(lines[1][1]) == 2
    n_sets = 1 if view1 else first
    pos = 0 if view1 else 1
    sets: list[list[tuple[str, int]]] = []
    for _ in range(n_sets):
        if pos >= len(lines):
            raise UserError(f"{path}: ends after {len(sets)} of {n_sets} sets; "
                            "the people file is truncated")
        n_people = count_at(pos, "people in a set")
        pos += 1
        people = []
        for _ in range(n_people):
            if pos >= len(lines):
                raise UserError(f"{path}: ends inside set {len(sets) + 1}; "
                                "the people file is truncated")
            line_no, tokens = lines[pos]
            if len(tokens) != 2:
                raise UserError(f"{path}:{line_no}: expected 'name count', got "
                                f"{len(tokens)} fields; the people file is malformed")
            people.append((tokens[0], _positive_int(tokens[1], path, line_no, "image count")))
            pos += 1
        sets.append(people)
    if pos != len(lines):
        raise UserError(f"{path}:{lines[pos][0]}: unexpected extra lines after "
                        f"{n_sets} sets; the people file is malformed")
    return sets


def image_stem(name: str, index: int) -> str:
    """Relative path of a LFW image without extension: ``name/name_0001``."""
    return f"{name}/{name}_{index:04d}"


def resolve_pairs(
    pairs: Sequence[Pair],
    image_dir: str | Path,
    allow_missing: bool = False,
    exts: Sequence[str] = (".png", ".jpg", ".jpeg"),
) -> tuple[list[str], list[str], np.ndarray, np.ndarray, list[str]]:
    """Map pairs to image files ``image_dir/name/name_%04d<ext>`` (first ``ext`` found).

    Returns ``(paths1, paths2, issame, fold, missing)``: the kept pairs' image paths,
    ``issame`` (bool array), ``fold`` (the pairs' 1-based folds, int array) and the sorted
    stems (``name/name_0001``) of the images not found. Unless ``allow_missing``, any
    missing image raises UserError with the count and the first few; with it, the pairs
    with a missing image are dropped and a warning says how many.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise UserError(f"LFW image folder not found: {image_dir}; "
                        "point it at the folder holding one sub-folder per person")
    found: dict[tuple[str, int], Optional[str]] = {}

    def lookup(key: tuple[str, int]) -> Optional[str]:
        if key not in found:
            stem = image_dir / image_stem(*key)
            found[key] = next((str(stem) + ext for ext in exts
                               if Path(str(stem) + ext).is_file()), None)
        return found[key]

    paths1, paths2, issame, fold = [], [], [], []
    for pair in pairs:
        p1, p2 = lookup(pair.key1), lookup(pair.key2)
        if p1 is None or p2 is None:
            continue
        paths1.append(p1)
        paths2.append(p2)
        issame.append(pair.issame)
        fold.append(pair.fold)
    missing = sorted(image_stem(*key) for key, value in found.items() if value is None)
    if missing:
        dropped = len(pairs) - len(paths1)
        first = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        summary = (f"{len(missing)} of {len(found)} LFW images missing under {image_dir} "
                   f"(tried {'/'.join(exts)}; first: {first}), in {dropped} of "
                   f"{len(pairs)} pairs")
        if not allow_missing:
            raise UserError(f"{summary}; check the image folder (an aligned folder must "
                            "hold every pair image) or allow missing images to drop "
                            "those pairs")
        log.warning("%s; dropping those pairs", summary)
    return (paths1, paths2, np.asarray(issame, dtype=bool),
            np.asarray(fold, dtype=np.int64), missing)


# --------------------------------------------------------------------------- protocol


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
        return f"{self.accuracy:.5f}+-{self.accuracy_std:.5f}"

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


# --------------------------------------------------------------------------- unrestricted


@dataclass
class Split:
    """The unrestricted protocol's split for one held-out fold (1-based ``test_fold``).

    ``train_people``: the people of the other sets of people.txt (training identities);
    ``train_images``: their image count; ``test_people``: the people of set
    ``test_fold``; ``test_pairs``: the pairs of fold ``test_fold`` of pairs.txt.
    """

    test_fold: int
    train_people: frozenset[str]
    train_images: int
    test_people: frozenset[str]
    test_pairs: list[Pair]

    @property
    def pair_people(self) -> set[str]:
        return {p.name1 for p in self.test_pairs} | {p.name2 for p in self.test_pairs}

    def check_disjoint(self) -> None:
        """Raise UserError if a person in a test pair is also a training person."""
        leaked = sorted(self.pair_people & self.train_people)
        if leaked:
            raise UserError(f"{len(leaked)} people of LFW fold {self.test_fold}'s pairs are "
                            f"also in the training sets (first: {', '.join(leaked[:5])}); "
                            "people.txt and pairs.txt do not match, use the official files")


def unrestricted_split(people_sets: Sequence[Sequence[tuple[str, int]]],
                       pairs: Sequence[Pair], test_fold: int) -> Split:
    """Train on the people of every people.txt set but ``test_fold`` (1-based), test on
    the pairs of fold ``test_fold``. Call :meth:`Split.check_disjoint` to verify that no
    test-pair person is a training person."""
    n_sets = len(people_sets)
    if not 1 <= test_fold <= n_sets:
        raise UserError(f"test fold {test_fold} is out of range; LFW has folds 1..{n_sets}")
    pair_folds = sorted({p.fold for p in pairs})
    if pair_folds != list(range(1, n_sets + 1)):
        raise UserError(f"the pairs have {len(pair_folds)} folds but people.txt has {n_sets} "
                        "sets; use View 2's pairs.txt with its people.txt")
    train = [person for k, people in enumerate(people_sets, 1) if k != test_fold
             for person in people]
    return Split(
        test_fold=test_fold,
        train_people=frozenset(name for name, _ in train),
        train_images=sum(count for _, count in train),
        test_people=frozenset(name for name, _ in people_sets[test_fold - 1]),
        test_pairs=[p for p in pairs if p.fold == test_fold],
    )
