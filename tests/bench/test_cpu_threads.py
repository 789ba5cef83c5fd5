"""bench/cpu_threads.py: the child step runs it compares, with the trainer's own thread choice."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "plugins" / "facenet"), str(REPO)]

import cpu_threads  # noqa: E402


def test_a_child_run_reports_its_rate_and_the_trainers_choice():
    rate, chosen = cpu_threads.step_rate("auto", {}, steps=1)
    assert rate > 0
    assert " cores free at the start " in chosen  # the child never inherits OMP_NUM_THREADS


def test_a_fixed_thread_count_is_what_the_child_ran():
    rate, used = cpu_threads.step_rate("1", {"OMP_WAIT_POLICY": "PASSIVE"}, steps=1)
    assert rate > 0 and used == "1 threads"
