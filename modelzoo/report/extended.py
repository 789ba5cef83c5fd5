"""The zoo's extended table and the release-to-release table, built from records only.

Extended table (the ResNet-50 README's second table), in the zoo's column order::

    Convergence criteria | Configuration | Performance | Accuracy | Power(W) | Scalability |
    Memory utilization(G) | Stability

then GPU, Profile and Run, one row per main-table run (model x card x card count x
profile, and config column). A measurement the record lacks reads ``n/a: <reason>``,
never 0. Shown when a main-table run carries ``resources``, ``fps_stability`` or ``target``.

Release table: two releases side by side, rows matched by card, card count, profile (and
config column), with the change in FPS (relative) and in each metric (absolute).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Optional

from modelzoo.contract.api import ConfigColumn, MetricColumn, UserError
from modelzoo.report.cells import MISSING, NOT_MEASURED, finite, metric_cell, short_fps, signed, zoo_duration
from modelzoo.report.rules import main_key, unit_header
from modelzoo.report.runs import Run, config_column_of, config_value
from modelzoo.report.tables import Table, TableRow

ZOO_HEADERS = ["Convergence criteria", "Configuration", "Performance", "Accuracy", "Power(W)",
               "Scalability", "Memory utilization(G)", "Stability"]
EXTENDED_NOTE = (
    "Built from run records only; a measurement a record lacks reads 'n/a: <reason>'. "
    "Configuration: SDK (or the torch build's CUDA, or the CPU), per-card batch, cards, precision. "
    "Performance: FPS. Power(W): mean power per card over the timed window x cards. "
    "Scalability: FPS(N) / (N x FPS(1)), same profile and card. "
    "Memory utilization(G): peak memory reserved per card x cards. "
    "Stability: coefficient of variation (std / mean) of FPS over the N timed windows repeated "
    "within one job (--repeat N); lower is steadier. The zoo's READMEs write 1 there without "
    "saying what it measures.")


@dataclass
class ExtendedTable:
    table: Table
    note: str = EXTENDED_NOTE


def extended_table(runs: list[Run], columns: Sequence[MetricColumn], scaling: dict,
                   config_columns: Sequence[ConfigColumn]) -> Optional[ExtendedTable]:
    """The zoo's extended table for a section's main-table ``runs``, or None when none of
    them carries resources, FPS repeats or a target."""
    if not any(r.has_zoo_measurements for r in runs):
        return None
    columns = list(columns)
    first = columns[0] if columns else None
    rows = []
    for run in runs:
        cells = [_criteria(run, columns), _configuration(run, config_columns), short_fps(run.fps),
                 _accuracy(run, first), _power(run), _scalability(run, scaling),
                 _memory(run), _stability(run), run.gpu, run.profile]
        rows.append(TableRow(cells=cells, run_ids=[run.run_id]))
    return ExtendedTable(Table(ZOO_HEADERS + ["GPU", "Profile"], rows))


def _criteria(run: Run, columns: list[MetricColumn]) -> str:
    target = run.target
    if not target:
        return f"{NOT_MEASURED}: no target set"
    key = str(target.get("metric") or "")
    column = next((c for c in columns if c.key == key), None)
    value = finite(target.get("target"))
    if value is None:
        return f"{NOT_MEASURED}: target has no value"
    shown = _formatted(column, value)
    higher = target.get("higher_is_better", column.higher_is_better if column else True)
    criterion = f"{column.title if column else key} {'>=' if higher else '<='} {shown}"
    if target.get("reached") is True:
        wall = finite(target.get("wall_s"))
        return criterion + (f" (reached in {zoo_duration(wall)})" if wall is not None else " (reached)")
    best = finite(target.get("best"))
    return criterion + (f" (not reached; best {_formatted(column, best)})" if best is not None else " (not reached)")


def _formatted(column: Optional[MetricColumn], value: float) -> str:
    try:
        return column.format.format(value) if column else f"{value:g}"
    except ValueError:  # '{:d}' given a float
        return f"{value:g}"


def precision(run: Run, config_columns: Sequence[ConfigColumn]) -> str:
    """The table's config column when the model has them, else the core's train.amp setting."""
    column = config_column_of(run.config, list(config_columns))
    if column:
        return column.title
    amp = config_value(run.config, "train.amp")
    label = "FP32" if amp in (None, "none", False) else f"AMP {amp}"
    return label + ("+NHWC" if config_value(run.config, "train.channels_last") is True else "")


def _configuration(run: Run, config_columns: Sequence[ConfigColumn]) -> str:
    if run.on_cpu:
        stack = f"CPU {run.env['cpu_capability']}" if run.env.get("cpu_capability") else "CPU"
    elif run.env.get("sdk"):
        stack = str(run.env["sdk"])
    elif run.env.get("cuda"):
        stack = f"CUDA {run.env['cuda']}"
    else:
        stack = "GPU"
    batch = run.batch_size
    return f"{stack},bs:{batch if batch is not None else NOT_MEASURED},{run.cards}x,{precision(run, config_columns)}"


def _accuracy(run: Run, first: Optional[MetricColumn]) -> str:
    if first is None:
        return f"{NOT_MEASURED}: the model declares no metric"
    cell = metric_cell(first, run.metrics, measured=True)
    if cell != NOT_MEASURED:
        return cell
    why = next((w for w in run.warnings if first.key in w), None)
    return f"{NOT_MEASURED}: {why or 'not in the record'}"


def _power(run: Run) -> str:
    power = run.resources.get("power")
    if not isinstance(power, dict):
        return f"{NOT_MEASURED}: not measured"
    per_card = [finite(c.get("avg_w")) for c in power.get("per_card") or [] if isinstance(c, dict)]
    per_card = [w for w in per_card if w is not None]
    if per_card:
        return f"{fmean(per_card):.0f}*{len(per_card)}"
    if finite(power.get("avg_w")) is not None:  # the job's mean over cards, without the per-card list
        return f"{finite(power.get('avg_w')):.0f}*{run.cards}"
    return f"{NOT_MEASURED}: {power.get('reason') or 'not measured'}"


def _scalability(run: Run, scaling: dict) -> str:
    if run.run_id in scaling:
        return f"{scaling[run.run_id]:.2f}"
    if run.cards == 1:
        return f"{NOT_MEASURED}: 1 card"
    return f"{NOT_MEASURED}: no 1-card run of this profile"


def _memory(run: Run) -> str:
    """Peak reserved per card (what must fit); the peak allocated, or the host's peak RSS, else."""
    memory = run.resources.get("memory")
    if not isinstance(memory, dict):
        return f"{NOT_MEASURED}: not measured"
    cards = [c for c in memory.get("per_card") or [] if isinstance(c, dict)]
    peaks = [finite(c.get("reserved_gb")) if finite(c.get("reserved_gb")) is not None
             else finite(c.get("allocated_gb")) for c in cards]
    peaks = [p for p in peaks if p is not None]
    if not peaks:
        why = next((c.get("reason") for c in cards if c.get("reason")), None) or memory.get("reason")
        return f"{NOT_MEASURED}: {why or 'not measured'}"
    kind = str(memory.get("kind") or "")
    # a host figure (peak RSS) is not card memory: say which it is
    suffix = f" ({kind})" if kind and not kind.startswith("cuda") else ""
    return f"{max(peaks):.1f}*{len(peaks)}{suffix}"


def _stability(run: Run) -> str:
    stability = run.fps_stability
    if stability is None:
        return f"{NOT_MEASURED}: one timed window"
    repeats, cv = stability.get("n"), finite(stability.get("cv"))
    if not isinstance(repeats, int) or repeats < 2 or cv is None:
        return f"{NOT_MEASURED}: {stability.get('reason') or 'one timed window'}"
    return f"CV {cv * 100:.1f}% (n={repeats})"


# --- release to release -----------------------------------------------------------------

@dataclass
class ReleaseTable:
    releases: tuple[str, str]
    table: Table


def release_pair(releases: Optional[Sequence[str]]) -> Optional[tuple[str, str]]:
    """``releases`` checked: None, or two different release names."""
    if not releases:
        return None
    names = [str(r).strip() for r in releases]
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise UserError(f"a release comparison needs two different releases, got {list(releases)!r}; "
                        "e.g. releases=['23.09', '24.03']")
    return names[0], names[1]


def release_table(layout: str, config_columns: Sequence[ConfigColumn], columns: Sequence[MetricColumn],
                  unit: str, main_runs: list[Run], pair: tuple[str, str]) -> ReleaseTable:
    """The latest main-table run of each release per main-table row, side by side, with changes."""
    old, new = pair
    latest: dict[str, dict[tuple, Run]] = {old: {}, new: {}}
    for run in main_runs:  # oldest first: later runs replace earlier ones
        if run.release in latest:
            latest[run.release][main_key(run, config_columns)] = run
    unit = unit_header(unit)
    headers = ["Model", "GPU", "Profile"] + (["Config"] if layout == "configs" else [])
    headers += [f"{unit} {old}", f"{unit} {new}", f"{unit} change"]
    for column in columns:
        headers += [f"{column.title} {old}", f"{column.title} {new}", f"{column.title} change"]
    rows = []
    order = [c.title for c in config_columns]
    keys = sorted(set(latest[old]) | set(latest[new]), key=lambda k: (k[:3], order.index(k[3]) if k[3] in order else 0))
    for row_key in keys:
        a, b = latest[old].get(row_key), latest[new].get(row_key)
        either = a or b
        cells = [either.title, either.gpu_cell, either.profile]
        if layout == "configs":
            cells.append(str(row_key[3]))
        missing = f"{NOT_MEASURED}: no {new if a else old} run"
        cells += [short_fps(a.fps) if a else MISSING, short_fps(b.fps) if b else MISSING,
                  signed((b.fps - a.fps) / a.fps * 100, "{:.1f}") + "%" if a and b and a.fps and b.fps
                  else missing]
        for column in columns:
            va = finite(a.metrics.get(column.key)) if a else None
            vb = finite(b.metrics.get(column.key)) if b else None
            cells += [metric_cell(column, a.metrics, True) if a else MISSING,
                      metric_cell(column, b.metrics, True) if b else MISSING,
                      _metric_change(column, va, vb) if a and b else missing]
        rows.append(TableRow(cells=cells, run_ids=[r.run_id for r in (a, b) if r]))
    return ReleaseTable(pair, Table(headers, rows))


def _metric_change(column: MetricColumn, old: Optional[float], new: Optional[float]) -> str:
    if old is None or new is None:
        return f"{NOT_MEASURED}: value missing"
    try:
        return signed(new - old, column.format)
    except ValueError:
        return signed(new - old, "{:g}")
