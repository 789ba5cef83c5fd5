"""Fault class 1: the release gate never passes what it cannot check.

A NEW run whose FPS or metric is NaN, missing, or which has no metrics is a regression
(exit 1, the verdict on stdout's last line); a BASE that cannot be a baseline, or a crash
inside compare, is an error (exit 2, one line on stderr), never a regression's exit 1.
"""

from __future__ import annotations

import pytest
from fault_helpers import assert_one_line_error, toy_record, write_record


def _compare(ws, base_fields: dict, new_fields: dict):
    write_record(ws.runs, toy_record("base", **base_fields))
    write_record(ws.runs, toy_record("new", **new_fields))
    return ws.cli("compare", "base", "new")


def _assert_regression(result, *fragments: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr == ""  # a verdict, not an error
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict.startswith("regression: "), result.stdout
    for fragment in fragments:
        assert fragment in verdict, (fragment, verdict)


@pytest.mark.parametrize("new_metrics, named", [
    ({"fps": float("nan"), "accuracy": 0.9}, "FPS not finite in new"),
    ({"accuracy": 0.9}, "FPS missing in new"),
    ({"fps": 100.0, "accuracy": float("nan")}, "Accuracy not finite in new"),
    ({"fps": 100.0}, "Accuracy missing in new"),
    ({}, "new has no metrics"),
    ({"fps": 10 ** 400, "accuracy": 0.9}, "FPS not finite in new"),  # JSON allows integers no float holds
])
def test_a_new_run_without_a_usable_number_is_a_regression(ws, new_metrics, named):
    result = _compare(ws, {}, {"metrics": new_metrics})
    _assert_regression(result, named)


def test_the_same_numbers_pass_the_gate(ws):
    result = _compare(ws, {}, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "no regression"


@pytest.mark.parametrize("base_fps", [0, -5.0])
def test_a_base_without_a_valid_fps_is_an_error_not_a_regression(ws, base_fps):
    result = _compare(ws, {"fps": base_fps}, {})
    assert_one_line_error(result, 2, "run base has an invalid FPS", "cannot be a baseline")


def test_a_crash_inside_compare_exits_2_never_1(ws, tmp_path):
    # compare's exit 1 gates releases: a bug in it must not read as "regression found"
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(
        "import modelzoo.zoo.compare\n"
        "def _crash(*args, **kwargs):\n"
        "    raise RuntimeError('injected crash in compare')\n"
        "modelzoo.zoo.compare.compare_records = _crash\n")
    ws.plugin_path.append(str(inject))
    result = _compare(ws, {}, {})
    assert_one_line_error(result, 2, "RuntimeError: injected crash in compare", "--debug")


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_a_run_that_did_not_succeed_cannot_be_compared(ws, status):
    result = _compare(ws, {}, {"status": status})
    assert_one_line_error(result, 2, f"run new is '{status}'", "compare finished runs only")
