"""FPS, defined once (docs/PROTOCOLS.md, "FPS") and used by every run.

FPS = samples of every rank in the timed steps / wall time of the timed window, where a
sample is the model's throughput unit (an image, a token: ``TrainData.samples_of``); with
fixed batches that is world_size x per-card batch x timed steps / window.
The window opens after ``warmup_steps`` and closes at the last training step; at both
ends the device is synchronized and all ranks meet at a barrier, so the window covers
every rank's full work. Data loading is inside the window.

Stability (``repeat`` > 1): the timed steps are cut into ``repeat`` equal stretches, each
closed like the window (synchronize, barrier), and each stretch's FPS is kept: their
spread is the run's stability. The overall FPS is unchanged by the cut.

Step times: on CUDA each step's end is marked with a CUDA event (no host sync, so the
CPU keeps queueing work as it would without measurement) and the intervals between
consecutive events are read when the window closes; on the CPU the host clock is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class ThroughputMeter:
    world_size: int
    batch_per_card: int
    warmup_steps: int
    synchronize: Callable[[], None]
    barrier: Callable[[], None]
    use_cuda_events: bool = False
    # Samples of all ranks from this rank's count (default: every rank counted the same).
    sum_over_ranks: Optional[Callable[[float], float]] = None
    repeat: int = 1
    repeat_steps: int = 0  # timed steps per stretch when repeat > 1
    # Told "open", "pause", "resume" and "close" as the window does (power sampling, memory peaks).
    on_window: Optional[Callable[[str], None]] = None
    _samples: float = 0.0  # this rank's samples in the timed steps
    _stretches: list = field(default_factory=list)  # (samples, seconds) per closed stretch
    _stretch_start: tuple = (0.0, 0.0)  # (samples, active seconds) where the open stretch began
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

    def step_done(self, global_step: int, samples: Optional[int] = None) -> None:
        """Call once per training step, after the optimizer step was issued.

        ``samples``: this rank's samples in the step (default: ``batch_per_card``).
        """
        self._steps_seen += 1
        if not self.window_open:
            if self._steps_seen >= self.warmup_steps:
                self._open_window()
            return
        self._timed_steps += 1
        self._samples += self.batch_per_card if samples is None else samples
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
        if self.repeat > 1 and self.repeat_steps and self._timed_steps % self.repeat_steps == 0 \
                and len(self._stretches) < self.repeat:
            self._close_stretch()

    def _active_seconds(self) -> float:
        open_part = time.perf_counter() - self._window_start if self._window_start is not None else 0.0
        return self._window_seconds + open_part

    def _close_stretch(self) -> None:
        self.synchronize()
        self.barrier()
        samples, seconds = self._samples, self._active_seconds()
        self._stretches.append((samples - self._stretch_start[0], seconds - self._stretch_start[1]))
        self._stretch_start = (samples, seconds)

    def _all_ranks(self, local: float) -> float:
        return self.sum_over_ranks(local) if self.sum_over_ranks else local * self.world_size

    @property
    def window_open(self) -> bool:
        return self._window_start is not None or self._paused or self._closed

    def _tell(self, event: str) -> None:
        if self.on_window is not None:
            self.on_window(event)

    def _open_window(self) -> None:
        self.synchronize()
        self.barrier()
        self._tell("resume" if self._paused else "open")
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
            self._tell("pause")

    def resume(self) -> None:
        if self._paused:
            self._open_window()
            self._paused = False

    def close(self) -> None:
        """End the timed window (idempotent): synchronize, barrier, stop the clock."""
        was_timing = self._window_start is not None or self._paused
        if self._window_start is not None:
            self._stop_clock()
        self._paused = False
        if was_timing and not self._closed:
            self._tell("close")
        self._closed = True

    def current_fps(self) -> Optional[float]:
        """Images/s of the window so far (host clock, for the progress line and the plot)."""
        seconds = self._window_seconds
        if self._window_start is not None:
            seconds += time.perf_counter() - self._window_start
        if not self._timed_steps or seconds <= 0:
            return None
        return self._samples * self.world_size / seconds

    # What metrics() writes: a resume that had nothing left to train keeps an earlier attempt's.
    TIMING_KEYS = ("fps", "fps_per_card", "timed_steps", "warmup_steps", "timed_seconds", "step_ms_p50",
                   "step_ms_p90", "step_timing", "fps_note", "repeat_fps")

    def metrics(self) -> dict:
        self.close()
        if not self._timed_steps or not self._window_seconds:
            return {"fps": None, "fps_per_card": None, "timed_steps": 0,
                    "fps_note": f"too few steps to time (warm-up is {self.warmup_steps} steps)"}
        fps = self._all_ranks(self._samples) / self._window_seconds
        intervals = np.asarray(self._intervals_ms, dtype=np.float64)
        stretches = [self._all_ranks(samples) / seconds for samples, seconds in self._stretches if seconds > 0]
        return {
            "repeat_fps": stretches if len(stretches) > 1 else None,
            "fps": fps,
            "fps_per_card": fps / self.world_size,
            "timed_steps": self._timed_steps,
            "warmup_steps": self.warmup_steps,
            "timed_seconds": self._window_seconds,
            "step_ms_p50": float(np.percentile(intervals, 50)) if intervals.size else None,
            "step_ms_p90": float(np.percentile(intervals, 90)) if intervals.size else None,
            "step_timing": "cuda events" if self.use_cuda_events else "host clock",
        }


def compute_only_fps(step: Callable[[], None], steps: int, warmup: int, images_per_step: float,
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
