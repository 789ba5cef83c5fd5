"""Fault classes 9 and 10: SIGTERM in any phase of a run stops it within seconds, records
it ``interrupted`` and exits 143 (Ctrl-C: 130); with --cards 2 too, where a worker's error
is one line with the exit code of a one-card run. A run stopped during its final evaluation
resumes into a success that keeps the FPS timed before the stop.

The toy's knobs make one phase slow (60 s) and log when it starts, so the signal lands
there; the phases run at the same time to keep the suite short.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fault_helpers import Workspace, assert_one_line_error, assert_runs_folder_sound, stop, wait_for_log

from modelzoo.store import records
from modelzoo.train.launch import RANK_NOTES

# A slowed phase would take 60 s; a stop that honours the signal takes a few, plus start-up
# noise with several runs on 2 cores.
STOP_WITHIN_S = 10
SHORT = ("--max-steps", "4", "--set", "train.compute_fps_steps=2")
PHASES = {
    # phase: (options slowing it, the log line saying it has begun)
    "data": (("--set", "data.build_delay_s=60"), "toy: slow data set"),
    "train": (("--set", "data.delay_s=0.05", "--set", "train.log_every=2"), "step 2/"),
    # the first member of two: the signal stops the sweep, not only the member
    "train, in a sweep": (("--sweep", "train.seed=1,2", "--set", "data.delay_s=0.05", "--set", "train.log_every=2"),
                          "step 2/"),
    "checkpoint": (("--set", "model.state_dict_delay_s=60", *SHORT), "toy: slow checkpoint"),
    # slow once: the resumed run's evaluation is quick (test_a_run_stopped_during_its_final_evaluation...)
    "evaluation": (("--set", "eval.delay_s=60", "--set", "eval.delay_once=true", *SHORT), "toy: slow evaluation"),
    "compute-only timing": (("--set", "loss.delay_from_call=5", "--set", "loss.delay_s=60", *SHORT),
                            "toy: slow loss call 5"),
}


def _signal_once(space: Workspace, args: tuple, marker: str, sig: int = signal.SIGTERM, group: bool = False):
    process = space.start(*args)
    wait_for_log(space, marker, process)
    time.sleep(0.2)  # inside the slow phase, not at its first line
    return stop(process, sig, group=group)


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """phase -> (workspace, result, seconds from SIGTERM to exit), all phases at once."""
    spaces = {phase: Workspace(tmp_path_factory.mktemp("phase") / "work", tmp_path_factory.mktemp("cache"))
              for phase in PHASES}
    with ThreadPoolExecutor(max_workers=len(PHASES)) as pool:
        futures = {phase: pool.submit(_signal_once, spaces[phase], ("run", "toy", "--device", "cpu", *options),
                                      marker)
                   for phase, (options, marker) in PHASES.items()}
        return {phase: (spaces[phase], *future.result()) for phase, future in futures.items()}


@pytest.mark.parametrize("phase", PHASES)
def test_sigterm_in_each_phase_stops_the_run_as_interrupted_with_exit_143(stopped, phase):
    space, result, seconds = stopped[phase]
    record = space.only_record()
    assert_one_line_error(result, 143, f"run {record['run_id']} interrupted: ")
    assert seconds < STOP_WITHIN_S
    assert records.effective_status(record) == "interrupted"
    if (space.runs / record["run_id"] / "checkpoint.pt").is_file():
        assert f"--resume {record['run_id']}" in record["error"]
    else:  # stopped before any checkpoint: nothing to resume, and the record does not offer it
        assert record["error"] == "stopped by SIGTERM"
    assert_runs_folder_sound(space.runs)
    assert space.files_outside_runs() == []


def test_a_run_stopped_during_its_final_evaluation_resumes_to_success_with_the_fps_timed_before(stopped, ws):
    stopped_run = stopped["evaluation"][0].only_record()
    assert stopped_run["metrics"]["fps"] > 0 and stopped_run["metrics"]["steps"] == 4  # on disk before the stop
    run_id = ws.adopt(stopped["evaluation"][0].runs / stopped_run["run_id"])["run_id"]
    result = ws.cli("run", "toy", "--resume", run_id)
    assert result.returncode == 0, result.stderr[-2000:]
    record = ws.only_record()
    assert record["status"] == "success", record["error"]
    assert record["metrics"]["fps"] == stopped_run["metrics"]["fps"]  # timed by the attempt that trained
    assert record["metrics"]["timed_steps"] == stopped_run["metrics"]["timed_steps"] > 0
    assert "earlier attempt" in record["metrics"]["fps_note"]
    assert 0 <= record["metrics"]["accuracy"] <= 1  # the evaluation the stop cut short, done now
    assert_runs_folder_sound(ws.runs)


# --- several cards ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_card_runs(tmp_path_factory):
    """A worker error on 1 and on 2 cards; SIGTERM to a 2-card run's launcher, Ctrl-C to its
    process group (as a terminal sends it), SIGKILL to its launcher: all at the same time."""
    def space():
        return Workspace(tmp_path_factory.mktemp("cards") / "work", tmp_path_factory.mktemp("cache"))

    failing = ("run", "toy", "--device", "cpu", "--set", "data.fail_in=modelzoo_build_model", *SHORT)
    slow = ("run", "toy", "--device", "cpu", "--cards", "2", "--set", "data.delay_s=0.02", "--set",
            "train.log_every=2")
    spaces = {name: space() for name in ("one", "two", "sigterm", "ctrl-c", "sigkill")}
    with ThreadPoolExecutor(max_workers=len(spaces)) as pool:
        futures = {"one": pool.submit(spaces["one"].cli, *failing),
                   "two": pool.submit(spaces["two"].cli, *failing, "--cards", "2"),
                   "sigterm": pool.submit(_signal_once, spaces["sigterm"], slow, "step 2/"),
                   "ctrl-c": pool.submit(_signal_once, spaces["ctrl-c"], slow, "step 2/", signal.SIGINT, True),
                   "sigkill": pool.submit(_signal_once, spaces["sigkill"], slow, "step 2/", signal.SIGKILL)}
        return {name: (spaces[name], future.result()) for name, future in futures.items()}


def test_a_worker_error_on_two_cards_is_one_line_with_the_exit_code_of_one_card(two_card_runs):
    (one, one_card), (two, two_cards) = two_card_runs["one"], two_card_runs["two"]
    cause = "plugin 'modelzoo_toy' failed in modelzoo_build_model: RuntimeError: toy failure in modelzoo_build_model"
    assert_one_line_error(one_card, 1, cause)
    assert_one_line_error(two_cards, 1, cause)
    for space in (one, two):
        record = space.only_record()
        assert (record["status"], record["error"]) == ("failed", cause)
        assert_runs_folder_sound(space.runs)


@pytest.mark.parametrize(("how", "status"), [("sigterm", 143), ("ctrl-c", 130)])
def test_a_stop_signal_to_a_two_card_run_checkpoints_and_records_it_interrupted_with_128_plus_the_signal(
        two_card_runs, how, status):
    space, (result, seconds) = two_card_runs[how]
    record = space.only_record()
    assert_one_line_error(result, status, f"run {record['run_id']} interrupted: ", f"--resume {record['run_id']}")
    assert "SignalException" not in result.stderr + record["error"]
    assert seconds < STOP_WITHIN_S  # the workers checkpoint and leave; the agent need not kill them
    assert records.effective_status(record) == "interrupted"
    assert (space.runs / record["run_id"] / "checkpoint.pt").is_file()
    assert_runs_folder_sound(space.runs)


def test_workers_of_a_launcher_killed_with_sigkill_checkpoint_and_record_the_run_interrupted(two_card_runs):
    space, (result, _) = two_card_runs["sigkill"]
    assert result.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 60  # the orphaned workers finish on their own
    while space.only_record()["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    record = space.only_record()
    assert (record["status"], record["error"]) == (
        "interrupted", f"stopped by a signal; resume with 'modelzoo run toy --resume {record['run_id']}'")
    assert (space.runs / record["run_id"] / "checkpoint.pt").is_file()
    # the dead launcher's rank notes stay with its run (the next launch of it starts them afresh), not in /tmp
    assert (space.runs / record["run_id"] / RANK_NOTES).is_dir()
    assert_runs_folder_sound(space.runs)
