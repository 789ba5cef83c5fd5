"""Read a recipe's output one line at a time: iterations, throughput, loss and metrics.

modelzoo's FPS of a recipe is measured from outside, by the time each iteration line
*arrived* (the script's output is unbuffered): over consecutive iteration lines of one
stretch, samples between them / the wall time between them, the first ``warmup`` lines
skipped. A stretch ends at anything that is not training (an evaluation's metric line, the
end of a training bar, a new epoch), so evaluations and checkpoints are not timed, as
the native trainer's meter pauses for them. The script's own figure (its images/s field,
or its per-iteration time) is kept apart as ``recipe_fps``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Optional

from modelzoo.recipe.presets import (
    KV_IGNORED_KEYS,
    KV_LOSS_KEYS,
    KV_PAIR,
    KV_STEP_KEYS,
    KV_THROUGHPUT_KEYS,
    Rule,
)

CURVE_POINTS = 2000  # per series; beyond it every other point is dropped (a flood stays small)


@dataclass
class Series:
    """An (x, y) series of bounded length: halved (every other point kept) when full."""
    x: list = field(default_factory=list)
    y: list = field(default_factory=list)
    stride: int = 1
    _seen: int = 0

    def add(self, x: float, y: float) -> None:
        self._seen += 1
        if (self._seen - 1) % self.stride:
            return
        self.x.append(x)
        self.y.append(y)
        if len(self.x) > CURVE_POINTS:
            self.x, self.y, self.stride = self.x[::2], self.y[::2], self.stride * 2


@dataclass
class _Step:
    t: float
    step: int
    stretch: int


def _number(text: Optional[str]) -> Optional[float]:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class LogParser:
    """Feed it lines with their arrival time; read :meth:`results` at the end.

    ``samples_per_iteration`` is what one logged iteration consumes on all cards together.
    """

    def __init__(self, rules: tuple[Rule, ...], *, keyvalue: bool, samples_per_iteration: float,
                 warmup: int):
        self.rules = rules
        self.keyvalue = keyvalue
        self.samples = float(samples_per_iteration)
        self.warmup = warmup
        self.in_train = not any(r.kind == "train_start" for r in rules)
        self.iterations = 0               # step lines parsed
        self.last_step: Optional[int] = None
        self.metrics: dict[str, float] = {}
        self.own_rates: list[float] = []  # the script's own samples/s, printed as a rate, after warm-up
        self._own_timed = [0.0, 0.0]      # samples, seconds the script itself timed (per-iteration times)
        self.curves: dict[str, Series] = {}
        self._stretch = 0
        self._window = [0.0, 0.0]         # samples, seconds of the outside window
        self._previous: Optional[_Step] = None

    # --- feeding -------------------------------------------------------------------------

    def feed(self, line: str, t: float) -> bool:
        """Parse one line that arrived at ``t`` (monotonic seconds); True when it was an iteration."""
        stepped = False
        for rule in self.rules:
            match = rule.pattern.search(line)
            if match is None:
                continue
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            if rule.kind == "train_start":
                self.in_train, self._stretch = True, self._stretch + 1
            elif rule.kind == "train_end":
                self.in_train, self._stretch = False, self._stretch + 1
            elif rule.kind == "step" and self.in_train:
                stepped = self._step(groups, t) or stepped
            elif rule.kind == "throughput" and self.in_train:
                self._throughput(groups)
            elif rule.kind == "metric":
                self._metric(rule.key, groups)
            elif rule.kind == "loss":
                self._loss(_number(groups.get("value")))
        if self.keyvalue:
            stepped = self._keyvalue(line, t) or stepped
        return stepped

    def _step(self, groups: dict, t: float) -> bool:
        iteration = _number(groups.get("iter"))
        if iteration is None:
            return False
        epoch, total = _number(groups.get("epoch")), _number(groups.get("total"))
        step = int(epoch * total + iteration) if epoch is not None and total else int(iteration)
        if epoch is not None and (self._previous is None or step < self._previous.step):
            self._stretch += 1  # a new epoch (or a restart of the count): not timed across
        self.iterations += 1
        self.last_step = step
        current = _Step(t, step, self._stretch)
        if self.iterations > self.warmup and self._previous is not None \
                and self._previous.stretch == current.stretch and step > self._previous.step:
            samples, seconds = (step - self._previous.step) * self.samples, t - self._previous.t
            if seconds > 0:
                self._window[0] += samples
                self._window[1] += seconds
                self._series("throughput", "step", "fps").add(step, round(samples / seconds, 3))
        self._previous = current
        seconds, count = _number(groups.get("seconds")), _number(groups.get("count")) or 1.0
        if seconds and self.iterations > self.warmup:
            self._own_timed[0] += count * self.samples
            self._own_timed[1] += seconds
            self._series("recipe_throughput", "step", "fps").add(step, round(count * self.samples / seconds, 3))
        self._loss(_number(groups.get("loss")))
        return True

    def _throughput(self, groups: dict) -> None:
        value = _number(groups.get("value"))
        if value is None and _number(groups.get("it_s")) is not None:
            value = _number(groups["it_s"]) * self.samples
        if value is not None and self.iterations > self.warmup:
            self._own(value, self.last_step)

    def _own(self, value: float, step: Optional[int]) -> None:
        self.own_rates.append(value)
        if step is not None:
            self._series("recipe_throughput", "step", "fps").add(step, round(value, 3))

    def _metric(self, key: str, groups: dict) -> None:
        value = _number(groups.get("value"))
        if value is None:
            return
        self.metrics[key] = value
        std = _number(groups.get("std"))
        if std is not None:
            self.metrics[f"{key}_std"] = std
        self._stretch += 1  # an evaluation: the next iterations start a new stretch
        self._series(f"recipe_{key}", "step", key).add(self.last_step or 0, value)

    def _loss(self, value: Optional[float]) -> None:
        if value is not None:
            self.metrics["loss"] = value
            self._series("loss", "step", "loss").add(self.last_step or 0, value)

    def _keyvalue(self, line: str, t: float) -> bool:
        text = line.strip()
        pairs: dict[str, float] = {}
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict):
                pairs = {k: v for k, v in data.items() if isinstance(k, str)
                         and isinstance(v, (int, float)) and not isinstance(v, bool)}
        else:
            pairs = {k: float(v) for k, v in KV_PAIR.findall(line)}
        pairs = {k: float(v) for k, v in pairs.items() if math.isfinite(float(v))}
        if not pairs:
            return False
        stepped = False
        step_key = next((k for k in KV_STEP_KEYS if k in pairs), None)
        if step_key is not None:
            stepped = self._step({"iter": str(int(pairs[step_key])), "loss": pairs.get("loss")}, t)
        for key, value in pairs.items():
            if key in KV_THROUGHPUT_KEYS:
                self._throughput({"value": str(value)})
            elif key in KV_LOSS_KEYS:
                if step_key is None:
                    self._loss(value)
            elif key not in KV_STEP_KEYS and key not in KV_IGNORED_KEYS and step_key is None:
                self._metric(key, {"value": str(value)})
        return stepped

    def _series(self, name: str, x: str, y: str) -> Series:
        series = self.curves.get(name)
        if series is None:
            series = self.curves[name] = Series()
            series.names = (x, y)  # type: ignore[attr-defined]
        return series

    # --- results -------------------------------------------------------------------------

    @property
    def fps(self) -> Optional[float]:
        """Samples in the outside window / its seconds; None when fewer than two timed lines."""
        samples, seconds = self._window
        return samples / seconds if seconds > 0 else None

    @property
    def window_seconds(self) -> float:
        return self._window[1]

    @property
    def window_samples(self) -> float:
        return self._window[0]

    @property
    def recipe_fps(self) -> Optional[float]:
        """The script's own throughput after warm-up: the samples over the seconds it timed
        itself, else the mean of the rates it printed."""
        if self._own_timed[1] > 0:
            return self._own_timed[0] / self._own_timed[1]
        return sum(self.own_rates) / len(self.own_rates) if self.own_rates else None

    def curve_dict(self) -> dict:
        """The record's curves: ``{name: {x_name: [...], y_name: [...]}}``."""
        out = {}
        for name, series in self.curves.items():
            x_name, y_name = series.names  # type: ignore[attr-defined]
            out[name] = {x_name: series.x, y_name: series.y}
        return out
