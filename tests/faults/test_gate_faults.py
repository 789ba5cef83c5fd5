"""Fault class 21: the gate believes no impossible record. ``compare`` and ``zoo check``
take their rules from the installed model's declaration and zoo.yaml, never from the
record judged; a record that cannot be true (an accuracy of 2.5 for a fraction, an FPS
with no timed step, an FPS of 1e308, another model's, profile's or card count's run in a
cell) is a failing verdict naming why, and the report keeps it out of its results table."""

from __future__ import annotations

import json

import pytest
from fault_helpers import ONE_CELL_CELL as CELL
from fault_helpers import ONE_CELL_ZOO as ZOO
from fault_helpers import assert_one_line_error, toy_record, write_record


def _forged_columns(**claim) -> list[dict]:
    return [{"key": "accuracy", "title": "Accuracy", "format": "{:.4f}", "higher_is_better": True, **claim}]


def _metrics(record: dict, **values) -> dict:
    record["metrics"].update(values)
    return record


IMPOSSIBLE = {
    "accuracy of a fraction above 1": (lambda r: _metrics(r, accuracy=2.5),
                                       "accuracy 2.5 is outside its possible range [0, 1]"),
    "negative accuracy": (lambda r: _metrics(r, accuracy=-0.5), "accuracy -0.5 is outside its possible range [0, 1]"),
    "accuracy above 1 with a forged range": (
        lambda r: dict(_metrics(r, accuracy=2.5), metric_columns=_forged_columns(highest=10)),
        "accuracy 2.5 is outside its possible range [0, 1]"),
    "no timed step": (lambda r: _metrics(r, timed_steps=0), "states an FPS but timed 0 steps"),
    "no timing at all": (lambda r: dict(r, metrics={"fps": 120.0, "accuracy": 0.9}),
                         "states an FPS but timed None steps"),
    "FPS 1e308": (lambda r: _metrics(r, fps=1e308, fps_per_card=1e308), "FPS 1e+308 is beyond any measurement"),
    "FPS that disagrees with its window": (lambda r: _metrics(r, fps=10_000.0),
                                           "FPS 10000 over 4 steps in 0.64 s means 1600 samples per step, but the run saw 16 per step"),
    "a zero-length window": (lambda r: _metrics(r, timed_seconds=0.0), "states an FPS but its timing window is 0.0 s"),
}


@pytest.mark.parametrize("claim", [{"higher_is_better": False}, {"max_drop": 1.0}, {"max_drop_pct": 100.0}])
def test_compare_takes_no_rule_from_the_record_it_judges(ws, claim):
    """A collapse of accuracy (0.9 -> 0.1) whose records claim a looser rule still fails."""
    write_record(ws.runs, toy_record("base", metric_columns=_forged_columns(**claim)))
    write_record(ws.runs, _metrics(toy_record("new", metric_columns=_forged_columns(**claim)), accuracy=0.1))
    result = ws.cli("compare", "base", "new")
    assert result.returncode == 1 and result.stderr == "", result.stdout + result.stderr
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict.startswith("regression: Accuracy worse by 0.80000 (limit 0.00450 = 0.5% of base, default)")


# every reason through zoo check below; here one of each kind (tests/modelzoo/zoo/test_compare.py has them all)
@pytest.mark.parametrize("name", ["accuracy of a fraction above 1", "accuracy above 1 with a forged range",
                                  "no timed step", "FPS 1e308", "FPS that disagrees with its window"])
def test_compare_fails_a_new_record_that_cannot_be_true(ws, name):
    forge, reason = IMPOSSIBLE[name]
    write_record(ws.runs, toy_record("base"))
    write_record(ws.runs, forge(toy_record("new")))
    result = ws.cli("compare", "base", "new")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict.startswith("regression: ") and f"run new cannot be true: {reason}" in verdict, verdict


@pytest.mark.parametrize("name", ["accuracy of a fraction above 1", "no timed step", "FPS 1e308"])
def test_compare_refuses_a_baseline_that_cannot_be_true(ws, name):
    forge, reason = IMPOSSIBLE[name]
    write_record(ws.runs, forge(toy_record("base")))
    write_record(ws.runs, toy_record("new"))
    assert_one_line_error(ws.cli("compare", "base", "new"), 2, "run base cannot be true", reason,
                          "cannot be a baseline")


def test_compare_of_a_model_no_plugin_declares_is_refused(ws):
    write_record(ws.runs, dict(toy_record("base"), model="ghost"))
    write_record(ws.runs, dict(toy_record("new"), model="ghost"))
    assert_one_line_error(ws.cli("compare", "base", "new"), 2, "cannot judge run base",
                          "rules from the model's installed plugin", "unknown model 'ghost'")


WRONG_CELL = {
    "another model": (lambda r: dict(r, model="toyseq"), "it is a run of model 'toyseq', not the cell's 'toy'"),
    "another profile": (lambda r: dict(r, profile="fast"), "it is a run of profile 'fast', not the cell's 'default'"),
    "another card count": (lambda r: dict(r, cards=2, world_size=2), "it is a run of cards 2, not the cell's 1"),
    "fewer processes than cards": (lambda r: dict(r, world_size=8), "it ran 8 processes for 1 cards"),
}


@pytest.mark.parametrize("name", list(IMPOSSIBLE) + list(WRONG_CELL))
def test_zoo_check_fails_a_cell_whose_run_cannot_be_true(ws, name):
    forge, reason = {**IMPOSSIBLE, **WRONG_CELL}[name]
    (ws.root / "zoo.yaml").write_text(ZOO)
    run = forge(toy_record("cell-run", zoo_cell=dict(CELL)))
    write_record(ws.runs, run)
    result = ws.cli("zoo", "check", "--zoo", "zoo.yaml", "--release", "r1")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    *table, summary = result.stdout.strip().splitlines()
    assert summary.startswith("zoo check r1: FAIL: 1 of 1 cells: toy/default x1 ("), summary
    (row,) = [line for line in table if line.startswith("toy/default x1")]
    assert f"run cell-run cannot be true: {reason}" in row.split("FAIL: ", 1)[1], row


def test_zoo_check_passes_the_same_cell_with_a_true_record(ws):
    """The control: the fixtures above fail for the reason they name, not for another."""
    (ws.root / "zoo.yaml").write_text(ZOO)
    write_record(ws.runs, toy_record("cell-run", zoo_cell=dict(CELL)))
    result = ws.cli("zoo", "check", "--zoo", "zoo.yaml", "--release", "r1")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_report_marks_records_that_cannot_be_true_and_never_shows_them_as_results(ws):
    write_record(ws.runs, toy_record("good"))
    for index, (forge, _reason) in enumerate(IMPOSSIBLE.values()):
        write_record(ws.runs, forge(toy_record(f"odd-{index}")))
    result = ws.cli("report", "--output", "out", "--format", "md,json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    md = (ws.root / "out" / "results.md").read_text()
    marked = md[md.index("Implausible values — not published"):]
    for index, (_forge, reason) in enumerate(IMPOSSIBLE.values()):
        row = next(line for line in marked.splitlines() if f"odd-{index}" in line)
        assert reason in row, (reason, row)
    elsewhere = md[:md.index("Implausible values — not published")]
    assert "odd-" not in elsewhere and "good" in elsewhere
    assert json.loads((ws.root / "out" / "results.json").read_text())["records"]  # the JSON keeps every record
