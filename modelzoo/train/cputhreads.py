"""A long CPU run re-checks the cores other processes leave it, and changes its compute threads.

At the start :func:`modelzoo.train.distributed.share_cpu_threads` chooses one thread per core
that no other process is using. A run that started next to a busy neighbour kept that
choice for good: an lfw-unrestricted run ran 50 minutes on one thread after the machine had
become free (114 images/s against 461 with two threads). :class:`ThreadWatch` looks again at
the run's log steps, at most every ``every_s`` seconds, with no sleep of its own: the cores'
busy time since the last look minus this process's own CPU time is what the others used.
A new count must be seen twice in a row before torch is told (one burst of a neighbour does
not move it), and each change is kept with its time and step for the record, whose FPS then
averages over more than one thread count (:meth:`ThreadWatch.note`).

Only a one-worker CPU run whose threads the run chose: ``OMP_NUM_THREADS`` is the user's
choice, and N workers on a host share the cores by count, not by load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from modelzoo.train import distributed

RECHECK_EVERY_S = 30.0


@dataclass
class CpuUse:
    """Cumulative CPU seconds: of this process, and busy (not idle) on this process's CPUs."""
    own_s: float
    busy_s: float
    at_s: float


def cpu_use_now() -> CpuUse:
    import psutil

    own = psutil.Process().cpu_times()
    cpus = set(distributed.our_cpus())
    busy = 0.0
    for index, times in enumerate(psutil.cpu_times(percpu=True)):
        if index in cpus:
            busy += sum(times) - times.idle - getattr(times, "iowait", 0.0)
    return CpuUse(own_s=own.user + own.system, busy_s=busy, at_s=time.monotonic())


@dataclass
class ThreadWatch:
    """Re-chooses a one-worker CPU run's compute threads as neighbours come and go."""

    enabled: bool
    every_s: float = RECHECK_EVERY_S
    measure: Callable[[], CpuUse] = cpu_use_now
    set_threads: Optional[Callable[[int], None]] = None   # default: torch.set_num_threads
    get_threads: Optional[Callable[[], int]] = None       # default: torch.get_num_threads
    changes: list = field(default_factory=list)
    _last: Optional[CpuUse] = None
    _pending: Optional[int] = None
    _started: float = 0.0  # the first look's clock: changes are timed from the loop's start

    def __post_init__(self):
        if self.set_threads is None or self.get_threads is None:
            import torch

            self.set_threads = self.set_threads or torch.set_num_threads
            self.get_threads = self.get_threads or torch.get_num_threads
        if self.enabled:
            self._last = self.measure()
            self._started = self._last.at_s

    def check(self, step: int) -> Optional[dict]:
        """At a log step: the change made now (also kept in ``changes``), or None."""
        if not self.enabled:
            return None
        now = self.measure()
        seconds = now.at_s - self._last.at_s
        if seconds < self.every_s:
            return None
        others = max(0.0, (now.busy_s - self._last.busy_s) - (now.own_s - self._last.own_s)) / seconds
        self._last = now
        wanted = distributed.threads_for_free_cores(others)
        current = self.get_threads()
        if wanted == current:
            self._pending = None
            return None
        if self._pending != wanted:  # seen once: wait for the next look to confirm it
            self._pending = wanted
            return None
        self._pending = None
        self.set_threads(wanted)
        change = {"at_s": round(now.at_s - self._started, 1), "step": step, "from": current, "threads": wanted,
                  "others_used_cores": round(others, 2)}
        self.changes.append(change)
        return change

    def note(self) -> Optional[str]:
        """The record's warning when the thread count varied (None when it never changed)."""
        if not self.changes:
            return None
        steps = ", ".join(f"{c['from']} -> {c['threads']} at step {c['step']} ({c['at_s']:.0f} s)"
                          for c in self.changes)
        return (f"the CPU compute threads changed during the run as other processes came and went ({steps}); "
                "the FPS averages over every thread count (env.cpu_threads_changes)")


def watch_for(device: str, local_workers: int) -> ThreadWatch:
    """The watch of a run: enabled for one CPU worker whose threads the run chose itself."""
    return ThreadWatch(enabled=device == "cpu" and local_workers == 1
                       and distributed.threads_chosen_by() != "OMP_NUM_THREADS")
