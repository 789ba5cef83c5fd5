"""Compare two run records and flag regressions (``modelzoo compare``; exit 1 on one).

The gate never says "no regression" when it cannot know: a metric or FPS that BASE has
and NEW lacks, or that NEW states as NaN, inf or text, is a regression; so is every reason
:func:`modelzoo.store.plausible.implausible` finds NEW cannot be true (an accuracy of 2.5
for a fraction, an FPS with no timed step). A BASE that cannot be a baseline (invalid FPS,
implausible, not a successful run) is a ``UserError``.

The metric columns (direction, tolerances, ranges) are the installed model's declaration,
passed in by the caller; the records' own copies are never read, so a record cannot
loosen the rules it is judged by.

Metric limits, per metric key, first found wins:

1. ``thresholds[key]``, then ``thresholds["*"]`` (``--max-metric-drop``, zoo.yaml tolerances);
2. the declared column: ``max_drop`` (absolute) or ``max_drop_pct`` (relative);
3. :data:`DEFAULT_MAX_METRIC_DROP`: 0.5 % of the base value.

A limit is ``{"abs": x}`` or ``{"rel_pct": y}`` (``y`` % of the base value's magnitude);
"worse" follows the column's ``higher_is_better``; a drop equal to the limit passes.

FPS: the drop limit is ``max_fps_drop_pct`` (default 5 %). When both records carry
``metrics["fps_stability"] = {n, mean, std, min, max, cv}`` (``--repeat N``: ``std`` of
the N timings, in FPS), the limit widens to :data:`FPS_NOISE_SIGMAS` standard errors of
the difference of the two means, ``sqrt(std_b^2/n_b + std_n^2/n_n)``, when that is larger:
a smaller drop cannot be told from timing noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Optional

from modelzoo.contract.api import MetricColumn, UserError, check_format
from modelzoo.store.plausible import finite as finite_number
from modelzoo.store.plausible import implausible
from modelzoo.store.records import effective_status

DEFAULT_MAX_FPS_DROP_PCT = 5.0
DEFAULT_MAX_METRIC_DROP = {"rel_pct": 0.5}
FPS_NOISE_SIGMAS = 3.0
_THRESHOLD_HELP = "expected KEY=X or KEY=X% (e.g. lfw_accuracy=0.005 or loss=2%), or X / X% for every metric"


@dataclass
class Comparison:
    base_id: str
    new_id: str
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # name, base, new, change, verdict
    regressions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- Thresholds -----------------------------------------------------------------------

def threshold_problem(limit) -> Optional[str]:
    """What is wrong with a limit (``{"abs": x}`` or ``{"rel_pct": y}``, x, y >= 0), or None."""
    if not isinstance(limit, dict) or len(limit) != 1 or next(iter(limit)) not in ("abs", "rel_pct"):
        return "expected {abs: X} or {rel_pct: Y}"
    value = finite_number(next(iter(limit.values())))
    if value is None or value < 0:
        return "the limit must be a finite number >= 0"
    return None


def parse_threshold(text: str) -> tuple[str, dict]:
    """``"lfw_accuracy=0.005"`` -> ``("lfw_accuracy", {"abs": 0.005})``; ``"loss=2%"`` ->
    ``("loss", {"rel_pct": 2.0})``; without ``KEY=`` the key is ``"*"`` (every metric)."""
    key, sep, raw = text.rpartition("=")
    key, raw = (key.strip() if sep else "*"), raw.strip()
    relative = raw.endswith("%")
    try:
        value = float(raw[:-1] if relative else raw)
    except ValueError:
        value = None
    limit = {"rel_pct" if relative else "abs": value}
    if not key or value is None or threshold_problem(limit):
        raise UserError(f"--max-metric-drop {text!r}: {_THRESHOLD_HELP}")
    return key, limit


def parse_thresholds(texts: Iterable[str]) -> dict[str, dict]:
    """The repeatable ``--max-metric-drop`` option as one mapping; a key given twice is an error."""
    out: dict[str, dict] = {}
    for text in texts:
        key, limit = parse_threshold(text)
        if key in out:
            raise UserError(f"--max-metric-drop {key}: given twice; keep one")
        out[key] = limit
    return out


# --- The comparison -------------------------------------------------------------------

def compare_records(base: dict, new: dict, *, columns: Sequence[MetricColumn],
                    max_fps_drop_pct: Optional[float] = None, thresholds: Optional[dict] = None,
                    max_metric_drop: Optional[float] = None) -> Comparison:
    """Compare NEW against BASE by the model's declared metric ``columns``; UserError when
    they cannot be compared.

    ``max_metric_drop`` is the former single absolute limit, read as ``thresholds["*"]``.
    """
    _check_comparable(base, new)
    thresholds = dict(thresholds or {})
    if max_metric_drop is not None:
        thresholds.setdefault("*", {"abs": max_metric_drop})
    fps_limit = DEFAULT_MAX_FPS_DROP_PCT if max_fps_drop_pct is None else finite_number(max_fps_drop_pct)
    if fps_limit is None or fps_limit < 0:
        raise UserError(f"--max-fps-drop {max_fps_drop_pct!r}: give a percentage >= 0, e.g. 5")
    declared = list(columns)
    columns = {c.key: c for c in declared}
    _check_thresholds(thresholds, columns)
    result = Comparison(base["run_id"], new["run_id"])
    result.warnings += _setting_warnings(base, new)
    base_fps = _base_fps(base)
    untrue = implausible(base, declared)
    if untrue:
        raise UserError(f"run {base['run_id']} cannot be true ({'; '.join(untrue)}); it cannot be a baseline: "
                        "compare against a run whose record is intact")
    if not new.get("metrics"):
        result.regressions.append(f"new has no metrics: run {new['run_id']} recorded nothing to compare")
        return result
    if base_fps is None:
        result.warnings.append(f"base has no FPS (run {base['run_id']}, kind {base.get('kind')}); "
                               "FPS not compared")
    else:
        _compare_fps(result, base, new, base_fps, fps_limit)
    for column in columns.values():
        _compare_metric(result, column, base.get("metrics") or {}, new["metrics"], _limit_for(column, thresholds))
    result.regressions += [f"run {new['run_id']} cannot be true: {reason}" for reason in implausible(new, declared)]
    return result


def _check_comparable(base: dict, new: dict) -> None:
    for record in (base, new):
        status = effective_status(record)
        if status != "success":
            why = " (its process is gone)" if status == "lost" else ""
            raise UserError(f"run {record['run_id']} is '{status}'{why}, not a successful run; "
                            "compare finished runs only")
    if base.get("model") != new.get("model"):
        raise UserError(f"runs are of different models ({base.get('model')} vs {new.get('model')}); "
                        "compare runs of one model")


def _setting(record: dict) -> tuple:
    env = record.get("env") or {}
    data = record.get("data") or {}
    return (record.get("model"), record.get("kind"), env.get("gpu") or "CPU", record.get("cards"),
            data.get("kind"), data.get("protocol"), record.get("profile"), record.get("throughput_unit"))


def _setting_warnings(base: dict, new: dict) -> list[str]:
    labels = ("model", "kind", "card", "cards", "data kind", "protocol", "profile", "throughput unit")
    return [f"{label} differs: {b} vs {n}; the numbers may not be comparable"
            for label, b, n in zip(labels, _setting(base), _setting(new)) if b != n]


def _check_thresholds(thresholds: dict, columns: dict) -> None:
    for key, limit in thresholds.items():
        if key != "*" and key not in columns:
            raise UserError(f"threshold for '{key}': the model declares no metric column '{key}' (columns: "
                            f"{', '.join(columns) or 'none'}); fix the key")
        problem = threshold_problem(limit)
        if problem:
            raise UserError(f"threshold for '{key}': {limit!r}: {problem}")


def _limit_for(column: MetricColumn, thresholds: dict) -> tuple[dict, str]:
    """The limit that applies to ``column`` and where it came from."""
    if column.key in thresholds:
        return thresholds[column.key], "given"
    if "*" in thresholds:
        return thresholds["*"], "given for all"
    for name, kind in (("max_drop", "abs"), ("max_drop_pct", "rel_pct")):
        limit = {kind: getattr(column, name)}
        if getattr(column, name) is not None:
            if threshold_problem(limit) is None:
                return limit, "model"
            return DEFAULT_MAX_METRIC_DROP, f"default; the column's {name} {getattr(column, name)!r} is not a limit"
    return DEFAULT_MAX_METRIC_DROP, "default"


# --- FPS ------------------------------------------------------------------------------

def _base_fps(base: dict) -> Optional[float]:
    """BASE's FPS; None when it has none (an evaluation run); UserError when it is invalid."""
    raw = (base.get("metrics") or {}).get("fps")
    if raw is None:
        return None
    value = finite_number(raw)
    if value is None or value <= 0:
        raise UserError(f"run {base['run_id']} has an invalid FPS ({raw!r}); it cannot be a baseline: "
                        "compare against a run that measured its FPS")
    return value


def _compare_fps(result: Comparison, base: dict, new: dict, base_fps: float, limit_pct: float) -> None:
    raw_new = new["metrics"].get("fps")  # new["metrics"] is non-empty here
    new_fps = finite_number(raw_new)
    if new_fps is None:
        _missing(result, "FPS", f"{base_fps:.2f}", raw_new)
        return
    allowed, rule = _fps_allowance(result, base, new, base_fps, limit_pct)
    change = (new_fps - base_fps) / base_fps * 100
    regressed = -change > allowed * (1 + 1e-9)
    verdict = f"{'REGRESSION' if regressed else 'ok'} (limit {allowed:.1f}%: {rule})"
    result.rows.append(("FPS", f"{base_fps:.2f}", f"{new_fps:.2f}", f"{change:+.1f}%", verdict))
    if regressed:
        result.regressions.append(f"FPS dropped {-change:.1f}% (limit {allowed:.1f}%: {rule})")


def _stability(record: dict, result: Comparison) -> Optional[tuple[int, float]]:
    """(n, std) of the record's repeated timings, or None without usable ones."""
    stats = (record.get("metrics") or {}).get("fps_stability")
    if stats is None:
        return None
    n = stats.get("n") if isinstance(stats, dict) else None
    std = finite_number(stats.get("std")) if isinstance(stats, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or n < 2 or std is None or std < 0:
        result.warnings.append(f"fps_stability of run {record['run_id']} is malformed ({stats!r}); "
                               "using the fixed FPS limit")
        return None
    return n, std


def _fps_allowance(result: Comparison, base: dict, new: dict, base_fps: float,
                   limit_pct: float) -> tuple[float, str]:
    """The accepted FPS drop in percent of BASE, and the rule that set it."""
    spread = {"base": _stability(base, result), "new": _stability(new, result)}
    if spread["base"] is None or spread["new"] is None:
        having = [name for name, s in spread.items() if s is not None]
        if having:
            result.warnings.append(f"only {having[0]} has repeated timings; time both runs with --repeat N "
                                   "to gate on the measured spread")
        else:
            result.warnings.append("one timing per run cannot separate noise from a regression; time both "
                                   "runs with --repeat N to gate on the measured spread")
        return limit_pct, "fixed"
    (n_b, std_b), (n_n, std_n) = spread["base"], spread["new"]
    noise_pct = FPS_NOISE_SIGMAS * math.sqrt(std_b ** 2 / n_b + std_n ** 2 / n_n) / base_fps * 100
    if noise_pct > limit_pct:
        return noise_pct, f"{FPS_NOISE_SIGMAS:g} x the standard error of {n_b}+{n_n} repeats"
    return limit_pct, f"fixed; the noise of {n_b}+{n_n} repeats is {noise_pct:.1f}%"


# --- Metrics --------------------------------------------------------------------------

def _fmt(column: MetricColumn) -> str:
    try:
        return check_format(column.format)
    except UserError:  # a plugin's bad format is refused at registration; never let one write a huge cell
        return "{:.5f}"


def _missing(result: Comparison, title: str, base_text: str, value) -> None:
    what = "missing" if value is None else "not finite"
    shown = "-" if value is None else repr(value)
    result.rows.append((title, base_text, shown, "", f"REGRESSION: {what} in new"))
    result.regressions.append(f"{title} {what} in new ({shown})")


def _compare_metric(result: Comparison, column: MetricColumn, base: dict, new: dict,
                    limit: tuple[dict, str]) -> None:
    key, title, fmt = column.key, str(column.title or column.key), _fmt(column)
    raw_base = base.get(key)
    b = finite_number(raw_base)
    if b is None:
        if raw_base is not None:
            result.rows.append((title, repr(raw_base), str(new.get(key)), "", "not compared: base not finite"))
        if raw_base is not None or key in new:
            result.warnings.append(f"{title}: base has no finite value ({raw_base!r}); not compared")
        return
    n = finite_number(new.get(key))
    if n is None:
        _missing(result, title, fmt.format(b), new.get(key))
        return
    (kind, amount), source = next(iter(limit[0].items())), limit[1]
    allowed = amount if kind == "abs" else abs(b) * amount / 100
    delta = n - b
    worse = -delta if column.higher_is_better else delta
    regressed = worse > allowed * (1 + 1e-9) + 1e-12  # float noise: a drop equal to the limit passes
    rule = f"{amount:g}, {source}" if kind == "abs" else f"{amount:g}% of base, {source}"
    verdict = f"{'REGRESSION' if regressed else 'ok'} (limit {allowed:.5f} = {rule})"
    result.rows.append((title, fmt.format(b), fmt.format(n), f"{delta:+.5f}", verdict))
    if regressed:
        result.regressions.append(f"{title} worse by {worse:.5f} (limit {allowed:.5f} = {rule})")


def format_comparison(result: Comparison) -> str:
    header = ("metric", f"base {result.base_id}", f"new {result.new_id}", "change", "verdict")
    rows = [header] + result.rows
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines += [f"warning: {w}" for w in result.warnings]
    lines.append("regression: " + "; ".join(result.regressions) if result.regressions else "no regression")
    return "\n".join(lines)
