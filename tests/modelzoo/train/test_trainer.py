"""The generic loop: schedules, data order, resume after SIGTERM equals an uninterrupted run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import torch
from toy_helpers import run_cli, subprocess_env

from modelzoo.contract.settings import ScheduleSettings
from modelzoo.store import records
from modelzoo.train.batches import BatchStream, EpochBatches
from modelzoo.train.optim import learning_rate


def test_step_schedule_follows_the_recipe_table():
    schedule = ScheduleSettings(name="steps", milestones={0: 0.05, 60: 0.005, 80: 0.0005})
    at = lambda epoch: learning_rate(schedule, 0.1, epoch * 1000, 1000, 91000)
    assert (at(0), at(59), at(60), at(79), at(80), at(90)) == (0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005)


def test_cosine_and_warmup():
    schedule = ScheduleSettings(name="cosine", min_lr=0.0, warmup_epochs=1.0)
    assert learning_rate(schedule, 1.0, 0, 10, 100) == pytest.approx(0.1)
    assert learning_rate(schedule, 1.0, 50, 10, 100) == pytest.approx(0.5)
    assert learning_rate(schedule, 1.0, 100, 10, 100) == pytest.approx(0.0)


def test_batch_stream_resumes_at_the_same_batch():
    sampler = torch.utils.data.DistributedSampler(range(50), num_replicas=2, rank=1, shuffle=True, seed=5,
                                                  drop_last=True)
    stream = lambda start: iter(BatchStream(EpochBatches(sampler, 4), start))
    full = [next(it) for it in [stream(0)] for _ in range(20)]
    resumed = [next(it) for it in [stream(13)] for _ in range(7)]
    assert resumed == full[13:]
    assert full[:6] != full[6:12]  # each pass reshuffles (set_epoch)


def test_eight_shards_see_each_sample_once_per_epoch():
    """The trainer's data order with 8 ranks (DistributedSampler, drop_last, cut into batches): in
    every pass the ranks' batches are disjoint and cover the set, however each pass reshuffles."""
    images, ranks, batch = 128, 8, 8

    def shard(rank):
        sampler = torch.utils.data.DistributedSampler(range(images), num_replicas=ranks, rank=rank, shuffle=True,
                                                      seed=0, drop_last=True)
        return iter(BatchStream(EpochBatches(sampler, batch), 0))

    streams = [shard(rank) for rank in range(ranks)]
    steps_per_epoch = images // (ranks * batch)
    passes = []
    for _ in range(3):
        seen = [index for stream in streams for _ in range(steps_per_epoch) for index in next(stream)]
        assert sorted(seen) == list(range(images))  # each sample once across the 8 shards
        passes.append(seen)
    assert passes[0] != passes[1]


def _final_weights(run_dir):
    return torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]


def test_resume_after_sigterm_gives_the_same_weights(tmp_path):
    args = ["run", "toy", "--device", "cpu", "--seed", "7", "--set", "train.epochs=3",
            "--set", "train.log_every=1"]
    (tmp_path / "a").mkdir()
    straight = run_cli(tmp_path / "a", *args)
    assert straight.returncode == 0, straight.stderr
    (reference,) = records.load_all(tmp_path / "a" / "runs")

    # The same run, slowed down so that SIGTERM lands mid-training.
    work = tmp_path / "b"
    work.mkdir()
    process = subprocess.Popen([sys.executable, "-m", "modelzoo", *args, "--set", "data.delay_s=0.01"],
                               cwd=work, env=subprocess_env(work), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    log = None
    while time.time() < deadline:
        logs = list((work / "runs").glob("*/train.log"))
        if logs and "step 10/" in logs[0].read_text():
            log = logs[0]
            break
        time.sleep(0.1)
    assert log is not None, "the run never reached step 10"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    (interrupted,) = records.load_all(work / "runs")
    assert interrupted["status"] == "interrupted"
    assert "--resume" in interrupted["error"]
    stopped_at = torch.load(log.parent / "checkpoint.pt", weights_only=True)["step"]
    assert 10 <= stopped_at < 48

    resumed = run_cli(work, "run", "toy", "--device", "cpu", "--resume", interrupted["run_id"])
    assert resumed.returncode == 0, resumed.stderr
    final = records.find(work / "runs", interrupted["run_id"])
    assert final["status"] == "success" and final["resumed_from"]
    expected = _final_weights(tmp_path / "a" / "runs" / reference["run_id"])
    got = _final_weights(work / "runs" / final["run_id"])
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert final["metrics"]["accuracy"] == reference["metrics"]["accuracy"]


def test_a_compile_failure_becomes_a_one_line_error_with_the_fix():
    from torch._dynamo.exc import TorchDynamoException

    from modelzoo.contract.api import UserError
    from modelzoo.train.step import compile_failure

    error = compile_failure(TorchDynamoException("backend='inductor' raised:\nlong details"))
    assert isinstance(error, UserError)
    assert "torch.compile failed" in str(error) and "--set train.compile=false" in str(error)
    assert "\n" not in str(error) and "long details" not in str(error)
    assert compile_failure(RuntimeError("CUDA out of memory")) is None


@pytest.mark.parametrize("native", [True, False])
def test_half_autocast_on_a_cpu_without_it_is_flagged(monkeypatch, native):
    from modelzoo.train.step import emulated_cpu_amp

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: native, raising=False)
    warning = emulated_cpu_amp("cpu", "bf16")
    if native:
        assert warning is None
    else:
        assert "train.amp=bf16" in warning and "--set train.amp=none" in warning
    assert emulated_cpu_amp("cpu", "none") is None
    assert emulated_cpu_amp("cuda", "bf16") is None
