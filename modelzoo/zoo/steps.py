"""Step changes in one cell's history: where a quantity moved, release over release, and by how much.

A history is one point per release in release order; a point holds that release's
measurements (several runs, or ``--repeat`` repeats) and may be empty (a release that did
not run the cell). :func:`find_changes` fits the whole series, not neighbour pairs:

1. Each release's level is the median of its measurements (one wild repeat of three moves
   nothing), on a log scale for ratios (FPS: a step is a percentage) or as is (a metric).
2. Noise of one release's level, ``sigma``: the larger of the measurements' own spread
   (pooled median absolute deviation of the repeats, divided by sqrt(n)) and the series'
   spread release to release (median absolute difference of neighbours / sqrt(2), robust to
   the steps themselves), never under ``floor``.
3. Binary segmentation: split the series where the means on either side differ most in
   standard errors (``t``); keep the split when ``t >= threshold``, then look again in
   each part. So two regressions in one series are both found, and the last one too.
4. A run of changes in one direction with short segments between (a slope, not a step) is
   one *creep*, reported with its first and last release and the rate per release; a
   single change whose neighbourhood a ramp fits clearly better than a step is a creep too.

The thresholds were chosen on one simulated set and are reported on another
(``bench/steps_bench.py``; figures in docs/BENCHMARKS.md).

Plain Python, no numpy: a series holds a few dozen levels, where numpy's cost per call was
most of the work, and importing numpy was a twentieth of ``modelzoo report``'s time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

DEFAULT_THRESHOLD = 4.0       # standard errors a split must reach (bench/steps_bench.py chose it)
CREEP_GAP = 2                 # changes at most this many releases apart, same direction: one creep
RAMP_MARGIN = 6.0             # chi-square units a ramp must beat a step by to call a single change a creep
OUTLIER_SIGMAS = 4.0          # a repeat this many deviations from its release's median is left out
BETWEEN_FACTOR = 2.0          # release-to-release spread this much above the repeats' own: drift, counted
_MAD = 1.4826                 # median absolute deviation -> standard deviation for normal noise


@dataclass(frozen=True)
class Change:
    """One change in a history: ``kind`` ``step`` or ``creep``; ``start``/``end`` index the
    series' points (``start``: the first release at the new level or the creep's first step)."""
    kind: str
    start: int
    end: int
    size: float          # after - before: a ratio - 1 for relative series (-0.12: 12 % lower), else a difference
    significance: float  # in standard errors of the difference
    before: float        # level before (in the series' units)
    after: float         # level after

    def per_release(self) -> float:
        return self.size / max(1, self.end - self.start + 1)


def _clean(point: Sequence[float], relative: bool) -> list[float]:
    """A point's finite measurements (logs when ``relative``). Plain Python: a point holds a
    few values, where numpy's per-call cost would be most of the work."""
    if relative:
        return [math.log(v) for v in point if v is not None and math.isfinite(v) and v > 0]
    return [float(v) for v in point if v is not None and math.isfinite(v)]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _within_spread(points: Sequence[Sequence[float]], relative: bool) -> Optional[float]:
    """The standard deviation of one measurement, from the releases' repeats: the median over
    releases of each one's sample variance, scaled by the median of chi-square (robust to a
    release with a wild repeat, unbiased for normal noise)."""
    estimates = []
    for point in points:
        data = _clean(point, relative)
        if len(data) >= 2:
            k = len(data) - 1  # median of chi2(k) / k, Wilson-Hilferty: within 1.5 % from k = 1 on
            mean = sum(data) / len(data)
            variance = sum((v - mean) ** 2 for v in data) / k
            estimates.append(variance / (1 - 2 / (9 * k)) ** 3)
    return math.sqrt(_median(estimates)) if estimates else None


def levels(points: Sequence[Sequence[float]], relative: bool,
           spread: Optional[float] = None) -> tuple[list[float], list[int], list[int]]:
    """Each non-empty point's level (log when ``relative``), its measurement count and index.

    A level is the mean of the point's measurements without the outliers: those more than
    OUTLIER_SIGMAS measurement deviations (``spread``, else the points' own) from the
    point's median (one wild repeat of three moves nothing; the mean of the rest keeps the
    precision a median would lose)."""
    spread = _within_spread(points, relative) if spread is None else spread
    values, counts, where = [], [], []
    for index, point in enumerate(points):
        data = _clean(point, relative)
        if not data:
            continue
        if spread and len(data) >= 3:
            middle = _median(data)
            data = [v for v in data if abs(v - middle) <= OUTLIER_SIGMAS * spread] or data
        values.append(sum(data) / len(data))
        counts.append(len(data))
        where.append(index)
    return values, counts, where


def level_noise(points: Sequence[Sequence[float]], relative: bool, floor: float) -> float:
    """The standard error of one release's level (see the module docstring, step 2)."""
    within = _within_spread(points, relative)
    means, counts, _ = levels(points, relative, within)
    return _noise(means, counts, within, floor)


def _noise(means: list[float], counts: list[int], within: Optional[float], floor: float) -> float:
    sigma = within / math.sqrt(_median(counts)) if within is not None and counts else 0.0
    if len(means) >= 4:
        between = _MAD * _median([abs(b - a) for a, b in zip(means, means[1:])]) / math.sqrt(2)
        # the neighbours' spread counts when it clearly exceeds what the repeats explain (drift
        # between releases); its estimate from a short series is too rough to widen every cell
        if within is None or between > BETWEEN_FACTOR * sigma:
            sigma = max(sigma, between)
    return max(sigma, floor)


def find_changes(points: Sequence[Sequence[float]], *, relative: bool = True, floor: float = 0.0,
                 threshold: float = DEFAULT_THRESHOLD, noise: Optional[float] = None) -> list[Change]:
    """The changes in ``points`` (one sequence of measurements per release, oldest first),
    earliest first. ``floor``: the least noise assumed (log units when ``relative``);
    ``noise``: the level noise, if known (else estimated from the series)."""
    within = _within_spread(points, relative)
    means, counts, where = levels(points, relative, within)
    if len(means) < 2:
        return []
    sigma = noise if noise is not None else _noise(means, counts, within, floor)
    cuts = sorted(_segment(means, 0, len(means), sigma, threshold))
    bounds = [0, *cuts, len(means)]
    raw = [(cut, bounds[i], bounds[i + 2]) for i, cut in enumerate(cuts)]
    changes = []
    for group in _creep_groups(raw, means):
        first, last = group[0], group[-1]
        a, b = first[1], last[2]
        if len(group) == 1:
            ramp = _best_ramp(means, a, first[0], b, sigma)
            if ramp is None:
                changes.append(_change("step", means, where, relative, sigma, a, first[0], first[0], b))
                continue
            start, end = ramp
        else:
            start, end = first[0], last[0]
        changes.append(_change("creep", means, where, relative, sigma, a, start, end, b))
    return changes


def _segment(means: list[float], a: int, b: int, sigma: float, threshold: float) -> list[int]:
    """Split points (indexes of the first point of a new level) in ``means[a:b]``: the best single
    cut, else the best pair of cuts around a middle part (two opposite steps mask each other
    for a single cut), each kept when it reaches ``threshold`` standard errors."""
    n = b - a
    if n < 2:
        return []
    total = [0.0]
    for value in means[a:b]:
        total.append(total[-1] + value)

    def t(inside: int, sum_in: float, sum_out: float) -> float:  # ``inside`` points against the rest
        return _in_errors(abs(sum_in / inside - sum_out / (n - inside)), sigma, 1.0 / inside + 1.0 / (n - inside))

    best, best_t = 0, -1.0
    for k in range(1, n):
        value = t(k, total[k], total[n] - total[k])
        if value > best_t:  # the first of equals wins
            best, best_t = k, value
    if best_t >= threshold:
        cuts = [a + best]
    else:
        pick, pick_t = None, -1.0
        for i in range(1, n):          # a middle part [i, j) of 2+, something on both sides
            for j in range(i + 2, n):
                value = t(j - i, total[j] - total[i], total[n] - total[j] + total[i])
                if value > pick_t:
                    pick, pick_t = (i, j), value
        if pick is None or pick_t < threshold:
            return []
        cuts = [a + pick[0], a + pick[1]]
    out, edges = list(cuts), [a, *cuts, b]
    for lo, hi in zip(edges, edges[1:]):
        out += _segment(means, lo, hi, sigma, threshold)
    return out


def _in_errors(difference: float, sigma: float, inverse_counts: float) -> float:
    """A difference of two means in standard errors (each mean's noise ``sigma``; with no noise
    at all, any difference is beyond every threshold)."""
    if sigma > 0:
        return difference / (sigma * math.sqrt(inverse_counts))
    return math.inf if difference else 0.0


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _creep_groups(raw: list[tuple[int, int, int]], means: list[float]) -> list[list[tuple[int, int, int]]]:
    """Neighbouring changes in one direction, at most CREEP_GAP releases apart, grouped."""
    groups: list[list[tuple[int, int, int]]] = []
    for cut, a, b in raw:
        direction = _sign(_mean(means[cut:b]) - _mean(means[a:cut]))
        if groups:
            last = groups[-1][-1]
            last_direction = _sign(_mean(means[last[0]:last[2]]) - _mean(means[last[1]:last[0]]))
            if cut - last[0] <= CREEP_GAP and direction == last_direction:
                groups[-1].append((cut, a, b))
                continue
        groups.append([(cut, a, b)])
    return groups


def _best_ramp(means: list[float], a: int, cut: int, b: int, sigma: float) -> Optional[tuple[int, int]]:
    """``(first, last)`` point of a linear ramp that fits ``means[a:b]`` clearly better than a
    step at ``cut`` (by RAMP_MARGIN, in units of sigma squared), or None."""
    left, right = _mean(means[a:cut]), _mean(means[cut:b])
    step_rss = sum((means[x] - (left if x < cut else right)) ** 2 for x in range(a, b))
    best, best_rss = None, step_rss - RAMP_MARGIN * sigma ** 2
    for start in range(max(a + 1, cut - 4), cut + 1):
        for end in range(max(cut, start + 1), min(b - 1, cut + 4) + 1):
            if end - start < 1 or start - a < 1 or b - end < 1:
                continue
            before, after = _mean(means[a:start]), _mean(means[end:b])
            # the ramp leaves the old level at start - 1 and reaches the new one at end
            width = end - start + 1
            rss = sum((means[x] - (min(1.0, max(0.0, (x - (start - 1)) / width)) * (after - before) + before)) ** 2
                      for x in range(a, b))
            if rss < best_rss:
                best, best_rss = (start, end), rss
    return best


def _change(kind: str, means: list[float], where: list[int], relative: bool, sigma: float,
            a: int, start: int, end: int, b: int) -> Change:
    """The change from level ``means[a:start]`` to level ``means[end:b]`` (a step: start == end)."""
    before, after = _mean(means[a:start]), _mean(means[end:b])
    significance = _in_errors(abs(after - before), sigma, 1.0 / (start - a) + 1.0 / (b - end))
    size = math.expm1(after - before) if relative else after - before
    level = math.exp if relative else float
    return Change(kind, where[start], where[end], size, significance, level(before), level(after))
