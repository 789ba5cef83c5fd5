"""modelzoo.toolkit.stopping: a stop signal's exception and exit status, the watch that sees which
signal came, and a process pool stopped at once (its task's cleanups run, no worker outlives it)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil
import pytest

from modelzoo.toolkit import stopping


def test_a_stop_is_a_keyboard_interrupt_with_its_signal_and_exit_status():
    term = stopping.Stopped(signal.SIGTERM)
    assert isinstance(term, KeyboardInterrupt) and str(term) == "stopped by SIGTERM"
    assert stopping.exit_status(term) == 143
    assert stopping.exit_status(stopping.Stopped(signal.SIGINT)) == 130
    assert stopping.exit_status(KeyboardInterrupt()) == 130  # a bare Ctrl-C
    assert stopping.exit_status(signum=signal.SIGTERM) == 143


def test_inside_the_block_sigterm_raises_stopped_and_the_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(stopping.Stopped) as stopped, stopping.stop_signals_raise():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert stopped.value.signum == signal.SIGTERM and stopping.last_received() == signal.SIGTERM
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_the_watch_sees_a_signal_whichever_handler_takes_it():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    watch = stopping.SignalWatch()
    try:
        assert watch.received() is None
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert seen == [signal.SIGTERM] and watch.received() == signal.SIGTERM
    finally:
        watch.close()
        signal.signal(signal.SIGTERM, previous)


def _task(marker: str) -> None:
    with stopping.pool_task():
        try:
            Path(marker).write_text("started")
            time.sleep(60)
        finally:
            Path(marker).write_text("cleaned up")  # what a half-written file's removal stands for


def test_stop_pool_ends_a_busy_and_an_idle_worker_at_once_after_the_task_cleans_up(tmp_path):
    marker = tmp_path / "task"
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                               initializer=stopping.pool_worker_start)
    with stopping.children_ignore_sigint():
        pool.submit(_task, str(marker))
        pool.submit(time.sleep, 0)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.05)
    workers = [child.pid for child in psutil.Process().children() if "spawn_main" in " ".join(child.cmdline())]
    assert len(workers) == 2
    started = time.monotonic()
    stopping.stop_pool(pool)
    assert time.monotonic() - started < stopping.POOL_STOP_WAIT_S  # SIGTERM sufficed: no SIGKILL wait
    assert not [pid for pid in workers if psutil.pid_exists(pid)]
    assert marker.read_text() == "cleaned up"
