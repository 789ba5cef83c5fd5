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
