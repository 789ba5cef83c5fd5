"""plausible.implausible: why a record cannot be true, judged by the declared columns."""

from __future__ import annotations

import pytest

from modelzoo.contract.api import MetricColumn
from modelzoo.store.plausible import MAX_FPS, STEP_SAMPLES_TOLERANCE, implausible

ACC = MetricColumn("acc", "Acc", std_key="acc_std", lowest=0.0, highest=1.0)


def _record(kind="train", **metrics) -> dict:
    base = {"fps": 100.0, "timed_steps": 4, "timed_seconds": 0.4, "steps": 6, "images_seen": 60, "acc": 0.5}
    return {"kind": kind, "model": "m", "profile": "p", "cards": 1, "world_size": 1, "metrics": {**base, **metrics}}


def test_a_record_that_agrees_with_itself_is_plausible():
    assert implausible(_record(), [ACC]) == []
    assert implausible(_record(acc=0.0, acc_std=0.0), [ACC]) == []  # the bounds are inside the range
    assert implausible(_record(fps=MAX_FPS, timed_seconds=4 * 10 / MAX_FPS), [ACC]) == []


@pytest.mark.parametrize("factor, plausible", [(1.0, True), (STEP_SAMPLES_TOLERANCE * 0.99, True),
                                               (STEP_SAMPLES_TOLERANCE * 1.01, False), (0.6, False)])
def test_fps_must_agree_with_its_window_within_the_tolerance(factor, plausible):
    assert (implausible(_record(fps=100.0 * factor), [ACC]) == []) is plausible


@pytest.mark.parametrize("metrics, reason", [
    ({"acc_std": -0.1}, "acc_std is -0.1, below 0"),
    ({"acc_std": "wide"}, "acc_std is not a number ('wide')"),
    ({"acc": float("nan")}, "acc is nan"),
    ({"acc": True}, "acc is not a number (True)"),
    ({"steps": 2}, "timed 4 steps but records 2 steps"),
])
def test_each_reason_names_the_field(metrics, reason):
    assert any(reason in r for r in implausible(_record(**metrics), [ACC])), implausible(_record(**metrics), [ACC])


def test_an_evaluation_needs_no_timing_but_any_fps_it_states_must_be_possible():
    assert implausible(_record("eval", fps=None, timed_steps=0), [ACC]) == []
    assert implausible(_record("eval", fps=-1.0), [ACC]) == ["FPS is -1.0"]


def test_a_cell_names_every_field_its_run_does_not_match():
    record = dict(_record(), model="other", profile="q", cards=2, world_size=1)
    reasons = implausible(record, [ACC], {"model": "m", "profile": "p", "cards": 1})
    assert reasons == ["it is a run of model 'other', not the cell's 'm'",
                       "it is a run of profile 'q', not the cell's 'p'",
                       "it is a run of cards 2, not the cell's 1", "it ran 1 processes for 2 cards"]


def test_only_the_declared_columns_are_judged():
    odd = _record(acc=7.0, other=-5.0)
    assert implausible(odd, []) == []  # nothing declared: nothing to hold the values to
    assert implausible(odd, [ACC]) == ["acc 7 is outside its possible range [0, 1]"]
