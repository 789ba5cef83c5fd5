"""Fault classes 2 and 14 (settings), 15: a bad value is refused before a run folder
exists, with one line naming the setting; a run too short to be timed is not a success;
every verb's --help is an answer, not an error."""

from __future__ import annotations

import pytest
from fault_helpers import assert_no_run_folder, assert_one_line_error, assert_runs_folder_sound

from modelzoo.store import records


@pytest.mark.parametrize("option, named", [
    (("--set", "train.epochs=0"), "train.epochs 0 is out of range"),
    (("--set", "train.batch_size=0"), "train.batch_size 0 is out of range"),
    (("--set", "train.batch_size=-1"), "train.batch_size -1 is out of range"),
    (("--set", "optimizer.lr=nan"), "optimizer.lr"),
    (("--set", "train.amp=fp8"), "train.amp 'fp8' is not supported"),
    (("--seed", "-1"), "--seed"),
    (("--seed", "4294967296"), "--seed"),
])
def test_a_bad_setting_is_refused_before_a_run_folder_exists(ws, option, named):
    result = ws.cli("run", "toy", "--device", "cpu", *option)
    assert_one_line_error(result, 2, named)
    assert_no_run_folder(ws)
    assert ws.files_outside_runs() == []


def test_a_run_too_short_to_time_a_step_is_not_a_success(ws):
    # 2 steps, both warm-up: no step is timed, so there is no FPS to record
    result = ws.cli("run", "toy", "--device", "cpu", "--max-steps", "2")
    line = assert_one_line_error(result, 2, "no step would be timed")
    record = ws.only_record()
    assert records.effective_status(record) == "failed"
    assert record["error"] in line
    assert_runs_folder_sound(ws.runs)


@pytest.mark.parametrize("verb", [("list",), ("run",), ("eval",), ("export",), ("prepare",), ("report",),
                                  ("compare",), ("prepare", "toy")])
def test_every_verb_answers_help_with_its_usage_and_exit_0(ws, verb):
    result = ws.cli(*verb, "--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert f"usage: modelzoo {' '.join(verb)}" in result.stdout
    if verb == ("prepare", "toy"):
        assert "no data preparation step" in result.stdout
