"""Release gating: ``compare_records`` never says "no regression" when it cannot know."""

from __future__ import annotations

import math

import pytest

from modelzoo.contract.api import UserError
from modelzoo.store import records
from modelzoo.zoo.compare import (
    DEFAULT_MAX_METRIC_DROP,
    FPS_NOISE_SIGMAS,
    compare_records,
    format_comparison,
    parse_threshold,
    parse_thresholds,
)

ACCURACY = {"key": "accuracy", "title": "Accuracy", "format": "{:.4f}", "std_key": None,
            "higher_is_better": True}
LOSS = {"key": "loss", "title": "Loss", "format": "{:.4f}", "higher_is_better": False}


def _run(run_id, fps=100.0, columns=(ACCURACY,), **metrics):
    record = records.new_record(run_id=run_id, kind="train", model="toy", model_title="Toy", plugin={},
                                profile="p", config={}, overrides={}, cards=1, world_size=1, device="cpu",
                                seed=0, metric_columns=[dict(c) for c in columns], log="")
    record["status"] = "success"
    record["metrics"] = {"fps": fps, "accuracy": 0.9, **metrics}
    if fps is None:
        del record["metrics"]["fps"]
    return record


def _verdicts(result):
    return {row[0]: row[4] for row in result.rows}


# --- Missing, non-finite, invalid ---------------------------------------------------

def test_a_metric_the_new_run_lacks_is_a_regression():
    new = _run("new")
    del new["metrics"]["accuracy"]
    result = compare_records(_run("base"), new)
    assert _verdicts(result)["Accuracy"].startswith("REGRESSION: missing")
    assert any("Accuracy missing" in r for r in result.regressions)


def test_a_column_the_new_run_no_longer_declares_is_still_compared():
    new = _run("new", columns=())
    del new["metrics"]["accuracy"]
    assert _verdicts(compare_records(_run("base"), new))["Accuracy"].startswith("REGRESSION: missing")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "0.9", True, None])
def test_a_metric_that_is_not_a_finite_number_in_the_new_run_is_a_regression(value):
    result = compare_records(_run("base"), _run("new", accuracy=value))
    verdict = _verdicts(result)["Accuracy"]
    assert verdict.startswith("REGRESSION: " + ("missing" if value is None else "not finite"))
    assert result.regressions


@pytest.mark.parametrize("fps, verdict", [(None, "missing"), (math.nan, "not finite"), ("fast", "not finite")])
def test_an_fps_the_new_run_lacks_or_cannot_state_is_a_regression(fps, verdict):
    result = compare_records(_run("base"), _run("new", fps=fps))
    assert _verdicts(result)["FPS"].startswith(f"REGRESSION: {verdict}")


def test_a_new_run_without_any_metrics_is_a_regression():
    new = _run("new")
    new["metrics"] = {}
    result = compare_records(_run("base"), new)
    assert result.regressions and "new has no metrics" in result.regressions[0]
    assert "regression:" in format_comparison(result)


@pytest.mark.parametrize("fps", [0, -3.0, math.nan, math.inf, "fast", True])
def test_a_baseline_with_an_invalid_fps_is_an_error_not_a_verdict(fps):
    with pytest.raises(UserError, match=r"run base has an invalid FPS .*; it cannot be a baseline"):
        compare_records(_run("base", fps=fps), _run("new"))


def test_a_baseline_without_fps_compares_metrics_only_and_says_so():
    result = compare_records(_run("base", fps=None), _run("new"))
    assert "FPS" not in _verdicts(result) and _verdicts(result)["Accuracy"].startswith("ok")
    assert any("base has no FPS" in w for w in result.warnings)


def test_only_runs_that_effectively_succeeded_are_compared():
    lost = _run("new")
    lost["status"] = "running"
    lost["owner"]["pid_started"] -= 3600  # its process is gone
    with pytest.raises(UserError, match="run new is 'lost'.*not a successful run"):
        compare_records(_run("base"), lost)
    failed = _run("base")
    failed["status"] = "failed"
    with pytest.raises(UserError, match="run base is 'failed'"):
        compare_records(failed, _run("new"))


# --- Direction and thresholds -------------------------------------------------------

def test_a_growing_loss_is_a_regression_and_a_shrinking_one_is_not():
    base = _run("base", columns=(LOSS,), loss=1.0)
    assert _verdicts(compare_records(base, _run("n", columns=(LOSS,), loss=1.2)))["Loss"].startswith("REGRESSION")
    assert _verdicts(compare_records(base, _run("n", columns=(LOSS,), loss=0.5)))["Loss"].startswith("ok")


def test_the_default_metric_limit_is_half_a_percent_of_the_base_value():
    assert DEFAULT_MAX_METRIC_DROP == {"rel_pct": 0.5}
    base = _run("base", accuracy=0.8)
    assert _verdicts(compare_records(base, _run("n", accuracy=0.797)))["Accuracy"].startswith("ok")
    verdict = _verdicts(compare_records(base, _run("n", accuracy=0.795)))["Accuracy"]
    assert verdict.startswith("REGRESSION") and "0.5% of base, default" in verdict


def test_a_drop_exactly_at_the_limit_passes():
    result = compare_records(_run("base", accuracy=0.9), _run("n", accuracy=0.895),
                             thresholds={"accuracy": {"abs": 0.005}})
    assert not result.regressions


def test_a_records_columns_carry_the_models_own_tolerance():
    strict = dict(ACCURACY, max_drop=0.001)
    loose = dict(ACCURACY, max_drop_pct=10)
    verdict = _verdicts(compare_records(_run("b", columns=(strict,)), _run("n", columns=(strict,), accuracy=0.898)))
    assert verdict["Accuracy"].startswith("REGRESSION") and "model" in verdict["Accuracy"]
    assert not compare_records(_run("b", columns=(loose,)), _run("n", columns=(loose,), accuracy=0.85)).regressions


def test_explicit_thresholds_win_over_the_columns_and_star_applies_to_all():
    strict = dict(ACCURACY, max_drop=0.001)
    base, new = _run("b", columns=(strict,)), _run("n", columns=(strict,), accuracy=0.85)
    assert not compare_records(base, new, thresholds={"accuracy": {"abs": 0.1}}).regressions
    assert not compare_records(base, new, thresholds={"*": {"rel_pct": 10}}).regressions
    assert compare_records(base, new, thresholds={"*": {"rel_pct": 10}, "accuracy": {"abs": 0.01}}).regressions


def test_a_threshold_for_a_metric_neither_run_declares_is_an_error():
    with pytest.raises(UserError, match="threshold for 'acc': neither run has a metric column 'acc'"):
        compare_records(_run("b"), _run("n"), thresholds={"acc": {"abs": 0.1}})


@pytest.mark.parametrize("text, expected", [
    ("lfw_accuracy=0.005", ("lfw_accuracy", {"abs": 0.005})),
    ("loss=2%", ("loss", {"rel_pct": 2.0})),
    (" loss = 2 % ", ("loss", {"rel_pct": 2.0})),
    ("0.005", ("*", {"abs": 0.005})),
    ("1%", ("*", {"rel_pct": 1.0})),
])
def test_parse_threshold_reads_absolute_and_relative_limits(text, expected):
    assert parse_threshold(text) == expected


@pytest.mark.parametrize("text", ["acc=", "=0.1", "acc=lots", "acc=-1", "acc=nan", "acc=inf%", ""])
def test_parse_threshold_refuses_what_is_not_a_limit(text):
    with pytest.raises(UserError, match=r"--max-metric-drop .*expected KEY=X or KEY=X%"):
        parse_threshold(text)


def test_a_metric_given_twice_on_the_command_line_is_an_error():
    assert parse_thresholds(["a=1", "b=2%"]) == {"a": {"abs": 1.0}, "b": {"rel_pct": 2.0}}
    with pytest.raises(UserError, match="--max-metric-drop a: given twice"):
        parse_thresholds(["a=1", "a=2"])


# --- FPS and its noise --------------------------------------------------------------

def _stability(n, mean, std):
    return {"n": n, "mean": mean, "std": std, "min": mean - std, "max": mean + std, "cv": std / mean}


def test_without_repeats_the_fixed_fps_limit_applies_with_a_warning():
    result = compare_records(_run("base"), _run("new", fps=94.0))
    assert _verdicts(result)["FPS"].startswith("REGRESSION") and "fixed" in _verdicts(result)["FPS"]
    assert any("one timing per run cannot separate noise from a regression" in w for w in result.warnings)
    assert not compare_records(_run("base"), _run("new", fps=96.0)).regressions


def test_repeated_timings_widen_the_fps_limit_to_the_measured_noise():
    base = _run("base", fps=100.0, fps_stability=_stability(4, 100.0, 8.0))
    new = _run("new", fps=92.0, fps_stability=_stability(4, 92.0, 8.0))
    # standard error of the difference: sqrt(8^2/4 + 8^2/4) = 5.66 FPS; 3 of them: 17 % of 100
    result = compare_records(base, new)
    verdict = _verdicts(result)["FPS"]
    assert not result.regressions, verdict
    assert f"{FPS_NOISE_SIGMAS:g} x the standard error of 4+4 repeats" in verdict and "17.0%" in verdict
    assert not any("one timing" in w for w in result.warnings)


def test_quiet_repeated_timings_keep_the_percentage_limit():
    base = _run("base", fps=100.0, fps_stability=_stability(5, 100.0, 0.5))
    new = _run("new", fps=93.0, fps_stability=_stability(5, 93.0, 0.5))
    verdict = _verdicts(compare_records(base, new))["FPS"]
    assert verdict.startswith("REGRESSION") and "limit 5.0%" in verdict and "fixed" in verdict


def test_repeats_on_one_side_only_fall_back_to_the_fixed_limit_with_a_warning():
    base = _run("base", fps=100.0, fps_stability=_stability(4, 100.0, 30.0))
    result = compare_records(base, _run("new", fps=90.0))
    assert result.regressions
    assert any("only base has repeated timings" in w for w in result.warnings)


def test_the_fps_limit_can_be_set_and_must_be_a_number():
    assert not compare_records(_run("base"), _run("new", fps=80.0), max_fps_drop_pct=25).regressions
    with pytest.raises(UserError, match="--max-fps-drop"):
        compare_records(_run("base"), _run("new"), max_fps_drop_pct=-1)


def test_the_report_names_every_row_and_ends_with_the_verdict():
    text = format_comparison(compare_records(_run("base"), _run("new", accuracy=0.5)))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["metric", "base", "base"]
    assert lines[-1].startswith("regression: Accuracy worse by 0.40000")
    assert any(line.startswith("warning: one timing per run") for line in lines)


def test_a_column_tolerance_that_is_not_a_limit_falls_back_to_the_default_and_says_so():
    odd = dict(ACCURACY, max_drop="tiny")
    verdict = _verdicts(compare_records(_run("b", columns=(odd,)), _run("n", columns=(odd,), accuracy=0.5)))
    assert verdict["Accuracy"].startswith("REGRESSION") and "max_drop 'tiny' is not a limit" in verdict["Accuracy"]


def test_an_invalid_baseline_is_an_error_even_when_the_new_run_has_no_metrics():
    new = _run("new")
    new["metrics"] = {}
    with pytest.raises(UserError, match="invalid FPS"):
        compare_records(_run("base", fps=0), new)
