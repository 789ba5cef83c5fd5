"""Fault class 20: ``modelzoo run facenet --cards 8 --device cpu --oversubscribe`` runs eight gloo
ranks on the demo profile (tiny sizes) on 2 cores: the record says world size 8, its FPS sums
every rank, each epoch is cut into eight shards, rank 0 alone evaluates; SIGTERM records it
``interrupted`` and ``--resume`` ends with the weights of the uninterrupted run; ``kill -9`` of
one worker fails the run with one line naming the rank, and no process is left.

Each rank holds ~0.7 GB, so at most two 8-rank runs share the machine at a time (the killed one
is the toy's, lighter); sequential phases keep the test near a minute on 2 cores.
"""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import torch
from fault_helpers import (
    Result,
    Workspace,
    assert_one_line_error,
    assert_runs_folder_sound,
    process_alive,
    stop,
    wait_for_log,
)

RANKS = 8
BATCH = 8
IMAGES = 16 * 8  # demo_train_identities x demo_images_per_identity
EIGHT = ("--device", "cpu", "--cards", str(RANKS), "--oversubscribe")
DEMO = ("run", "facenet", "--profile", "demo", *EIGHT,
        "--set", "data.demo_train_identities=16", "--set", "data.demo_images_per_identity=8",
        "--set", "data.demo_test_identities=40", "--set", "model.width=0.25", "--set", f"train.batch_size={BATCH}",
        "--set", "train.epochs=16", "--set", "train.fps_warmup_steps=2", "--set", "train.compute_fps_steps=2",
        "--set", "train.log_every=2")
TOY_LONG = ("run", "toy", *EIGHT, "--set", f"train.batch_size={BATCH}", "--set", "train.epochs=100",
            "--set", "data.delay_s=0.01", "--set", "train.log_every=2")


def _space(factory, name: str, plugins: str = "modelzoo_facenet.plugin") -> Workspace:
    space = Workspace(factory.mktemp(name) / "work", factory.mktemp("cache"))
    space.plugins = plugins
    return space


def _kill_one_worker(space: Workspace) -> tuple[Result, int, list[int]]:
    """An 8-rank toy run with one worker killed by SIGKILL mid-training: (result, the worker's
    pid, every process of the run)."""
    process = space.start(*TOY_LONG)
    wait_for_log(space, "step 4/", process, timeout=180)
    family = [process.pid, *(child.pid for child in psutil.Process(process.pid).children(recursive=True))]
    workers = [pid for pid in family[1:] if "spawn_main" in " ".join(_cmdline(pid))]
    assert len(workers) == RANKS, [_cmdline(pid) for pid in family]
    victim = workers[len(workers) // 2]
    psutil.Process(victim).kill()
    out, err = process.communicate(timeout=120)
    return Result(tuple(process.args), process.returncode, out, err), victim, family


def _cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    """The uninterrupted demo run beside the toy run whose rank is killed; then the demo run
    stopped by SIGTERM and resumed."""
    straight, killed = _space(tmp_path_factory, "straight"), _space(tmp_path_factory, "killed", "modelzoo_toy")
    with ThreadPoolExecutor(max_workers=2) as pool:
        plain = pool.submit(straight.cli, *DEMO, timeout=300)
        kill = pool.submit(_kill_one_worker, killed)
        results = {"straight": (straight, plain.result()), "killed": (killed, kill.result())}
    stopped = _space(tmp_path_factory, "stopped")
    process = stopped.start(*DEMO)
    wait_for_log(stopped, "step 4/", process, timeout=180)
    result, _ = stop(process, signal.SIGTERM, timeout=120)
    interrupted = stopped.only_record()
    resumed = stopped.cli("run", "facenet", "--resume", interrupted["run_id"], *EIGHT, timeout=300)
    results["stopped"] = (stopped, (result, interrupted, resumed))
    return results


def test_eight_ranks_train_with_world_size_8_shards_summed_fps_and_one_evaluation(eight):
    space, result = eight["straight"]
    assert result.returncode == 0, result.stderr[-3000:]
    record = space.only_record()
    assert (record["status"], record["cards"], record["world_size"]) == ("success", RANKS, RANKS)
    assert record["env"]["cpu_threads"] == 1  # one compute thread per rank
    metrics = record["metrics"]
    # each epoch cut into 8 shards: steps per epoch of one rank's share, not of the whole set
    assert metrics["steps_per_epoch"] == IMAGES // (RANKS * BATCH)
    assert metrics["images_seen"] == metrics["steps"] * BATCH * RANKS
    assert metrics["fps"] == pytest.approx(metrics["fps_per_card"] * RANKS)  # every rank's images
    log = (space.runs / record["run_id"] / "train.log").read_text()
    assert log.count("evaluation: ") == 1 and "8 worker(s)" in log  # rank 0 alone logs and evaluates
    assert 0 <= metrics["lfw_accuracy"] <= 1
    assert "Traceback" not in result.stderr and result.stderr.count("evaluation: ") == 1


def test_sigterm_to_eight_ranks_records_interrupted_and_resume_ends_with_the_uninterrupted_weights(eight):
    space, (result, interrupted, resumed) = eight["stopped"]
    assert_one_line_error(result, 143, f"run {interrupted['run_id']} interrupted: ", "--resume")
    assert interrupted["status"] == "interrupted" and 0 < interrupted["metrics"]["steps"] < 32
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = space.only_record()
    assert record["status"] == "success" and record["metrics"]["steps"] == 32
    straight_space, _ = eight["straight"]
    reference = straight_space.only_record()

    def weights(run_space, run):
        state = torch.load(run_space.runs / run["run_id"] / "checkpoint.pt", map_location="cpu", weights_only=True)
        return state["model"]

    mine, theirs = weights(space, record), weights(straight_space, reference)
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert torch.equal(mine[name], theirs[name]), name
    assert_runs_folder_sound(space.runs)


def test_kill_9_of_one_rank_fails_the_run_naming_the_rank_and_leaves_no_process(eight):
    space, (result, pid, family) = eight["killed"]
    record = space.only_record()
    line = assert_one_line_error(result, 1, f"run {record['run_id']} failed: worker rank ", f" (pid {pid}) was killed")
    rank = int(line.split("worker rank ")[1].split()[0])
    assert 0 <= rank < RANKS and record["status"] == "failed"
    assert record["error"] == (f"worker rank {rank} (pid {pid}) was killed (a signal: kill -9, or the OOM killer); "
                               "the other ranks were stopped")
    deadline = time.monotonic() + 30  # the launcher has exited; its children are reaped with it
    while (alive := [p for p in family if process_alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive == []
    assert_runs_folder_sound(space.runs)

