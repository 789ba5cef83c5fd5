"""The timed window's resources (modelzoo/train/window.py): the power summary and its time series
(``curves.power``) from a fake reader, through WindowResources and through a whole toy run."""

from __future__ import annotations

import time

from modelzoo.cli import main
from modelzoo.measure import power
from modelzoo.measure.power import PowerSampler
from modelzoo.measure.power_readers import Reading
from modelzoo.store import records
from modelzoo.train import distributed
from modelzoo.train.window import WindowResources


class TwoCards:
    """Card 0 reads 100 + n W and card 1 150 + n W at the n-th call."""

    source = "fake"
    cards = [0, 1]

    def __init__(self):
        self.calls = 0

    def __call__(self):
        n, self.calls = self.calls, self.calls + 1
        return {0: Reading(watts=100.0 + n), 1: Reading(watts=150.0 + n)}


def test_collect_adds_the_power_series_to_the_curves_on_rank_0():
    window = WindowResources("cpu", distributed.Topology(), sample_power=False)
    reader = TwoCards()
    window.sampler = PowerSampler(reader, reader.source, hz=20)
    window("open")
    time.sleep(0.2)
    window("pause")  # a checkpoint write
    time.sleep(0.3)
    window("resume")
    time.sleep(0.2)
    window("close")
    curves = {"loss": {"step": [], "loss": []}}
    resources = window.collect(timed_images=1000, curves=curves)
    curve = curves["power"]
    assert curve["watts"] == [250.0 + 2 * n for n in range(reader.calls)] and curve["devices"] == 2
    assert all(b > a for a, b in zip(curve["t"], curve["t"][1:]))
    assert curve["t"][-1] <= resources["power"]["seconds"] + 1e-3 < 0.6  # the pause is not in the window
    # the summary is what it was: the same figures, no series in it
    assert resources["power"]["source"] == "fake" and resources["power"]["energy_j"] > 0
    assert set(resources["power"]) == {"source", "per_card", "avg_w", "peak_w", "energy_j", "j_per_1000_images",
                                       "seconds", "hz", "sampler_cpu_s", "reason"}


def test_no_series_when_nothing_is_read_or_the_window_never_opened(monkeypatch):
    monkeypatch.setattr(power, "open_reader", lambda device, cards=None: (None, "no NVML: pynvml not installed"))
    window = WindowResources("cuda", distributed.Topology())
    window("open")
    window("close")
    curves: dict = {}
    resources = window.collect(timed_images=100, curves=curves)
    assert curves == {} and resources["power"]["reason"] == "no NVML: pynvml not installed"
    never = WindowResources("cpu", distributed.Topology(), sample_power=False)
    assert never.collect(None, curves) is not None and curves == {}


def test_a_run_writes_the_series_as_curves_power(toy, monkeypatch):
    monkeypatch.setattr(power, "open_reader", lambda device, cards=None: (TwoCards(), None))
    assert main(["run", "toy", "--device", "cpu", "--set", "train.epochs=1", "--set", "train.compute_fps_steps=0"]) == 0
    (record,) = records.load_all(toy / "runs")
    assert record["status"] == "success"
    curve = record["curves"]["power"]
    assert record["resources"]["power"]["source"] == "fake" and curve["devices"] == 2
    assert len(curve["t"]) == len(curve["watts"]) >= 2  # a reading when the window opens and one when it closes
    assert curve["watts"] == [250.0 + 2 * n for n in range(len(curve["watts"]))]
    assert all(b > a for a, b in zip(curve["t"], curve["t"][1:]))
    assert curve["t"][-1] <= record["resources"]["power"]["seconds"] + 1e-3


def test_a_run_that_fails_in_the_loop_leaves_no_sampler_running(toy, monkeypatch):
    """A loop that raises never closes its window: the sampler (and any tool it started) must end with it."""
    import threading

    monkeypatch.setattr(power, "open_reader", lambda device, cards=None: (TwoCards(), None))
    assert main(["run", "toy", "--device", "cpu", "--set", "loss.raise_at_step=6",
                 "--set", "train.fps_warmup_steps=1"]) == 1
    (record,) = records.load_all(toy / "runs")
    assert record["status"] == "failed" and "toy failure in the loss" in record["error"]
    time.sleep(0.3)  # a sampler tick (20 Hz at most) for a thread that was told to stop
    assert [t.name for t in threading.enumerate() if t.name.startswith("modelzoo-power")] == []
