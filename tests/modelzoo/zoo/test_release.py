"""`modelzoo zoo run` / `zoo check`: a release matrix run from one command, killed, resumed and gated.

The end-to-end test runs 2 models x 2 card counts of the toy plugin on the CPU (the
2-card cells use gloo with 2 processes), SIGKILLs the `zoo run` process group while the
third cell trains, resumes, and gates the result; the other tests judge copies of its
records against zoo.yaml variants, or hand-made records, without training.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from toy_helpers import run_cli, subprocess_env

from modelzoo.cli import main
from modelzoo.store import records
from modelzoo.zoo.release import Cell, next_action

# toy/slow: 10 ms per sample, a checkpoint every 2 steps: a kill while it trains leaves a
# checkpoint to resume from. Targets and references are written for this CPU.
ZOO = """\
schema_version: 1
models:
  toy:
    profiles:
      slow:
        extends: default
        data: {delay_s: 0.01}
        train: {checkpoint_every: 2}
    target: {metric: accuracy, value: 0.3}
    references:
      - {gpu: CPU, cards: 1, fps: 10, source: written for this CPU}
  toyseq:
    target: {metric: heldout_loss, value: 2.6, higher_is_better: false}
    references:
      - {gpu: cpu, cards: 2, fps: 1000, source: written for this CPU}
releases:
  cpu-smoke:
    models:
      toyseq: {profiles: [default], cards: [1, 2], max_steps: 12}
      toy: {profiles: [slow], cards: [1, 2], max_steps: 24}
    tolerances: {fps_pct: 50}
"""
CELLS = ["toyseq/default x1", "toyseq/default x2", "toy/slow x1", "toy/slow x2"]


def _cell_runs(runs_dir: Path) -> dict[str, dict]:
    """Each cell's newest record, by cell name."""
    out = {}
    for record in records.load_all(runs_dir):
        cell = record.get("zoo_cell")
        if cell:
            out[f"{cell['model']}/{cell['profile']} x{cell['cards']}"] = record
    return out


def _summaries(runs_dir: Path) -> list[dict]:
    return [r for r in records.load_all(runs_dir) if r.get("kind") == "zoo"]


def _kill_while_the_third_cell_trains(tmp: Path) -> dict[str, dict]:
    """Start `zoo run`; SIGKILL its process group once two cells succeeded and the third has
    written a checkpoint; the cells' records as the kill left them."""
    runs_dir = tmp / "runs"
    process = subprocess.Popen([sys.executable, "-m", "modelzoo", "zoo", "run", "--release", "cpu-smoke",
                                "--device", "cpu"], cwd=tmp, env=subprocess_env(tmp), start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 150
    try:
        while time.monotonic() < deadline and process.poll() is None:
            done = {name: r for name, r in _cell_runs(runs_dir).items() if r["status"] == "success"} \
                if runs_dir.is_dir() else {}
            third = _cell_runs(runs_dir).get("toy/slow x1") if len(done) == 2 else None
            if third and (runs_dir / third["run_id"] / "checkpoint.pt").is_file():
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
                return _cell_runs(runs_dir)
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    raise AssertionError(f"zoo run ended (rc {process.returncode}) before its third cell checkpointed:\n"
                         f"{process.stdout.read()[-3000:]}")


@pytest.fixture(scope="module")
def release_runs(tmp_path_factory):
    """One `zoo run` killed mid-way and resumed: (folder, records at the kill, the resume's output)."""
    tmp = tmp_path_factory.mktemp("release")
    (tmp / "zoo.yaml").write_text(ZOO)
    at_kill = _kill_while_the_third_cell_trains(tmp)
    resumed = run_cli(tmp, "zoo", "run", "--device", "cpu", timeout=150, MODELZOO_RELEASE="cpu-smoke")
    return tmp, at_kill, resumed


def test_a_killed_zoo_run_resumes_skipping_the_cells_that_succeeded(release_runs):
    tmp, at_kill, resumed = release_runs
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-3000:]
    assert at_kill["toy/slow x1"]["status"] == "running"  # killed: no process left to say otherwise
    assert records.effective_status(at_kill["toy/slow x1"]) == "lost"
    assert "toy/slow x2" not in at_kill
    final = _cell_runs(tmp / "runs")
    assert sorted(final) == sorted(CELLS) and all(r["status"] == "success" for r in final.values())
    for name in ("toyseq/default x1", "toyseq/default x2"):  # skipped: the same runs as before the kill
        assert final[name]["run_id"] == at_kill[name]["run_id"]
        assert f"cell {name}: success (skipped: run {at_kill[name]['run_id']} succeeded earlier)" in resumed.stdout
    lost = final["toy/slow x1"]  # continued from its checkpoint under its own run id
    assert lost["run_id"] == at_kill["toy/slow x1"]["run_id"] and lost["resumed_from"]
    assert f"cell toy/slow x1: success (resumed run {lost['run_id']})" in resumed.stdout
    for record in final.values():
        assert record["release"] == "cpu-smoke" and record["zoo_cell"]["release"] == "cpu-smoke"
        assert record["config"]["train"]["max_steps"] == record["zoo_cell"]["max_steps"]
    (summary,) = _summaries(tmp / "runs")
    assert summary["status"] == "success" and summary["release"] == "cpu-smoke"
    assert [(m["action"], m["run_id"]) for m in summary["members"]] == [
        ("skip", final[CELLS[0]]["run_id"]), ("skip", final[CELLS[1]]["run_id"]),
        ("resume", final[CELLS[2]]["run_id"]), ("new", final[CELLS[3]]["run_id"])]
    assert summary["members"][3]["metrics"]["accuracy"] == final[CELLS[3]]["metrics"]["accuracy"]
    assert f"zoo run cpu-smoke: 4 of 4 cells succeeded; summary record {summary['run_id']}" in resumed.stdout


def test_zoo_check_passes_the_resumed_release(release_runs):
    tmp = release_runs[0]
    checked = run_cli(tmp, "zoo", "check", "--release", "cpu-smoke", timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0].split() == ["cell", "run", "FPS", "vs", "reference", "metric", "vs", "target", "verdict"]
    assert [line.split()[0] for line in lines[1:5]] == [c.split()[0] for c in CELLS]
    assert all(line.endswith("pass") for line in lines[1:5])
    assert "no reference for CPU x1" in lines[1] and "of 1000.00 (cpu x2); needs 50%" in lines[2]
    assert "Loss" in lines[1] and "<= 2.6000" in lines[1] and "Accuracy" in lines[3] and ">= 0.3000" in lines[3]
    assert lines[-1] == f"zoo check cpu-smoke: pass: all 4 cells meet {tmp / 'zoo.yaml'}"


# --- zoo check on copies of those records -----------------------------------------------

def _gate(tmp_path, release_runs, capsys, zoo_text: str = ZOO, change=None) -> tuple[int, str]:
    """`zoo check` of the fixture's records (changed by ``change(cells)`` first) against ``zoo_text``."""
    runs = tmp_path / "runs"
    shutil.copytree(release_runs[0] / "runs", runs, ignore=shutil.ignore_patterns("*.pt", "*.log", "*.lock"))
    if change:
        cells = _cell_runs(runs)
        change(cells)
        for record in cells.values():
            (runs / record["run_id"] / "record.json").write_text(json.dumps(record))
    (tmp_path / "zoo.yaml").write_text(zoo_text)
    rc = main(["zoo", "check", "--release", "cpu-smoke", "--zoo", str(tmp_path / "zoo.yaml"),
               "--runs-dir", str(runs)])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def test_a_target_the_toy_cannot_meet_fails_naming_the_cell(tmp_path, release_runs, capsys):
    rc, out = _gate(tmp_path, release_runs, capsys, ZOO.replace("value: 0.3}", "value: 0.99}"))
    assert rc == 1
    assert "FAIL: 2 of 4 cells: toy/slow x1 (Accuracy" in out and "misses the target 0.99" in out
    assert out.count("FAIL: Accuracy") == 2 and out.count(" pass\n") == 2


def test_a_missing_cell_fails_never_passing_by_absence(tmp_path, release_runs, capsys):
    rc, out = _gate(tmp_path, release_runs, capsys, ZOO.replace("cards: [1, 2], max_steps: 12",
                                                                "cards: [1, 2, 3], max_steps: 12"))
    assert rc == 1
    assert ("zoo check cpu-smoke: FAIL: 1 of 5 cells: toyseq/default x3 (no run of this cell; "
            "run 'modelzoo zoo run --release cpu-smoke')") in out


def test_fps_under_the_reference_fails_and_tolerance_comes_from_the_release(tmp_path, release_runs, capsys):
    rc, out = _gate(tmp_path, release_runs, capsys, ZOO.replace("fps: 10,", "fps: 1000000,"))
    assert rc == 1 and "toy/slow x1 (FPS" in out and "of the reference 1000000.00 (CPU x1); needs 50%" in out
    no_drop = ZOO.replace("fps: 10,", "fps: 1000000,").replace("tolerances: {fps_pct: 50}",
                                                                 "tolerances: {fps_pct: 100}")
    rc, out = _gate(tmp_path / "wide", release_runs, capsys, no_drop)
    assert rc == 0, out  # a release may accept any FPS on this CPU; the FPS must still exist


def _dead_owner() -> dict:
    """An owner on this host whose process has exited: its record reads as lost."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    return {"host": socket.gethostname(), "pid": gone.pid, "pid_started": 0.0, "heartbeat": records.utc_now()}


def _live_owner() -> dict:
    import psutil

    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_started": psutil.Process().create_time(),
            "heartbeat": records.utc_now()}


@pytest.mark.parametrize("change, expected", [
    (lambda cells: cells["toy/slow x2"].update(status="failed", error="boom"), "toy/slow x2 (run failed: boom;"),
    (lambda cells: cells["toy/slow x2"].update(status="running", owner=_dead_owner()),
     "toy/slow x2 (run lost: its process died without finishing;"),
    (lambda cells: cells["toy/slow x2"].update(status="running", owner=_live_owner()),
     "toy/slow x2 (still running; check again when it has finished)"),
    (lambda cells: cells["toyseq/default x1"]["metrics"].pop("heldout_loss"),
     "toyseq/default x1 (no finite heldout_loss in run"),
    (lambda cells: cells["toyseq/default x2"]["metrics"].update(fps=float("nan")),
     "toyseq/default x2 (no FPS in run"),
    (lambda cells: cells["toy/slow x1"]["zoo_cell"].update(max_steps=5),
     "toy/slow x1 (its runs used max_steps 5, zoo.yaml declares max_steps 24;"),
])
def test_a_failed_lost_or_incomplete_cell_fails(tmp_path, release_runs, capsys, change, expected):
    rc, out = _gate(tmp_path, release_runs, capsys, change=change)
    assert rc == 1 and "FAIL: 1 of 4 cells: " + expected in out


@pytest.mark.parametrize("zoo_text, expected", [
    (ZOO.replace(", higher_is_better: false", ""),
     "models.toyseq.target: higher_is_better is true, but the model's column 'heldout_loss' is lower-is-better"),
    (ZOO.replace("    target: {metric: accuracy, value: 0.3}\n", ""),
     "models.toy: no target, so zoo check cannot judge its metric in release 'cpu-smoke'"),
    (ZOO.replace("cpu-smoke:", "gpu-full:"), "release 'cpu-smoke' is not in"),
])
def test_a_zoo_file_that_cannot_judge_is_an_error_exit_2(tmp_path, release_runs, capsys, zoo_text, expected):
    rc, out = _gate(tmp_path, release_runs, capsys, zoo_text)
    assert rc == 2 and expected in out and "Traceback" not in out


# --- zoo run: bad input, a failing cell, the resume rule ------------------------------------

@pytest.mark.parametrize("args, expected", [
    ([], "no release given; pass --release ID"),
    (["--release", "cpu-smoke", "--models", "toy,nope"], "--models nope: not in release 'cpu-smoke'"),
    (["--release", "cpu-smoke", "--cards", "8"], "--cards 8: release 'cpu-smoke' declares card counts 1, 2"),
])
def test_zoo_run_refuses_bad_input_before_running_anything(toy, capsys, args, expected):
    (toy / "zoo.yaml").write_text(ZOO)
    assert main(["zoo", "run", "--device", "cpu", *args]) == 2
    assert expected in capsys.readouterr().err
    assert not (toy / "runs").exists()


def test_a_failing_cell_does_not_stop_the_others(toy, capsys):
    (toy / "zoo.yaml").write_text(textwrap.dedent("""\
        schema_version: 1
        models:
          toy:
            profiles:
              broken: {extends: fast, data: {fail_in: modelzoo_evaluate}}
            target: {metric: accuracy, value: 0.1}
        releases:
          r1:
            models:
              toy: {profiles: [broken, fast], cards: [1], max_steps: 4}
        """))
    assert main(["zoo", "run", "--release", "r1", "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    assert "cell toy/broken x1: failed (new run " in out and "toy failure in modelzoo_evaluate" in out
    assert "cell toy/fast x1: success (new run " in out
    (summary,) = _summaries(toy / "runs")
    assert summary["status"] == "failed"
    assert summary["error"] == "1 of 2 cells did not succeed: toy/broken x1 (failed)"
    assert main(["zoo", "check", "--release", "r1"]) == 1
    assert "FAIL: 1 of 2 cells: toy/broken x1 (run failed: " in capsys.readouterr().out


def _record(runs_dir: Path, run_id: str, status: str, device: str = "cpu", max_steps=4, checkpoint=False) -> dict:
    record = records.new_record(run_id=run_id, kind="train", model="toy", model_title="Toy", plugin={},
                                profile="fast", config={}, overrides={}, cards=1, world_size=1, device=device,
                                seed=0, metric_columns=[], log="")
    record["zoo_cell"] = {"release": "r1", "model": "toy", "profile": "fast", "cards": 1, "max_steps": max_steps}
    if status == "lost":
        record["owner"] = _dead_owner()
    elif status != "running":
        records.mark_finished(record, status)
    records.save(record, runs_dir)
    if checkpoint:
        (runs_dir / run_id / "checkpoint.pt").write_bytes(b"state")
    return record


@pytest.mark.parametrize("history, action", [
    ([], "new"),
    ([("a", "success", {})], "skip"),
    ([("a", "success", {}), ("b", "failed", {})], "skip"),  # a succeeded run speaks for the cell
    ([("a", "failed", {})], "new"),
    ([("a", "diverged", {"checkpoint": True})], "new"),
    ([("a", "lost", {"checkpoint": True})], "resume"),
    ([("a", "interrupted", {"checkpoint": True})], "resume"),
    ([("a", "lost", {})], "new"),  # killed before its first checkpoint
    ([("a", "lost", {"checkpoint": True, "device": "cuda"})], "new"),
    ([("a", "running", {})], "busy"),  # this test's own process: alive
    ([("a", "success", {"max_steps": 8})], "new"),  # another schedule does not count
])
def test_the_resume_rule(tmp_path, history, action):
    cell = Cell("r1", "toy", "fast", 1, 4)
    runs = [_record(tmp_path, run_id, status, **options) for run_id, status, options in history]
    decided = next_action(cell, runs, tmp_path, "cpu")
    assert decided.kind == action
    if action in ("skip", "resume", "busy"):
        assert decided.record["run_id"] == "a"


def test_a_stop_signal_stops_the_matrix_and_the_summary_says_so(tmp_path):
    (tmp_path / "zoo.yaml").write_text(ZOO)
    runs_dir = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "modelzoo", "zoo", "run", "--release", "cpu-smoke",
                                "--models", "toy", "--device", "cpu"], cwd=tmp_path, env=subprocess_env(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            cell = _cell_runs(runs_dir).get("toy/slow x1") if runs_dir.is_dir() else None
            if cell and (runs_dir / cell["run_id"] / "checkpoint.pt").is_file():
                process.send_signal(signal.SIGTERM)
                break
            time.sleep(0.05)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, output
    assert "cell toy/slow x1: interrupted (new run " in output
    assert _cell_runs(runs_dir)["toy/slow x1"]["status"] == "interrupted"
    (summary,) = _summaries(runs_dir)
    assert summary["status"] == "interrupted" and summary["error"].startswith("stopped after 0 of 2 cells")
    assert [m["status"] for m in summary["members"]] == ["interrupted", "not run"]


def test_one_zoo_run_per_release_at_a_time(toy, capsys):
    from modelzoo.zoo.release import release_lock

    (toy / "zoo.yaml").write_text(ZOO)
    (toy / "runs").mkdir()
    with release_lock(toy / "runs", "cpu-smoke"):
        assert main(["zoo", "run", "--release", "cpu-smoke", "--device", "cpu"]) == 2
    assert "zoo run of release 'cpu-smoke' is already running in " in capsys.readouterr().err


def test_run_argv_passes_the_zoo_root_on_to_the_cells_run():
    from modelzoo.zoo.release import Action, ZooRunOptions, run_argv

    cell = Cell("r", "zoo-facenet", "recipe", 1, None)
    argv = run_argv(cell, Action("new", None, "no run yet"), ZooRunOptions(zoo_root="/zoo"), Path("runs"),
                    Path("zoo.yaml"))
    assert argv[argv.index("--zoo-root") + 1] == "/zoo"
    assert "--zoo-root" not in run_argv(cell, Action("new", None, "no run yet"), ZooRunOptions(), Path("runs"),
                                        Path("zoo.yaml"))
