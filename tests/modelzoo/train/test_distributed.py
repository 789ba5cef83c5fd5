"""modelzoo.train.distributed: how many compute threads a CPU worker runs."""

from __future__ import annotations

import pytest
import torch

from modelzoo.measure import env
from modelzoo.train import distributed


@pytest.fixture
def threads(monkeypatch):
    """torch's thread count restored afterwards; 8 usable cores; no OMP_NUM_THREADS."""
    before = torch.get_num_threads()
    monkeypatch.setattr(distributed, "usable_cores", lambda: 8)
    monkeypatch.setattr(distributed, "_torch_default_threads", 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    torch.set_num_threads(before)


def test_workers_of_one_host_share_its_cores(threads):
    assert distributed.share_cpu_threads(4) == 2 == torch.get_num_threads()  # 4 workers x 2 threads
    assert distributed.share_cpu_threads(16) == 1
    assert distributed.threads_chosen_by() == "8 cores shared by 16 workers"


@pytest.mark.parametrize("busy, expected", [(0.0, 8), (0.4, 8), (0.6, 7), (2.0, 6), (7.9, 1), (30.0, 1)])
def test_one_worker_leaves_the_cores_other_processes_use(threads, busy, expected):
    """A compute thread on a core another process uses stalls every operator's barrier."""
    assert distributed.share_cpu_threads(1, busy_cores=lambda: busy) == expected == torch.get_num_threads()
    assert distributed.threads_chosen_by().startswith(f"{expected} of 8 cores free at the start")


def test_a_later_run_in_the_same_process_starts_from_torchs_default(threads):
    distributed.share_cpu_threads(1, busy_cores=lambda: 7.0)
    assert torch.get_num_threads() == 1
    assert distributed.share_cpu_threads(1, busy_cores=lambda: 0.0) == 8  # not capped by the busy start


def test_the_users_omp_num_threads_wins_and_the_record_says_so(threads, monkeypatch):
    torch.set_num_threads(3)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert distributed.share_cpu_threads(4) == 3
    assert distributed.share_cpu_threads(1, busy_cores=lambda: 7.0) == 3
    facts = env.capture("cpu")
    assert facts["cpu_threads"] == 3 and facts["cpu_threads_chosen_by"] == "OMP_NUM_THREADS"


def test_the_probe_counts_only_this_process_cpus(monkeypatch):
    import psutil

    monkeypatch.setattr(distributed, "our_cpus", lambda: [1, 2])
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval, percpu: [100.0, 50.0, 20.0, 100.0])
    assert distributed.cores_busy_elsewhere(0.0) == pytest.approx(0.7)  # CPUs 1 and 2 only


def test_the_probe_reads_the_machine():
    assert 0.0 <= distributed.cores_busy_elsewhere(0.05) <= distributed.usable_cores() + 1e-6
