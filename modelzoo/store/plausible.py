"""Can this run record be true? One check, read by ``compare``, ``zoo check`` and the report.

A record is data anyone can edit, so nothing it claims about how to judge it is believed:
the metric columns (direction, tolerance, plausible range) come from the installed
model's declaration (``ModelSpec.metric_columns``) and the cell from zoo.yaml, never from
the record judged. :func:`implausible` lists every reason a successful record cannot be
true, each one line naming the field:

- FPS (a ``train`` run's, and any ``compute_fps``) is a finite number above 0 and at most
  :data:`MAX_FPS`; a ``train`` run timed at least one step (``timed_steps`` > 0) in a
  window of positive length, and its FPS agrees with them: FPS x window / timed steps (the
  samples per timed step it implies) is within :data:`STEP_SAMPLES_TOLERANCE` of the
  samples per step the run saw (``images_seen`` / ``steps``; every loader drops its last
  partial batch, so these match up to variable-length batches);
- every declared metric that is present is a finite number within the column's
  ``lowest`` / ``highest``; its standard deviation a finite number >= 0;
- given a cell (``model``, ``profile``, ``cards``), the run is of that model, profile and
  card count.

A metric that is missing is not judged here: ``compare`` and ``zoo check`` fail it, the
report notes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from modelzoo.contract.api import MetricColumn

# No benchmark here times a billion samples a second; past it a number is a typo or a forgery.
MAX_FPS = 1e9
# implied / seen samples per step, either way: variable-length batches (tokens) differ a little
STEP_SAMPLES_TOLERANCE = 1.5


def implausible(record: Mapping, columns: Sequence[MetricColumn], cell: Optional[Mapping] = None) -> list[str]:
    """Why ``record`` cannot be true (empty when it can), judged by the installed ``columns``
    and, for a release cell, the cell's ``model``, ``profile`` and ``cards``."""
    metrics = record.get("metrics") if isinstance(record.get("metrics"), Mapping) else {}
    reasons = _cell_reasons(record, cell) if cell else []
    if record.get("kind", "train") == "train":
        reasons += _timing_reasons(metrics)
    elif metrics.get("fps") is not None:
        reasons += _fps_reasons("FPS", metrics["fps"])
    if metrics.get("compute_fps") is not None:
        reasons += _fps_reasons("compute-only FPS", metrics["compute_fps"])
    for column in columns:
        reasons += _metric_reasons(column, metrics)
    return reasons


def finite(value: Any) -> Optional[float]:
    """``value`` as a float when it is a finite real number (not a bool), else None."""
    if type(value) is float:  # the common case first: the report asks once per chart point
        return value if math.isfinite(value) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # a JSON integer no float holds (10**400)
        return None
    return value if math.isfinite(value) else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number_reasons(name: str, raw: Any) -> list[str]:
    """``name is not a number ('x')`` / ``name is nan``; nothing for a finite number."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return [f"{name} is not a number ({_shown(raw)})"]
    return [] if finite(raw) is not None else [f"{name} is {_shown(raw) if isinstance(raw, float) else 'too large'}"]


def _fps_reasons(name: str, raw: Any) -> list[str]:
    reasons = _number_reasons(name, raw)
    if reasons:
        return reasons
    value = float(raw)
    if value <= 0:
        return [f"{name} is {raw!r}"]
    if value > MAX_FPS:
        return [f"{name} {value:g} is beyond any measurement (at most {MAX_FPS:g})"]
    return []


def _timing_reasons(metrics: Mapping) -> list[str]:
    if metrics.get("fps") is None:
        return ["no FPS recorded"]
    reasons = _fps_reasons("FPS", metrics["fps"])
    steps, seconds = metrics.get("timed_steps"), finite(metrics.get("timed_seconds"))
    if not isinstance(steps, int) or isinstance(steps, bool) or steps <= 0:
        return reasons + [f"states an FPS but timed {_shown(steps)} steps (a success times at least one)"]
    if seconds is None or seconds <= 0:
        return reasons + [f"states an FPS but its timing window is {_shown(metrics.get('timed_seconds'))} s"]
    if reasons:
        return reasons
    implied = metrics["fps"] * seconds / steps
    seen, all_steps = finite(metrics.get("images_seen")), metrics.get("steps")
    if not isinstance(all_steps, int) or isinstance(all_steps, bool) or all_steps < steps or not seen or seen <= 0:
        return [f"timed {steps} steps but records {_shown(all_steps)} steps and {_shown(metrics.get('images_seen'))} "
                "samples seen in all"]
    per_step = seen / all_steps
    if not 1 / STEP_SAMPLES_TOLERANCE <= implied / per_step <= STEP_SAMPLES_TOLERANCE:
        return [f"FPS {metrics['fps']:g} over {steps} steps in {seconds:g} s means {implied:g} samples per step, "
                f"but the run saw {per_step:g} per step"]
    return []


def _metric_reasons(column: MetricColumn, metrics: Mapping) -> list[str]:
    reasons = []
    raw = metrics.get(column.key)
    if raw is not None:
        value = finite(raw)
        if value is None:
            reasons += _number_reasons(column.key, raw)
        elif column.lowest is not None and value < column.lowest or \
                column.highest is not None and value > column.highest:
            low = "-inf" if column.lowest is None else f"{column.lowest:g}"
            high = "inf" if column.highest is None else f"{column.highest:g}"
            reasons.append(f"{column.key} {value:g} is outside its possible range [{low}, {high}]")
    if column.std_key and metrics.get(column.std_key) is not None:
        std = metrics[column.std_key]
        reasons += _number_reasons(column.std_key, std) or ([f"{column.std_key} is {std!r}, below 0"] if std < 0 else [])
    return reasons


def _cell_reasons(record: Mapping, cell: Mapping) -> list[str]:
    reasons = []
    for key in ("model", "profile", "cards"):
        if record.get(key) != cell.get(key):
            reasons.append(f"it is a run of {key} {_shown(record.get(key))}, not the cell's {_shown(cell.get(key))}")
    world = record.get("world_size", record.get("cards"))
    if world != record.get("cards"):  # the processes that ran are the cards it used
        reasons.append(f"it ran {_shown(world)} processes for {_shown(record.get('cards'))} cards")
    return reasons
