"""FPS arithmetic as docs/PROTOCOLS.md (FPS) defines it, on a controlled clock."""

from __future__ import annotations

import pytest

from modelzoo.train import meter as meter_module
from modelzoo.train.meter import ThroughputMeter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_fps_counts_only_the_timed_window_and_all_ranks(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(meter_module.time, "perf_counter", clock)
    calls = []
    meter = ThroughputMeter(world_size=4, batch_per_card=10, warmup_steps=3,
                            synchronize=lambda: calls.append("sync"), barrier=lambda: calls.append("barrier"))
    for step in range(1, 4):  # warm-up: slow steps that must not count
        clock.now += 5.0
        meter.step_done(step)
    assert calls == ["sync", "barrier"]  # the window opened after warm-up
    for step in range(4, 14):  # 10 timed steps, 0.1 s each, one slow one
        clock.now += 0.5 if step == 9 else 0.1
        meter.step_done(step)
    with meter_module_paused(meter, clock, 100.0):  # a checkpoint write is not training
        pass
    result = meter.metrics()
    assert calls == ["sync", "barrier"] * 4
    assert result["timed_steps"] == 10
    assert result["fps"] == pytest.approx(4 * 10 * 10 / 1.4)
    assert result["fps_per_card"] == pytest.approx(result["fps"] / 4)
    assert result["step_ms_p50"] == pytest.approx(100.0)
    assert result["step_ms_p90"] == pytest.approx(140.0)


class meter_module_paused:
    def __init__(self, meter, clock, seconds):
        self.meter, self.clock, self.seconds = meter, clock, seconds

    def __enter__(self):
        self.meter.pause()
        self.clock.now += self.seconds

    def __exit__(self, *exc):
        self.meter.resume()


def test_too_short_runs_say_so():
    meter = ThroughputMeter(world_size=1, batch_per_card=8, warmup_steps=10,
                            synchronize=lambda: None, barrier=lambda: None)
    for step in range(1, 5):
        meter.step_done(step)
    result = meter.metrics()
    assert result["fps"] is None and "warm-up is 10 steps" in result["fps_note"]
