"""modelzoo.train.cputhreads: a one-worker CPU run re-chooses its compute threads as other
processes come and go, and the record says when and how its thread count varied."""

from __future__ import annotations

import pytest

from modelzoo import app
from modelzoo.train import cputhreads, distributed
from modelzoo.train.cputhreads import CpuUse, ThreadWatch


class FakeMachine:
    """Two CPUs; each look advances ``every`` seconds, during which this process used ``own``
    cores' worth and the whole machine ``busy``."""

    def __init__(self):
        self.clock = self.own = self.busy = 0.0
        self.threads = 1
        self.load = (1.0, 1.0)  # (busy cores in all, of them ours)

    def measure(self) -> CpuUse:
        return CpuUse(own_s=self.own, busy_s=self.busy, at_s=self.clock)

    def advance(self, seconds: float, busy: float, own: float) -> None:
        self.clock += seconds
        self.busy += busy * seconds
        self.own += own * seconds


@pytest.fixture
def machine(monkeypatch):
    monkeypatch.setattr(distributed, "usable_cores", lambda: 2)
    return FakeMachine()


def _watch(machine: FakeMachine, every_s: float = 30.0) -> ThreadWatch:
    def set_threads(n: int) -> None:
        machine.threads = n

    return ThreadWatch(enabled=True, every_s=every_s, measure=machine.measure, set_threads=set_threads,
                       get_threads=lambda: machine.threads)


def test_a_run_that_started_on_one_thread_takes_the_core_a_neighbour_left(machine):
    if distributed.threads_for_free_cores(0.0) < 2:
        pytest.skip("torch's default is one thread here")
    watch = _watch(machine)
    machine.advance(10, busy=1.0, own=1.0)
    assert watch.check(step=10) is None  # under every_s since the last look: not even measured
    machine.advance(25, busy=1.0, own=1.0)  # the neighbour has left: only our one thread is busy
    assert watch.check(step=50) is None and machine.threads == 1  # seen once: wait for a second look
    machine.advance(30, busy=1.0, own=1.0)
    change = watch.check(step=100)
    assert machine.threads == 2
    assert change == {"at_s": 65.0, "step": 100, "from": 1, "threads": 2, "others_used_cores": 0.0}
    assert watch.changes == [change]
    # a neighbour takes a core again: two looks, and the run steps down to one thread
    machine.advance(30, busy=2.0, own=1.1)
    assert watch.check(step=150) is None and machine.threads == 2
    machine.advance(30, busy=2.0, own=1.1)
    assert watch.check(step=200)["threads"] == 1 and machine.threads == 1
    note = watch.note()
    assert "1 -> 2 at step 100 (65 s), 2 -> 1 at step 200 (125 s)" in note
    assert "the FPS averages over every thread count" in note


def test_one_burst_of_a_neighbour_changes_nothing(machine):
    machine.threads = 2
    watch = _watch(machine)
    machine.advance(30, busy=2.0, own=1.0)  # a burst: the other core busy for one look
    assert watch.check(step=1) is None
    machine.advance(30, busy=2.0, own=2.0)  # gone again: we use both cores
    assert watch.check(step=2) is None
    machine.advance(30, busy=2.0, own=2.0)
    assert watch.check(step=3) is None
    assert machine.threads == 2 and watch.changes == [] and watch.note() is None


def test_the_watch_is_off_where_the_thread_count_is_not_the_runs_to_change(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    distributed.share_cpu_threads(1)
    assert not cputhreads.watch_for("cpu", 1).enabled  # the user's choice
    monkeypatch.delenv("OMP_NUM_THREADS")
    distributed.share_cpu_threads(2)
    assert not cputhreads.watch_for("cpu", 2).enabled   # workers share the cores by count
    assert not cputhreads.watch_for("cuda", 1).enabled
    distributed.share_cpu_threads(1, busy_cores=lambda: 0.0)
    assert cputhreads.watch_for("cpu", 1).enabled
    disabled = ThreadWatch(enabled=False, every_s=0.0)
    assert disabled.check(step=1) is None


def test_the_record_keeps_each_change_and_warns_that_the_fps_mixes_thread_counts(toy, monkeypatch):
    import torch

    machine = FakeMachine()
    machine.threads = torch.get_num_threads()
    wanted = 1 if machine.threads > 1 else 2
    looks = iter([(0.0, 0.0)] + [(2.0, 0.0) if wanted == 1 else (0.0, 0.0)] * 100)

    def measure() -> CpuUse:
        busy, own = next(looks)
        machine.advance(1.0, busy=busy, own=own)
        return machine.measure()

    monkeypatch.setattr(distributed, "threads_for_free_cores", lambda others: wanted)
    made = []

    def watch_for(device, local_workers):
        made.append(ThreadWatch(enabled=True, every_s=0.0, measure=measure,
                                set_threads=lambda n: setattr(machine, "threads", n),
                                get_threads=lambda: machine.threads))
        return made[-1]

    monkeypatch.setattr(cputhreads, "watch_for", watch_for)
    record = app.run("toy", profile="fast", device="cpu", session=app.Session(runs_dir=toy / "runs"),
                     overrides={"train.max_steps": 8, "train.log_every": 2, "train.compute_fps_steps": 2})
    assert record["status"] == "success"
    changes = record["env"]["cpu_threads_changes"]
    assert [(c["step"], c["threads"]) for c in changes] == [(4, wanted)]  # confirmed at the second look
    assert any("the CPU compute threads changed during the run" in w for w in record["warnings"])
