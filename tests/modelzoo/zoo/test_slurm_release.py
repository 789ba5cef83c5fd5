"""`modelzoo zoo run --launcher slurm`, `zoo status`, `zoo cancel` through a real Slurm (the
session's private one-node cluster, CPUs only), with the toy plugin on the CPU.

One release runs here and on Slurm: every cell succeeds and the records agree in every field
but env and the clocks. A slow cell killed with `scancel` mid-run records `interrupted`, and
the rerun resubmits only it (and not twice); Ctrl-C of a waiting `zoo run` cancels the jobs. Bad input: an unknown partition, no sbatch on
PATH, a bad --time, and a job that fails before writing a record.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from toy_helpers import run_cli, subprocess_env

from modelzoo.store import records

ZOO = """\
schema_version: 1
models:
  toyseq: {}
  toy:
    profiles:
      slow:
        extends: default
        data: {delay_s: 0.01}
        train: {checkpoint_every: 2, epochs: 200}  # 2000 steps of 0.16 s: cancelled long before
releases:
  smoke:
    models:
      toyseq: {profiles: [default], cards: [1], max_steps: 12}
      toy: {profiles: [default], cards: [2], max_steps: 12}
  cancel:
    models:
      toyseq: {profiles: [default], cards: [1], max_steps: 12}
      toy: {profiles: [slow], cards: [1], max_steps: 2000}
"""
# What differs between two runs of one cell whatever launched them: ids, clocks, owners, timings.
CLOCKS = {"run_id", "started", "finished", "duration_s", "owner", "resources", "target", "log", "checkpoint"}


@pytest.fixture
def zoo_dir(tmp_path, slurm_cluster):
    (tmp_path / "zoo.yaml").write_text(ZOO)
    return tmp_path


def _cli(folder: Path, cluster, *args: str, timeout: float = 240, **env):
    return run_cli(folder, *args, timeout=timeout, MODELZOO_SLURM_POLL_S="0.5", **{**cluster.env, **env})


def _cells(runs_dir: Path) -> dict[str, dict]:
    return {f"{r['zoo_cell']['model']}/{r['zoo_cell']['profile']} x{r['zoo_cell']['cards']}": r
            for r in records.load_all(runs_dir) if r.get("zoo_cell")}


def _until(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout_s} s")


def test_a_release_on_slurm_succeeds_with_the_records_of_the_local_launcher(zoo_dir, slurm_cluster):
    local = _cli(zoo_dir, slurm_cluster, "zoo", "run", "--release", "smoke", "--device", "cpu",
                 MODELZOO_RUNS=str(zoo_dir / "local"))
    assert local.returncode == 0, local.stderr[-2000:]
    done = _cli(zoo_dir, slurm_cluster, "zoo", "run", "--release", "smoke", "--launcher", "slurm", "--device", "cpu")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "zoo run smoke: 2 of 2 cells succeeded; summary record" in done.stdout
    assert "cell toyseq/default x1: submitted job" in done.stderr and "cell toy/default x2: submitted job" in done.stderr
    here, there = _cells(zoo_dir / "local"), _cells(zoo_dir / "runs")
    assert sorted(here) == sorted(there) == ["toy/default x2", "toyseq/default x1"]
    for name, slurm_record in there.items():
        local_record = here[name]
        assert slurm_record["status"] == "success" and set(slurm_record) == set(local_record)
        for key in set(slurm_record) - CLOCKS - {"env", "metrics", "curves"}:
            assert slurm_record[key] == local_record[key], (name, key)
        columns = [c["key"] for c in slurm_record["metric_columns"]]
        assert {k: slurm_record["metrics"][k] for k in columns} == {k: local_record["metrics"][k] for k in columns}
        assert set(slurm_record["metrics"]) == set(local_record["metrics"])
        assert set(slurm_record["env"]) - set(local_record["env"]) == {"slurm"}
        facts = slurm_record["env"]["slurm"]
        assert facts["partition"] == slurm_cluster.partition and facts["nodes"] == slurm_cluster.node
        assert facts["job_name"] == "mz.smoke." + name.replace("/", ".").replace(" ", ".")
        (row,) = [line.split() for line in done.stdout.splitlines() if line.startswith(name + " ")]
        assert row[2:] == ["success", slurm_record["run_id"], facts["job_id"]]
    summary = next(r for r in records.load_all(zoo_dir / "runs") if r.get("kind") == "zoo")
    assert summary["status"] == "success" and [m["status"] for m in summary["members"]] == ["success"] * 2
    again = _cli(zoo_dir, slurm_cluster, "zoo", "run", "--release", "smoke", "--launcher", "slurm", "--device", "cpu")
    assert again.returncode == 0 and "submitted job" not in again.stderr
    assert again.stderr.count("skipped: run ") == 2


def test_a_scancelled_cell_is_interrupted_and_the_rerun_resubmits_only_it(zoo_dir, slurm_cluster):
    runs = zoo_dir / "runs"
    start = ("zoo", "run", "--release", "cancel", "--launcher", "slurm", "--device", "cpu", "--no-wait")
    submitted = _cli(zoo_dir, slurm_cluster, *start)
    assert submitted.returncode == 0, submitted.stderr[-2000:]
    assert submitted.stderr.count("submitted job") == 2
    slow = _until(lambda: (r := _cells(runs).get("toy/slow x1")) and (runs / r["run_id"] / "checkpoint.pt").is_file()
                  and r, 120, "the slow cell checkpointed")
    (job_id,) = [j["id"] for j in slurm_cluster.jobs() if j["name"] == "mz.cancel.toy.slow.x1"]
    slurm_cluster.client(["scancel", job_id])  # what a cluster admin (or a preemption) does
    stopped = _until(lambda: (r := records.load(runs / slow["run_id"]))["status"] == "interrupted" and r, 60,
                     "the scancelled run recorded interrupted")
    assert stopped["error"].startswith("stopped by") and stopped["env"]["slurm"]["job_id"] == job_id
    _until(lambda: _cells(runs).get("toyseq/default x1", {}).get("status") == "success", 120, "the quick cell")
    _until(lambda: not [j for j in slurm_cluster.jobs() if j["name"].startswith("mz.cancel.")
                        and j["state"] in ("PENDING", "RUNNING", "COMPLETING")], 60, "the jobs ended")
    status = _cli(zoo_dir, slurm_cluster, "zoo", "status", "--release", "cancel")
    assert status.returncode == 0
    rows = {line.split("  ")[0]: line for line in status.stdout.splitlines()}
    assert rows["toy/slow x1"].split()[2:5] == ["interrupted", slow["run_id"], job_id]
    assert rows["toyseq/default x1"].split()[2] == "success"
    assert status.stdout.splitlines()[-1] == "zoo status cancel: 1 succeeded, 1 interrupted"

    rerun = _cli(zoo_dir, slurm_cluster, *start)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "cell toyseq/default x1: skipped: run" in rerun.stderr
    assert rerun.stderr.count("submitted job") == 1
    assert "cell toy/slow x1: submitted job" in rerun.stderr and f"resumes run {slow['run_id']} was interrupted" \
        in rerun.stderr
    twice = _cli(zoo_dir, slurm_cluster, *start)
    assert "submitted job" not in twice.stderr and "cell toy/slow x1: left alone: job" in twice.stderr
    active = [j for j in slurm_cluster.jobs() if j["name"] == "mz.cancel.toy.slow.x1"
              and j["state"] in ("PENDING", "RUNNING")]
    assert len(active) == 1  # found by name: not submitted a second time
    _until(lambda: (r := records.load(runs / slow["run_id"]))["status"] == "running" and r.get("resumed_from"),
           120, "the resumed run started")
    # cancelled at once: the resumed run may still be starting its worker (before the trainer's
    # signal handlers), and must still record 'interrupted', not be left 'running' for a dead process
    cancelled = _cli(zoo_dir, slurm_cluster, "zoo", "cancel", "--release", "cancel")
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"cancelled job {active[0]['id']} (cell toy/slow x1, running)" in cancelled.stderr
    final = _until(lambda: (r := records.load(runs / slow["run_id"]))["status"] == "interrupted" and r, 60,
                   "the cancelled run recorded interrupted")  # zoo cancel may return a moment before it
    assert len(final["resumed_from"]) == 1
    assert "zoo cancel cancel: 1 succeeded, 1 interrupted" in cancelled.stdout
    assert not [j for j in slurm_cluster.jobs() if j["name"].startswith("mz.cancel.")
                and j["state"] in ("PENDING", "RUNNING", "COMPLETING")]
    nothing = _cli(zoo_dir, slurm_cluster, "zoo", "cancel", "--release", "cancel")
    assert nothing.stdout.strip() == "zoo cancel cancel: no job of this release is pending or running"


def _last_error(done) -> str:
    assert "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_bad_input_is_one_line_and_queues_nothing(zoo_dir, slurm_cluster):
    smoke = ("zoo", "run", "--release", "smoke", "--launcher", "slurm", "--device", "cpu")
    unknown = _cli(zoo_dir, slurm_cluster, *smoke, "--partition", "nope")
    assert unknown.returncode == 2
    assert _last_error(unknown) == (f"modelzoo: error: partition 'nope' is not one of this cluster's "
                                    f"({slurm_cluster.partition}); pick one with --partition")
    no_slurm = _cli(zoo_dir, slurm_cluster, *smoke, PATH=str(Path(sys.executable).parent))
    assert no_slurm.returncode == 2
    assert _last_error(no_slurm).startswith("modelzoo: error: sbatch is not on PATH: --launcher slurm needs")
    bad_time = _cli(zoo_dir, slurm_cluster, *smoke, "--time", "4h")
    assert bad_time.returncode == 2 and "'4h' is not a Slurm time limit" in _last_error(bad_time)
    assert not [j for j in slurm_cluster.jobs() if j["name"].startswith("mz.smoke.")
                and j["state"] in ("PENDING", "RUNNING")]
    assert not records.load_all(zoo_dir / "runs")


def test_a_job_that_fails_before_its_record_names_slurms_reason_and_its_log(zoo_dir, slurm_cluster):
    broken = zoo_dir / "runs" / "20261201-000000-broken"
    broken.mkdir(parents=True)
    (broken / records.RECORD_FILE).write_text("{cut short")
    # --export=NONE: the job does not see $MODELZOO_PLUGINS, so its `modelzoo run` knows no toy model
    done = _cli(zoo_dir, slurm_cluster, "zoo", "run", "--release", "smoke", "--models", "toyseq", "--launcher",
                "slurm", "--device", "cpu", "--sbatch-arg=--export=NONE")
    assert done.returncode == 1, done.stdout + done.stderr[-2000:]
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("toyseq/default x1  failed")]
    log = Path(row.rsplit("; log ", 1)[1])
    assert log.is_file() and log.parent == zoo_dir / "runs" / ".slurm" / "smoke"
    assert "FAILED (NonZeroExitCode, exit 2) before writing a record: modelzoo: error: " in row
    assert "toyseq" in row
    assert done.stdout.splitlines()[-1].endswith("1 of 1 cells did not succeed: toyseq/default x1 (failed)")
    found, problems = records.load_all_with_problems(zoo_dir / "runs")
    assert not [r for r in found if r.get("kind") == "train"] and len(problems) == 1
    # the unreadable record is named once, not once per poll of the waiting loop
    assert done.stderr.count("modelzoo: warning: skipped ") == 1 and "20261201-000000-broken" in done.stderr


def test_ctrl_c_while_waiting_cancels_the_jobs_and_records_interrupted(zoo_dir, slurm_cluster):
    """Ctrl-C of a waiting `zoo run`: it scancels the release's jobs, waits for their runs to
    record `interrupted`, saves an interrupted summary and exits 130."""
    runs = zoo_dir / "runs"
    env = subprocess_env(zoo_dir, MODELZOO_SLURM_POLL_S="0.5", **slurm_cluster.env)
    waiting = subprocess.Popen([sys.executable, "-m", "modelzoo", "zoo", "run", "--release", "cancel",
                                "--launcher", "slurm", "--device", "cpu", "--models", "toy"],
                               cwd=zoo_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        slow = _until(lambda: (r := _cells(runs).get("toy/slow x1")) and r["status"] == "running" and r, 120,
                      "the slow cell started")
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=180)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 130, err[-2000:]
    assert "stopping: cancelling the release's jobs" in err and "cancelled job" in err
    assert "Traceback" not in err
    assert records.load(runs / slow["run_id"])["status"] == "interrupted"
    (summary,) = [r for r in records.load_all(runs) if r.get("kind") == "zoo"]
    assert summary["status"] == "interrupted"
    assert not [j for j in slurm_cluster.jobs() if j["name"].startswith("mz.cancel.")
                and j["state"] in ("PENDING", "RUNNING", "COMPLETING")]
