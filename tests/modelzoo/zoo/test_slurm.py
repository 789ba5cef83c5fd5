"""modelzoo.zoo.slurm against a real Slurm (the session's private cluster) and on Slurm's texts."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pytest

from modelzoo.zoo import slurm


@pytest.fixture
def cluster(slurm_cluster, monkeypatch):
    """The cluster, with this process's Slurm clients pointed at it."""
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    return slurm_cluster


def _script(folder: Path, body: str) -> Path:
    path = folder / "job.sh"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def _wait_final(job_id: str, timeout_s: float = 60) -> slurm.JobState:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = slurm.job_state(job_id)
        if not state.active and state.state != slurm.UNKNOWN:
            return state
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {state.describe()} after {timeout_s} s")


def _wait_running(job_id: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while slurm.job_state(job_id).state != "RUNNING":
        assert time.monotonic() < deadline, f"job {job_id} did not start: {slurm.job_state(job_id).describe()}"
        time.sleep(0.2)


def test_a_submitted_job_runs_is_found_by_name_and_ends_with_its_exit_code(cluster, tmp_path):
    ok = slurm.JobRequest(name="mz-test-ok", script=_script(tmp_path, "echo hello from $SLURM_JOB_ID"),
                          log=tmp_path / "ok-%j.log", workdir=tmp_path, partition=cluster.partition)
    job_id = slurm.submit(ok)
    assert job_id.isdigit()
    found = slurm.queue(names={"mz-test-ok"})
    assert [j.job_id for j in found] == [job_id] and found[0].name == "mz-test-ok"
    assert found[0].partition == cluster.partition
    done = _wait_final(job_id)
    assert (done.state, done.exit_code, done.nodes) == ("COMPLETED", 0, cluster.node)
    assert (tmp_path / f"ok-{job_id}.log").read_text().strip() == f"hello from {job_id}"

    bad = slurm.JobRequest(name="mz-test-exit3", script=_script(tmp_path, "exit 3"), log=tmp_path / "bad.log")
    failed = _wait_final(slurm.submit(bad))
    assert (failed.state, failed.reason, failed.exit_code) == ("FAILED", "NonZeroExitCode", 3)
    assert failed.describe() == "FAILED (NonZeroExitCode, exit 3)"
    assert slurm.queue(names={"no-such-job-name"}) == []


def test_scancel_sends_sigterm_to_a_running_job(cluster, tmp_path):
    # Wait on events, never on a fixed window: the script says when its trap is set (a SIGTERM
    # before that would end the shell without a trace; on a loaded machine RUNNING comes
    # long before the script's first line), and the marker is read once the job has ended.
    ready, marker = tmp_path / "trap-set", tmp_path / "got-term"
    body = f"trap 'echo TERM > {marker}; exit 143' TERM\ntouch {ready}\nwhile true; do sleep 0.1; done"
    job_id = slurm.submit(slurm.JobRequest(name="mz-test-cancel", script=_script(tmp_path, body),
                                           log=tmp_path / "cancel.log"))
    _wait_running(job_id)
    _wait_for(ready.exists, f"job {job_id} never set its trap")
    slurm.cancel([job_id])
    assert _wait_final(job_id).state == "CANCELLED"
    _wait_for(marker.exists, f"job {job_id} ended without running its TERM trap")  # it runs before the exit
    assert marker.read_text().strip() == "TERM"


def _wait_for(event, failure: str, timeout_s: float = 120) -> None:
    """Poll ``event`` until it is true; the timeout only bounds a failing test."""
    deadline = time.monotonic() + timeout_s
    while not event():
        assert time.monotonic() < deadline, failure
        time.sleep(0.1)


def test_refused_submissions_are_one_line_with_slurms_reason_and_a_fix(cluster, tmp_path):
    script = _script(tmp_path, "true")
    with pytest.raises(slurm.SlurmError) as unknown:
        slurm.check_partition("nope")
    assert str(unknown.value) == (f"partition 'nope' is not one of this cluster's ({cluster.partition}); "
                                  "pick one with --partition")
    slurm.check_partition(cluster.partition)
    with pytest.raises(slurm.SlurmError) as refused:
        slurm.submit(slurm.JobRequest(name="mz-test-p", script=script, log=tmp_path / "p.log", partition="nope"))
    assert str(refused.value) == ("sbatch refused job mz-test-p: Invalid partition name specified; pick one of "
                                  "'sinfo --summarize' with --partition")
    with pytest.raises(slurm.SlurmError) as gpus:  # a CPU-only cluster
        slurm.check_submittable(slurm.JobRequest(name="mz-test-g", script=script, log=tmp_path / "g.log",
                                                 gpus_per_node=1))
    assert str(gpus.value) == ("Slurm would refuse job mz-test-g: Invalid generic resource (gres) "
                               "specification; use a partition with GPUs (--partition), or --device cpu for "
                               "a CPU job")
    with pytest.raises(slurm.SlurmError, match="^Slurm would refuse job mz-test-n: Requested node configuration "
                       "is not available; ask for fewer nodes"):
        slurm.check_submittable(slurm.JobRequest(name="mz-test-n", script=script, log=tmp_path / "n.log",
                                                 nodes=2))
    assert "\n" not in str(refused.value) + str(gpus.value)
    assert slurm.queue(names={"mz-test-p", "mz-test-g", "mz-test-n"}) == []  # nothing was submitted
    slurm.check_submittable(slurm.JobRequest(name="mz-test-fine", script=script, log=tmp_path / "f.log"))


def test_no_sbatch_on_path_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(slurm.SlurmError) as missing:
        slurm.submit(slurm.JobRequest(name="x", script=tmp_path / "s", log=tmp_path / "l"))
    assert str(missing.value).startswith("sbatch is not on PATH: --launcher slurm needs Slurm's client commands")
    assert not slurm.available("squeue")


def test_sbatch_argv_asks_for_what_the_request_says(tmp_path):
    request = slurm.JobRequest(name="mz-a", script=tmp_path / "s.py", log=tmp_path / "a-%j.log", nodes=2,
                               ntasks_per_node=8, gpus_per_node=8, partition="gpu", account="zoo",
                               time="04:00:00", workdir=tmp_path, extra=("--exclusive", "--qos=high"))
    assert slurm.sbatch_argv(request) == [
        "sbatch", "--parsable", "--job-name=mz-a", f"--output={tmp_path}/a-%j.log", "--nodes=2",
        "--ntasks-per-node=8", "--gpus-per-node=8", "--partition=gpu", "--account=zoo", "--time=04:00:00",
        f"--chdir={tmp_path}", "--exclusive", "--qos=high", f"{tmp_path}/s.py"]
    assert slurm.sbatch_argv(request, test_only=True)[:2] == ["sbatch", "--test-only"]
    with pytest.raises(ValueError):
        slurm.JobRequest(name="a b; rm", script=tmp_path, log=tmp_path)


def test_slurms_texts_are_parsed():
    line = ("JobId=7 JobName=mz-r.toy JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=2:0 "
            "Partition=mz NodeList=node[01-02] WorkDir=/tmp/a b StdOut=/runs/x.log")
    fields = slurm.parse_scontrol(line)
    assert fields["JobState"] == "FAILED" and fields["ExitCode"] == "2:0" and fields["WorkDir"] == "/tmp/a b"
    assert fields["StdOut"] == "/runs/x.log" and fields["NodeList"] == "node[01-02]"
    job = slurm.parse_squeue_line("12|PENDING|gpu||Priority|name|with|bars")
    assert (job.job_id, job.state, job.partition, job.nodes, job.reason, job.name) == (
        "12", "PENDING", "gpu", None, "Priority", "name|with|bars")
    assert job.active and job.describe() == "PENDING (Priority)"
    assert slurm.parse_squeue_line("garbage") is None
    assert slurm.first_node("gpu[03-05,07]") == "gpu03" and slurm.first_node("a1,b2") == "a1"
    assert slurm.first_node("solo") == "solo"
    for good in ("90", "30:00", "04:00:00", "1-12", "1-12:00:00", "UNLIMITED"):
        assert slurm.time_limit(good) == good
    for bad in ("4h", "", "1:2:3:4", "-5"):
        with pytest.raises(argparse.ArgumentTypeError):
            slurm.time_limit(bad)
