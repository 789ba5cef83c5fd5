"""FPS, defined once (BRIEF section 3) and used by every run.

FPS = world_size x per-card batch x timed steps / wall time of the timed window.
The window opens after ``warmup_steps`` and closes at the last training step; at both
ends the device is synchronized and all ranks meet at a barrier, so the window covers
every rank's full work. Data loading is inside the window.

Step times: on CUDA each step's end is marked with a CUDA event (no host sync, so the
CPU keeps queueing work as it would without measurement) and the intervals between
consecutive events are read when the window closes; on the CPU the host clock is used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass
class ThroughputMeter:
    world_size: int
    batch_per_card: int
    warmup_steps: int
    synchronize: Callable[[], None]
    barrier: Callable[[], None]
    use_cuda_events: bool = False
    _steps_seen: int = 0
    _timed_steps: int = 0
    _window_start: Optional[float] = None  # host time the current timed stretch began
    _window_seconds: float = 0.0  # closed stretches (pauses for checkpoints/eval excluded)
    _paused: bool = False
    _closed: bool = False
    _last_host_time: Optional[float] = None
    _intervals_ms: list = field(default_factory=list)
    _events: list = field(default_factory=list)
    history: list = field(default_factory=list)  # (step, windowed img/s) for the report's plot

    def step_done(self, global_step: int) -> None:
        """Call once per training step, after the optimizer step was issued."""
        self._steps_seen += 1
        if not self.window_open:
            if self._steps_seen >= self.warmup_steps:
                self._open_window()
            return
        self._timed_steps += 1
        if self.use_cuda_events:
            import torch
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self._events.append(event)
        else:
            now = time.perf_counter()
            self._intervals_ms.append((now - self._last_host_time) * 1e3)
            self._last_host_time = now
        if self._timed_steps % 10 == 0:
            self.history.append((global_step, self.current_fps()))

    @property
    def images_per_step(self) -> int:
        return self.world_size * self.batch_per_card

    @property
    def window_open(self) -> bool:
        return self._window_start is not None or self._paused or self._closed

    def _open_window(self) -> None:
        self.synchronize()
        self.barrier()
        self._window_start = time.perf_counter()
        self._last_host_time = self._window_start
        if self.use_cuda_events:
            import torch
            start = torch.cuda.Event(enable_timing=True)
            start.record()
            self._events = [start]

    def _stop_clock(self) -> None:
        self.synchronize()
        self.barrier()
        self._window_seconds += time.perf_counter() - self._window_start
        self._window_start = None
        if self.use_cuda_events and len(self._events) > 1:
            self._intervals_ms += [a.elapsed_time(b) for a, b in zip(self._events, self._events[1:])]
        self._events = []

    def pause(self) -> None:
        """Stop the clock for work that is not training (checkpoint writes, mid-run eval)."""
        if self._window_start is not None:
            self._stop_clock()
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._open_window()

    def close(self) -> None:
        """End the timed window (idempotent): synchronize, barrier, stop the clock."""
        if self._window_start is not None:
            self._stop_clock()
        self._paused = False
        self._closed = True

    def current_fps(self) -> Optional[float]:
        """Images/s of the window so far (host clock, for the progress line and the plot)."""
        seconds = self._window_seconds
        if self._window_start is not None:
            seconds += time.perf_counter() - self._window_start
        if not self._timed_steps or seconds <= 0:
            return None
        return self.images_per_step * self._timed_steps / seconds

    def metrics(self) -> dict:
        self.close()
        if not self._timed_steps or not self._window_seconds:
            return {"fps": None, "fps_per_card": None, "timed_steps": 0,
                    "fps_note": f"too few steps to time (warm-up is {self.warmup_steps} steps)"}
        fps = self.images_per_step * self._timed_steps / self._window_seconds
        intervals = np.asarray(self._intervals_ms, dtype=np.float64)
        return {
            "fps": fps,
            "fps_per_card": fps / self.world_size,
            "timed_steps": self._timed_steps,
            "warmup_steps": self.warmup_steps,
            "timed_seconds": self._window_seconds,
            "step_ms_p50": float(np.percentile(intervals, 50)) if intervals.size else None,
            "step_ms_p90": float(np.percentile(intervals, 90)) if intervals.size else None,
            "step_timing": "cuda events" if self.use_cuda_events else "host clock",
        }


def compute_only_fps(step: Callable[[], None], steps: int, warmup: int, images_per_step: int,
                     synchronize: Callable[[], None], barrier: Callable[[], None]) -> Optional[float]:
    """Images/s of ``step`` (one training step on a batch already on the device), no input pipeline."""
    if steps <= 0:
        return None
    for _ in range(warmup):
        step()
    synchronize()
    barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    barrier()
    return images_per_step * steps / (time.perf_counter() - start)
