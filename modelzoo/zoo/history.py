"""Each cell's history across releases: what ``zoo check --baseline`` and the report's history read.

A *release run* is a successful ``train`` record that names its release (``zoo_cell.release``,
written by ``zoo run``, else ``release``, written by ``modelzoo run --release``). Its cell
is (model, profile, card, card count): the card is the record's card name as the report
shows it, so a cell never mixes two kinds of card. Releases are ordered by the start of
their first run (the order they were measured in).

Quantities, each with its direction and the default change a release may make when the
cell's own noise is unknown (:data:`QUANTITIES`): FPS, every metric column of the model,
peak memory, average power and time to target. A quantity's values in one release are its
runs' values (several runs of the cell), or one run's with the spread of its ``--repeat``
windows.

Bad input is a cell problem, one line naming it, never a silent "unchanged": the runs of
one cell in one release from two different machines; a run that cannot be true
(:func:`modelzoo.store.plausible.implausible`, the one check ``zoo check`` and ``compare``
use: an FPS its timed steps do not bear out, a metric outside its declared range, a run
filed under a cell whose model, profile or card count it did not run).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from modelzoo.store import records
from modelzoo.zoo.compare import DEFAULT_MAX_FPS_DROP_PCT, DEFAULT_MAX_METRIC_DROP, finite_number


@dataclass(frozen=True, order=True)
class CellKey:
    model: str
    profile: str
    card: str
    cards: int

    @property
    def name(self) -> str:
        return f"{self.model}/{self.profile} {self.card} x{self.cards}"


@dataclass(frozen=True)
class Quantity:
    """A number a cell is judged on: ``read`` takes it from a record (None: not there)."""
    key: str
    title: str
    higher_is_better: bool
    default_limit: dict                   # {"rel_pct": x} or {"abs": y}: the change allowed without noise figures
    read: Callable[[dict], Optional[float]]
    relative: bool = True                 # judged as a ratio (FPS, memory) or as a difference (accuracy)
    fmt: str = "{:.2f}"

    def format(self, value: Optional[float]) -> str:
        return "-" if value is None else self.fmt.format(value)


@dataclass
class Sample:
    """One quantity of one cell in one release: the values of its runs, or one run's repeat spread."""
    values: list[float]
    repeat_std: Optional[float] = None    # one run's --repeat windows: their standard deviation
    repeat_n: int = 0

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    def center(self, ratio: bool) -> float:
        """The mean, on a log scale for a ratio quantity (FPS, memory: its noise multiplies):
        the log of the geometric mean."""
        if not ratio:
            return self.mean
        return sum(math.log(v) for v in self.values) / len(self.values)

    def standard_error(self, ratio: bool = False) -> tuple[Optional[float], str]:
        """The standard error of :meth:`center` and where it came from ("" when unknown)."""
        n = len(self.values)
        if n >= 2:
            data = [math.log(v) for v in self.values] if ratio else self.values
            mean = sum(data) / n
            sd = math.sqrt(sum((v - mean) ** 2 for v in data) / (n - 1))
            return sd / math.sqrt(n), f"{n} runs"
        if self.repeat_std is not None and self.repeat_n >= 2:
            spread = self.repeat_std / self.values[0] if ratio else self.repeat_std  # a ratio's: its CV
            return spread / math.sqrt(self.repeat_n), f"{self.repeat_n} repeat windows"
        return None, ""


@dataclass
class CellHistory:
    key: CellKey
    runs: dict[str, list[dict]] = field(default_factory=dict)     # release -> its successful runs, oldest first
    problems: dict[str, str] = field(default_factory=dict)        # release -> why its runs cannot be judged
    implausible: dict[str, str] = field(default_factory=dict)     # release -> a run that cannot be true, and why
    failed: dict[str, list[dict]] = field(default_factory=dict)   # release -> runs that did not succeed

    def sample(self, release: str, quantity: Quantity) -> Optional[Sample]:
        values = [v for v in (quantity.read(r) for r in self.runs.get(release, [])) if v is not None]
        if not values:
            return None
        sample = Sample(values)
        if quantity.key == "fps" and len(values) == 1:
            stability = (self.runs[release][-1].get("metrics") or {}).get("fps_stability")
            if isinstance(stability, dict):
                sample.repeat_std = finite_number(stability.get("std"))
                n = stability.get("n")
                sample.repeat_n = n if isinstance(n, int) and not isinstance(n, bool) else 0
        return sample


@dataclass
class History:
    releases: list[str]                     # in the order they were measured
    cells: dict[CellKey, CellHistory]
    columns: dict[str, list[dict]]          # model -> its metric columns (as dicts)


# --- reading the records ------------------------------------------------------------------

def release_of_record(record: dict) -> Optional[str]:
    cell = record.get("zoo_cell")
    if isinstance(cell, dict) and isinstance(cell.get("release"), str):
        return cell["release"]
    return record.get("release") if isinstance(record.get("release"), str) else None


def cell_key(record: dict) -> CellKey:
    from modelzoo.report.runs import card_name

    env = record.get("env") if isinstance(record.get("env"), dict) else {}
    cell = record.get("zoo_cell") if isinstance(record.get("zoo_cell"), dict) else {}
    cards = cell.get("cards", record.get("cards"))
    return CellKey(str(cell.get("model", record.get("model"))), str(cell.get("profile", record.get("profile"))),
                   card_name(str(record.get("device") or ""), env), cards if isinstance(cards, int) else 0)


def machine_of(record: dict) -> str:
    env = record.get("env") if isinstance(record.get("env"), dict) else {}
    return f"{env.get('host') or '?'} ({env.get('cpu') or '?'})"


def collect(found: Iterable[dict], declarations: Optional[Mapping[str, Any]] = None) -> History:
    """The history of every cell in ``found`` (records of any kind; release runs are kept).
    ``declarations``: the installed models' ``ModelSpec`` (their metric columns win over a record's)."""
    from modelzoo.store.plausible import implausible

    declared = {model: list(getattr(spec, "metric_columns", None) or ()) for model, spec in (declarations or {}).items()}
    cells: dict[CellKey, CellHistory] = {}
    first_seen: dict[str, str] = {}
    columns: dict[str, list[dict]] = {}
    machines: dict[tuple[CellKey, str], dict[str, str]] = {}
    for record in found:
        release = release_of_record(record)
        if release is None or record.get("kind", "train") != "train":
            continue
        key = cell_key(record)
        history = cells.setdefault(key, CellHistory(key))
        started = str(record.get("started") or "")
        first_seen[release] = min(first_seen.get(release, started), started)
        if records.effective_status(record) != "success":
            history.failed.setdefault(release, []).append(record)
            continue
        # the one plausibility check (28.2): metric ranges from the installed model, never the record
        cell = record.get("zoo_cell") if isinstance(record.get("zoo_cell"), dict) else None
        reasons = implausible(record, declared.get(key.model, []), cell)
        if reasons:
            history.implausible.setdefault(release, f"run {record.get('run_id')} cannot be true: "
                                                    + "; ".join(reasons))
            continue
        history.runs.setdefault(release, []).append(record)
        machines.setdefault((key, release), {}).setdefault(machine_of(record), str(record.get("run_id")))
        if key.model not in columns and isinstance(record.get("metric_columns"), list):
            columns[key.model] = [c for c in record["metric_columns"] if isinstance(c, dict)]
    for (key, release), seen in machines.items():
        if len(seen) > 1:
            named = ", ".join(f"{machine} (run {run_id})" for machine, run_id in list(seen.items())[:3])
            cells[key].problems.setdefault(release, f"runs of one cell in release '{release}' on different "
                                                    f"machines: {named}; keep one machine's runs per release")
    for model, spec in (declarations or {}).items():
        declared = getattr(spec, "metric_columns", None)
        if declared:
            columns[model] = [c.as_dict() for c in declared]
    order = sorted(first_seen, key=lambda r: (first_seen[r], r))
    return History(order, dict(sorted(cells.items())), columns)


# --- the quantities -----------------------------------------------------------------------

def _metric(key: str) -> Callable[[dict], Optional[float]]:
    return lambda record: finite_number((record.get("metrics") or {}).get(key))


def _fps(record: dict) -> Optional[float]:
    value = finite_number((record.get("metrics") or {}).get("fps"))
    return value if value is not None and value > 0 else None


def _peak_memory(record: dict) -> Optional[float]:
    memory = ((record.get("resources") or {}).get("memory") or {})
    per_card = memory.get("per_card") if isinstance(memory, dict) else None
    values = [finite_number(c.get("allocated_gb")) for c in per_card or [] if isinstance(c, dict)]
    values = [v for v in values if v is not None and v > 0]
    return max(values) if values else None


def _power(record: dict) -> Optional[float]:
    power = (record.get("resources") or {}).get("power")
    value = finite_number(power.get("avg_w")) if isinstance(power, dict) else None
    return value if value is not None and value > 0 else None


def _time_to_target(record: dict) -> Optional[float]:
    target = record.get("target")
    if not isinstance(target, dict) or not target.get("reached"):
        return None
    value = finite_number(target.get("wall_s"))
    return value if value is not None and value > 0 else None


FPS = Quantity("fps", "FPS", True, {"rel_pct": DEFAULT_MAX_FPS_DROP_PCT}, _fps)
RESOURCES = (
    Quantity("peak_memory_gb", "peak memory (GB)", False, {"rel_pct": 10.0}, _peak_memory, fmt="{:.2f}"),
    Quantity("power_w", "power (W)", False, {"rel_pct": 10.0}, _power, fmt="{:.1f}"),
    Quantity("time_to_target_s", "time to target (s)", False, {"rel_pct": 10.0}, _time_to_target, fmt="{:.0f}"),
)


def quantities(history: History, model: str) -> list[Quantity]:
    """FPS, the model's metric columns (their own limits, else compare's default), then resources."""
    out = [FPS]
    for column in history.columns.get(model, []):
        key = column.get("key")
        if not isinstance(key, str):
            continue
        if finite_number(column.get("max_drop")) is not None:
            limit = {"abs": float(column["max_drop"])}
        elif finite_number(column.get("max_drop_pct")) is not None:
            limit = {"rel_pct": float(column["max_drop_pct"])}
        else:
            limit = dict(DEFAULT_MAX_METRIC_DROP)
        out.append(Quantity(key, str(column.get("title") or key), bool(column.get("higher_is_better", True)), limit,
                            _metric(key), relative=False, fmt=_safe_format(column.get("format"))))
    return out + list(RESOURCES)


def _safe_format(fmt) -> str:
    from modelzoo.contract.api import UserError, check_format

    try:
        return check_format(fmt if isinstance(fmt, str) else "{:.5f}")
    except UserError:  # a record's format is data
        return "{:.5f}"
