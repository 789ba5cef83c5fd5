"""A sweep's summary record: mean +- std over its members, success only when every member delivered."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from modelzoo.store import records
from modelzoo.zoo.sweep import summarize

COLUMNS = [{"key": "accuracy", "title": "Accuracy", "format": "{:.4f}", "std_key": "accuracy_std",
            "higher_is_better": True}]


def _member(run_id, accuracy=0.9, fps=100.0, status="success", started=None):
    record = records.new_record(run_id=run_id, kind="train", model="toy", model_title="Toy", plugin={},
                                profile="p", config={"data": {"fold": 1}}, overrides={}, cards=1,
                                world_size=1, device="cpu", seed=0, metric_columns=[dict(c) for c in COLUMNS],
                                log="")
    record["started"] = started or record["started"]
    record["metrics"] = {"fps": fps} if accuracy is None else {"fps": fps, "accuracy": accuracy}
    records.mark_finished(record, status, None if status == "success" else "boom")
    return record


def test_a_sweep_of_successful_members_reports_mean_and_population_std():
    started = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=120)).isoformat(timespec="seconds")
    members = [_member("m1", 0.8, started=started), _member("m2", 0.9, fps=200.0)]
    summary = summarize("s1", "data.fold", ["1", "2"], members)
    assert summary["status"] == "success" and summary["error"] is None
    assert summary["metrics"]["accuracy"] == pytest.approx(0.85)
    assert summary["metrics"]["accuracy_std"] == pytest.approx(0.05)
    assert summary["metrics"]["fps"] == pytest.approx(150.0)
    assert summary["started"] == started and summary["finished"]
    assert summary["duration_s"] == pytest.approx(120, abs=2)  # the whole sweep, from its first member
    assert [m["run_id"] for m in summary["members"]] == ["m1", "m2"]


def test_a_failed_member_fails_the_sweep_and_is_named():
    summary = summarize("s1", "data.fold", ["1", "2"], [_member("m1"), _member("m2", status="failed")])
    assert summary["status"] == "failed"
    assert summary["error"] == "1 of 2 sweep runs did not succeed: m2 (failed)"
    assert summary["finished"] and summary["duration_s"] is not None


@pytest.mark.parametrize("accuracy, why", [(None, "has no accuracy"), (math.nan, "accuracy is not a finite number")])
def test_a_member_without_a_declared_metric_fails_the_sweep(accuracy, why):
    summary = summarize("s1", "data.fold", ["1", "2"], [_member("m1"), _member("m2", accuracy=accuracy)])
    assert summary["status"] == "failed"
    assert summary["error"] == f"run m2 {why}; the mean over the sweep would leave it out"
    assert "accuracy" not in summary["metrics"]


def test_a_sweep_missing_member_records_fails():
    summary = summarize("s1", "data.fold", ["1", "2", "3"], [_member("m1"), _member("m2")])
    assert summary["status"] == "failed"
    assert "1 of 3 sweep runs left no record" in summary["error"]


def test_a_member_lacking_a_metric_only_the_first_member_declares_fails_the_sweep():
    other = _member("m2")
    other["metric_columns"] = []
    del other["metrics"]["accuracy"]
    summary = summarize("s1", "data.fold", ["1", "2"], [_member("m1"), other])
    assert summary["status"] == "failed" and "run m2 has no accuracy" in summary["error"]
