"""Release gating: ``compare_records`` never says "no regression" when it cannot know, and
judges by the declared metric columns, never by the records' own."""

from __future__ import annotations

import math

import pytest
from toy_helpers import timing

from modelzoo.contract.api import MetricColumn, UserError
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
            "higher_is_better": True, "lowest": 0.0, "highest": 1.0}
LOSS = {"key": "loss", "title": "Loss", "format": "{:.4f}", "higher_is_better": False, "lowest": 0.0}




def _run(run_id, fps=100.0, columns=(ACCURACY,), **metrics):
    record = records.new_record(run_id=run_id, kind="train", model="toy", model_title="Toy", plugin={},
                                profile="p", config={}, overrides={}, cards=1, world_size=1, device="cpu",
                                seed=0, metric_columns=[dict(c) for c in columns], log="")
    record["status"] = "success"
    record["metrics"] = {"fps": fps, "accuracy": 0.9, **timing(fps), **metrics}
    if fps is None:
        del record["metrics"]["fps"]
    return record


def _compare(base, new, columns=(ACCURACY,), **limits):
    """compare_records with ``columns`` as the installed model's declaration."""
    return compare_records(base, new, columns=[MetricColumn(**c) for c in columns], **limits)


def _verdicts(result):
    return {row[0]: row[4] for row in result.rows}


# --- Missing, non-finite, invalid ---------------------------------------------------

def test_a_metric_the_new_run_lacks_is_a_regression():
    new = _run("new")
    del new["metrics"]["accuracy"]
    result = _compare(_run("base"), new)
    assert _verdicts(result)["Accuracy"].startswith("REGRESSION: missing")
    assert any("Accuracy missing" in r for r in result.regressions)


def test_a_declared_column_the_new_record_omits_is_still_compared():
    new = _run("new", columns=())
    del new["metrics"]["accuracy"]
    assert _verdicts(_compare(_run("base"), new))["Accuracy"].startswith("REGRESSION: missing")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "0.9", True, None])
def test_a_metric_that_is_not_a_finite_number_in_the_new_run_is_a_regression(value):
    result = _compare(_run("base"), _run("new", accuracy=value))
    verdict = _verdicts(result)["Accuracy"]
    assert verdict.startswith("REGRESSION: " + ("missing" if value is None else "not finite"))
    assert result.regressions


@pytest.mark.parametrize("fps, verdict", [(None, "missing"), (math.nan, "not finite"), ("fast", "not finite")])
def test_an_fps_the_new_run_lacks_or_cannot_state_is_a_regression(fps, verdict):
    result = _compare(_run("base"), _run("new", fps=fps))
    assert _verdicts(result)["FPS"].startswith(f"REGRESSION: {verdict}")


def test_a_new_run_without_any_metrics_is_a_regression():
    new = _run("new")
    new["metrics"] = {}
    result = _compare(_run("base"), new)
    assert result.regressions and "new has no metrics" in result.regressions[0]
    assert "regression:" in format_comparison(result)


@pytest.mark.parametrize("fps", [0, -3.0, math.nan, math.inf, "fast", True])
def test_a_baseline_with_an_invalid_fps_is_an_error_not_a_verdict(fps):
    with pytest.raises(UserError, match=r"run base has an invalid FPS .*; it cannot be a baseline"):
        _compare(_run("base", fps=fps), _run("new"))


def test_an_evaluation_baseline_without_fps_compares_metrics_only_and_says_so():
    base = _run("base", fps=None)
    base["kind"] = "eval"  # a training run without FPS cannot have succeeded (below)
    result = _compare(base, _run("new"))
    assert "FPS" not in _verdicts(result) and _verdicts(result)["Accuracy"].startswith("ok")
    assert any("base has no FPS" in w for w in result.warnings)


def test_only_runs_that_effectively_succeeded_are_compared():
    lost = _run("new")
    lost["status"] = "running"
    lost["owner"]["pid_started"] -= 3600  # its process is gone
    with pytest.raises(UserError, match="run new is 'lost'.*not a successful run"):
        _compare(_run("base"), lost)
    failed = _run("base")
    failed["status"] = "failed"
    with pytest.raises(UserError, match="run base is 'failed'"):
        _compare(failed, _run("new"))


# --- Direction and thresholds -------------------------------------------------------

def test_a_growing_loss_is_a_regression_and_a_shrinking_one_is_not():
    base = _run("base", columns=(LOSS,), loss=1.0)
    assert _verdicts(_compare(base, _run("n", columns=(LOSS,), loss=1.2), (LOSS,)))["Loss"].startswith("REGRESSION")
    assert _verdicts(_compare(base, _run("n", columns=(LOSS,), loss=0.5), (LOSS,)))["Loss"].startswith("ok")


def test_the_default_metric_limit_is_half_a_percent_of_the_base_value():
    assert DEFAULT_MAX_METRIC_DROP == {"rel_pct": 0.5}
    base = _run("base", accuracy=0.8)
    assert _verdicts(_compare(base, _run("n", accuracy=0.797)))["Accuracy"].startswith("ok")
    verdict = _verdicts(_compare(base, _run("n", accuracy=0.795)))["Accuracy"]
    assert verdict.startswith("REGRESSION") and "0.5% of base, default" in verdict


def test_a_drop_exactly_at_the_limit_passes():
    result = _compare(_run("base", accuracy=0.9), _run("n", accuracy=0.895),
                             thresholds={"accuracy": {"abs": 0.005}})
    assert not result.regressions


def test_the_declared_columns_carry_the_models_own_tolerance():
    strict = dict(ACCURACY, max_drop=0.001)
    loose = dict(ACCURACY, max_drop_pct=10)
    verdict = _verdicts(_compare(_run("b"), _run("n", accuracy=0.898), (strict,)))
    assert verdict["Accuracy"].startswith("REGRESSION") and "model" in verdict["Accuracy"]
    assert not _compare(_run("b"), _run("n", accuracy=0.85), (loose,)).regressions


@pytest.mark.parametrize("claim", [{"higher_is_better": False}, {"max_drop": 1.0}, {"max_drop_pct": 100},
                                   {"key": "other"}, {"highest": 1000.0}])
def test_a_record_cannot_loosen_the_rules_it_is_judged_by(claim):
    """A collapse of accuracy written with a looser column into both records still fails."""
    forged = (dict(ACCURACY, **claim),)
    verdict = _verdicts(_compare(_run("b", columns=forged), _run("n", columns=forged, accuracy=0.1)))["Accuracy"]
    assert verdict.startswith("REGRESSION") and "0.5% of base, default" in verdict
    forged_range = _compare(_run("b", columns=forged), _run("n", columns=forged, accuracy=2.5))
    assert "run n cannot be true: accuracy 2.5 is outside its possible range [0, 1]" in forged_range.regressions


def test_explicit_thresholds_win_over_the_columns_and_star_applies_to_all():
    strict = dict(ACCURACY, max_drop=0.001)
    base, new, declared = _run("b"), _run("n", accuracy=0.85), (strict,)
    assert not _compare(base, new, declared, thresholds={"accuracy": {"abs": 0.1}}).regressions
    assert not _compare(base, new, declared, thresholds={"*": {"rel_pct": 10}}).regressions
    assert _compare(base, new, declared, thresholds={"*": {"rel_pct": 10}, "accuracy": {"abs": 0.01}}).regressions


def test_a_threshold_for_a_metric_the_model_does_not_declare_is_an_error():
    with pytest.raises(UserError, match="threshold for 'acc': the model declares no metric column 'acc'"):
        _compare(_run("b"), _run("n"), thresholds={"acc": {"abs": 0.1}})


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
    result = _compare(_run("base"), _run("new", fps=94.0))
    assert _verdicts(result)["FPS"].startswith("REGRESSION") and "fixed" in _verdicts(result)["FPS"]
    assert any("one timing per run cannot separate noise from a regression" in w for w in result.warnings)
    assert not _compare(_run("base"), _run("new", fps=96.0)).regressions


def test_repeated_timings_widen_the_fps_limit_to_the_measured_noise():
    base = _run("base", fps=100.0, fps_stability=_stability(4, 100.0, 8.0))
    new = _run("new", fps=92.0, fps_stability=_stability(4, 92.0, 8.0))
    # standard error of the difference: sqrt(8^2/4 + 8^2/4) = 5.66 FPS; 3 of them: 17 % of 100
    result = _compare(base, new)
    verdict = _verdicts(result)["FPS"]
    assert not result.regressions, verdict
    assert f"{FPS_NOISE_SIGMAS:g} x the standard error of 4+4 repeats" in verdict and "17.0%" in verdict
    assert not any("one timing" in w for w in result.warnings)


def test_quiet_repeated_timings_keep_the_percentage_limit():
    base = _run("base", fps=100.0, fps_stability=_stability(5, 100.0, 0.5))
    new = _run("new", fps=93.0, fps_stability=_stability(5, 93.0, 0.5))
    verdict = _verdicts(_compare(base, new))["FPS"]
    assert verdict.startswith("REGRESSION") and "limit 5.0%" in verdict and "fixed" in verdict


def test_repeats_on_one_side_only_fall_back_to_the_fixed_limit_with_a_warning():
    base = _run("base", fps=100.0, fps_stability=_stability(4, 100.0, 30.0))
    result = _compare(base, _run("new", fps=90.0))
    assert result.regressions
    assert any("only base has repeated timings" in w for w in result.warnings)


def test_the_fps_limit_can_be_set_and_must_be_a_number():
    assert not _compare(_run("base"), _run("new", fps=80.0), max_fps_drop_pct=25).regressions
    with pytest.raises(UserError, match="--max-fps-drop"):
        _compare(_run("base"), _run("new"), max_fps_drop_pct=-1)


def test_the_report_names_every_row_and_ends_with_the_verdict():
    text = format_comparison(_compare(_run("base"), _run("new", accuracy=0.5)))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["metric", "base", "base"]
    assert lines[-1].startswith("regression: Accuracy worse by 0.40000")
    assert any(line.startswith("warning: one timing per run") for line in lines)


def test_a_column_tolerance_that_is_not_a_limit_falls_back_to_the_default_and_says_so():
    odd = dict(ACCURACY, max_drop="tiny")
    verdict = _verdicts(_compare(_run("b"), _run("n", accuracy=0.5), (odd,)))
    assert verdict["Accuracy"].startswith("REGRESSION") and "max_drop 'tiny' is not a limit" in verdict["Accuracy"]


def test_an_invalid_baseline_is_an_error_even_when_the_new_run_has_no_metrics():
    new = _run("new")
    new["metrics"] = {}
    with pytest.raises(UserError, match="invalid FPS"):
        _compare(_run("base", fps=0), new)


# --- Records that cannot be true ------------------------------------------------------

@pytest.mark.parametrize("change, reason", [
    ({"timed_steps": 0}, "states an FPS but timed 0 steps"),
    ({"timed_steps": None}, "states an FPS but timed None steps"),
    ({"timed_seconds": 0.0}, "its timing window is 0.0 s"),
    ({"fps": 1e308}, "FPS 1e+308 is beyond any measurement"),
    ({"fps": 10 ** 400}, "FPS is too large"),
    ({"fps": 5000.0}, "means 500 samples per step, but the run saw 10 per step"),
    ({"images_seen": None}, "samples seen in all"),
    ({"accuracy": 2.5}, "accuracy 2.5 is outside its possible range [0, 1]"),
    ({"accuracy": -0.1}, "accuracy -0.1 is outside its possible range [0, 1]"),
    ({"compute_fps": -1.0}, "compute-only FPS is -1.0"),
])
def test_a_new_record_that_cannot_be_true_is_a_regression_naming_why(change, reason):
    new = _run("new")
    new["metrics"].update(change)
    result = _compare(_run("base"), new)
    assert any(r.startswith("run new cannot be true: ") and reason in r for r in result.regressions), \
        result.regressions


def test_a_baseline_that_cannot_be_true_is_an_error_naming_why():
    base = _run("base", accuracy=2.5)
    with pytest.raises(UserError, match=r"run base cannot be true \(accuracy 2.5 is outside .*cannot be a baseline"):
        _compare(base, _run("new"))


def test_a_loss_has_no_upper_bound_but_cannot_be_negative():
    base = _run("base", columns=(LOSS,), loss=1.0)
    assert not _compare(base, _run("n", columns=(LOSS,), loss=0.9), (LOSS,)).regressions
    result = _compare(base, _run("n", columns=(LOSS,), loss=-0.5), (LOSS,))
    assert "run n cannot be true: loss -0.5 is outside its possible range [0, inf]" in result.regressions
