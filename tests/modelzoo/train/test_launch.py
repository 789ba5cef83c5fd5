"""Multi-process runs: 2 gloo workers on the CPU, the way CI tests DDP."""

from __future__ import annotations

from toy_helpers import run_cli

from modelzoo.store import records
from modelzoo.train.launch import RANK_NOTES


def test_two_process_gloo_run_end_to_end(tmp_path):
    done = run_cli(tmp_path, "run", "toy", "--device", "cpu", "--cards", "2", "--profile", "fast")
    assert done.returncode == 0, done.stderr
    (record,) = records.load_all(tmp_path / "runs")
    assert record["status"] == "success"
    assert record["world_size"] == 2 and record["cards"] == 2
    metrics = record["metrics"]
    # 256 images / (2 ranks x 16) = 8 steps per epoch, one epoch
    assert metrics["steps"] == 8 and metrics["images_seen"] == 256
    assert metrics["fps"] > 0 and abs(metrics["fps_per_card"] * 2 - metrics["fps"]) < 1e-6
    assert metrics["step_ms_p50"] > 0 and metrics["step_ms_p90"] >= metrics["step_ms_p50"]
    assert 0.0 <= metrics["accuracy"] <= 1.0
    # one log, written by rank 0
    assert "2 worker(s)" in (tmp_path / "runs" / record["run_id"] / "train.log").read_text()
    # the launcher's rank notes are removed once the workers are done
    assert not (tmp_path / "runs" / record["run_id"] / RANK_NOTES).exists()


def test_the_killed_rank_named_is_one_the_agent_saw_fail_not_one_it_killed_while_stopping(tmp_path):
    """Rank 0, stuck in a collective with the dead peer, is killed by the agent after its grace
    period: silent too, yet the line must name the rank that was killed first (rank 5)."""
    from types import SimpleNamespace

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    from modelzoo.train import launch

    record = records.new_record(run_id="r8", kind="train", model="toy", model_title="Toy",
                                plugin={"name": "toy", "version": "0"}, profile="demo", config={"train": {}},
                                overrides={}, cards=8, world_size=8, device="cpu", seed=0, metric_columns=[],
                                log=None)
    records.save(record, tmp_path / "runs")
    job = SimpleNamespace(run_dir=tmp_path / "runs" / "r8", runs_dir=tmp_path / "runs", model="toy", run_id="r8")
    seen = ChildFailedError("toy", {5: ProcessFailure(local_rank=5, pid=1005, exitcode=-9,
                                                      error_file=str(tmp_path / "none.json"))})
    named = launch.record_after_failure(job, seen, [(0, "1000"), (5, "1005")])
    assert named["status"] == "failed"
    assert named["error"].startswith("worker rank 5 (pid 1005) was killed")
