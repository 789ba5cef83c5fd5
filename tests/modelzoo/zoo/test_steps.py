"""Step detection over a cell's whole history: steps, two regressions in one series, a slow creep,
the last release, and nothing on noise or one wild repeat."""

from __future__ import annotations

import numpy as np
import pytest

from modelzoo.zoo.steps import find_changes


def _history(levels, cv=0.01, repeats=3, seed=0):
    rng = np.random.default_rng(seed)
    return [list(level * (1 + cv * rng.standard_normal(repeats))) for level in levels]


@pytest.mark.parametrize("seed", range(3))
def test_two_regressions_in_one_series_are_both_reported_where_they_began(seed):
    changes = find_changes(_history([100] * 6 + [90] * 6 + [81] * 8, seed=seed))
    assert [(c.kind, c.start) for c in changes] == [("step", 6), ("step", 12)]
    assert all(-0.12 < c.size < -0.08 for c in changes)
    assert all(c.significance > 10 for c in changes)


@pytest.mark.parametrize("seed", range(3))
def test_a_creep_of_two_percent_a_release_over_four_releases_is_reported(seed):
    levels = [100] * 8 + [100 * 0.98 ** k for k in range(1, 5)] + [100 * 0.98 ** 4] * 8
    changes = find_changes(_history(levels, seed=seed))
    assert len(changes) == 1
    (creep,) = changes
    assert creep.size == pytest.approx(0.98 ** 4 - 1, abs=0.015)
    assert 7 <= creep.start <= 9 and 10 <= creep.end <= 12  # within the four creeping releases


def test_a_step_in_the_newest_release_is_reported():
    (change,) = find_changes(_history([100] * 19 + [93]))
    assert change.start == 19 and change.size == pytest.approx(-0.07, abs=0.02)


@pytest.mark.parametrize("seed", range(5))
def test_pure_noise_and_one_wild_repeat_report_nothing(seed):
    points = _history([100] * 20, cv=0.03, seed=seed)
    points[10][1] *= 1.3   # one repeat of one release off by 30 %
    points[4] = []         # a release that did not run the cell
    assert find_changes(points) == []


def test_missing_releases_keep_their_place_and_metrics_are_absolute():
    points = _history([0.99] * 8 + [0.95] * 8, cv=0.002)
    points[8] = []
    (change,) = find_changes(points, relative=False)
    assert change.start == 9 and change.size == pytest.approx(-0.04, abs=0.004)


def test_too_short_a_history_has_no_change():
    assert find_changes([[100.0, 101.0]]) == [] and find_changes([]) == []
