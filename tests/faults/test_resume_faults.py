"""Fault classes 3, 5, 6, 7, 8: a killed run reads as lost and resumes; --resume refuses
another model's run, a second owner, a path for a run id, and options that would change
the run, each with one line and the record untouched."""

from __future__ import annotations

import json
import signal
import time

import pytest
from fault_helpers import (
    Workspace,
    assert_one_line_error,
    assert_runs_folder_sound,
    status_of,
    toy_record,
    wait_for_log,
    write_raw_record,
    write_record,
)

from modelzoo.store import records
from modelzoo.store.index import INDEX_FILE

# Slow steps and a checkpoint every 2 steps: a kill -9 lands mid-run with a checkpoint to resume from.
KILLABLE = ("run", "toy", "--device", "cpu", "--set", "data.delay_s=0.02", "--set", "train.checkpoint_every=2",
            "--set", "train.log_every=2", "--set", "train.compute_fps_steps=2")


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """The folder of a toy run killed with SIGKILL at step 6 of 32 (checkpoint at step 4 or 6)."""
    space = Workspace(tmp_path_factory.mktemp("killed") / "work", tmp_path_factory.mktemp("cache"))
    process = space.start(*KILLABLE)
    log = wait_for_log(space, "step 6/", process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert (log.parent / "checkpoint.pt").is_file()
    return log.parent


def test_a_run_killed_with_sigkill_reads_as_lost_in_report_and_compare(ws, killed_run):
    killed = ws.adopt(killed_run)
    assert killed["status"] == "running"  # as the dead process left it
    assert status_of(ws, killed["run_id"]) == "lost"

    report = ws.cli("report", "--format", "json")
    assert report.returncode == 0, report.stderr
    results = json.loads((ws.root / "reports" / "results.json").read_text())
    statuses = {row["run_ids"][0]: row["cells"].get("Status") for model in results["models"]
                for table in model["apart"] for row in table["rows"]}
    assert statuses[killed["run_id"]] == "lost"

    write_record(ws.runs, toy_record("other"))
    compare = ws.cli("compare", "other", killed["run_id"])
    assert_one_line_error(compare, 2, f"run {killed['run_id']} is 'lost' (its process is gone)")


def _wait_until_owned_by(run_dir, pid: int, process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = records.load(run_dir)
        if record["status"] == "running" and record["owner"]["pid"] == pid:
            return
        assert process.poll() is None, process.communicate()[1][-2000:]
        time.sleep(0.05)
    pytest.fail("the resumed run never took the record over")


def test_a_killed_run_resumes_once_while_a_second_resume_is_refused_naming_its_owner(ws, killed_run):
    run_id = ws.adopt(killed_run)["run_id"]
    run_dir = ws.runs / run_id
    # what a write cut by the kill leaves behind; the next owner of the folder removes it
    (run_dir / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")

    first = ws.start("run", "toy", "--resume", run_id, "--max-steps", "16")
    _wait_until_owned_by(run_dir, first.pid, first)
    second = ws.cli("run", "toy", "--resume", run_id)
    assert_one_line_error(second, 2, f"run {run_id}", f"pid {first.pid}")

    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    final = records.load(run_dir)
    assert final["status"] == "success"
    assert len(final["resumed_from"]) == 1  # the refused attempt left no trace
    assert final["overrides"]["train.max_steps"] == 16 and final["metrics"]["steps"] == 16  # --max-steps applied
    assert_runs_folder_sound(ws.runs)


def _interrupted(ws, model: str = "toy") -> tuple[str, bytes]:
    record = toy_record(f"stopped-{model}", model=model, status="interrupted")
    path = write_record(ws.runs, record)
    return record["run_id"], path.read_bytes()


def test_resuming_a_run_of_another_model_is_refused_and_leaves_its_record_untouched(ws):
    run_id, before = _interrupted(ws, model="toyseq")
    result = ws.cli("run", "toy", "--resume", run_id)
    assert_one_line_error(result, 2, f"run {run_id} is a run of 'toyseq', not 'toy'",
                          f"modelzoo run toyseq --resume {run_id}")
    assert (ws.runs / run_id / records.RECORD_FILE).read_bytes() == before


@pytest.mark.parametrize("option, named", [
    (("--seed", "3"), "--seed"),
    (("--set", "train.epochs=3"), "--set"),
    (("--profile", "fast"), "--profile"),
    (("--device", "cuda"), "ran on cpu"),
])
def test_resume_refuses_options_that_would_change_the_run(ws, option, named):
    run_id, before = _interrupted(ws)
    result = ws.cli("run", "toy", "--resume", run_id, *option)
    assert_one_line_error(result, 2, named)
    assert (ws.runs / run_id / records.RECORD_FILE).read_bytes() == before
    assert ws.files_outside_runs() == []


def test_a_record_naming_a_path_as_its_run_id_is_refused_and_nothing_is_written_outside(ws, tmp_path):
    evil = toy_record("placeholder", status="interrupted")
    evil["run_id"] = "../../x"
    path = write_raw_record(ws.runs, "evil", json.dumps(evil).encode())
    write_record(ws.runs, toy_record("fine"))

    report = ws.cli("report", "--format", "json")
    assert report.returncode == 0 and "Traceback" not in report.stderr
    (warning,) = [line for line in report.stderr.splitlines() if "warning" in line]
    assert str(path) in warning and "invalid run id '../../x'" in warning
    shown = json.loads((ws.root / "reports" / "results.json").read_text())["records"]
    assert [r["run_id"] for r in shown] == ["fine"]

    for args in (("compare", "fine", "evil"), ("run", "toy", "--resume", "evil"),
                 ("run", "toy", "--resume", "../../x")):
        result = ws.cli(*args)
        assert_one_line_error(result, 2, "run id")
    assert ws.files_outside_runs("reports") == []
    assert not (tmp_path / "x").exists() and not (ws.root / "x").exists()
    # the report's run index is the one file the report keeps beside the records (modelzoo.store.index)
    assert sorted(p.name for p in ws.runs.iterdir() if p.name != INDEX_FILE) == ["evil", "fine"]
