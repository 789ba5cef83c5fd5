"""Sweeps: one run per value of a config key, summarized as mean +- std.

``modelzoo run facenet --profile lfw-unrestricted --sweep data.test_fold=1..10`` trains
once per held-out fold and writes a summary record (kind ``sweep``) whose metrics are the
mean of each metric over the member runs and, as its std, their population std: the
standard LFW table's ``mean+-std`` over folds.
"""

from __future__ import annotations

import math
import statistics
from typing import Optional

from modelzoo.contract.api import MetricColumn, UserError
from modelzoo.store import records


def parse_sweep(text: str) -> tuple[str, list[str]]:
    """``key=1..10`` or ``key=a,b,c`` -> (key, values as --set strings)."""
    key, sep, spec = text.partition("=")
    if not sep or not key.strip() or not spec.strip():
        raise UserError(f"--sweep {text!r}: expected KEY=A..B or KEY=V1,V2,..., e.g. --sweep data.test_fold=1..10")
    if ".." in spec:
        low, _, high = spec.partition("..")
        try:
            start, stop = int(low), int(high)
        except ValueError:
            raise UserError(f"--sweep {text!r}: a range needs integers, e.g. 1..10") from None
        if stop < start:
            raise UserError(f"--sweep {text!r}: the range is empty; write it low..high")
        return key.strip(), [str(v) for v in range(start, stop + 1)]
    values = [v.strip() for v in spec.split(",") if v.strip()]
    return key.strip(), values


def _common_protocol(members: list[dict], key: str, values: list[str]) -> Optional[str]:
    protocols = [(m.get("data") or {}).get("protocol") for m in members]
    first = protocols[0] or "sweep"
    prefix = first.split(",")[0] if all(p and p.split(",")[0] == first.split(",")[0] for p in protocols) else first
    span = f"{values[0]}..{values[-1]}" if len(values) > 2 else ",".join(values)
    return f"{prefix}, mean over {key}={span}"


def summarize(sweep_id: str, key: str, values: list[str], members: list[dict]) -> dict:
    """The summary record of a finished sweep: ``success`` only when every value has a
    successful member with every metric its columns declare (else ``failed``, saying why).

    The sweep picks no member: every metric is a mean over all of them, so a column's
    ``higher_is_better`` does not enter.
    """
    first = members[0]
    record = records.new_record(
        run_id=sweep_id, kind="sweep", model=first["model"], model_title=first["model_title"],
        plugin=first["plugin"], profile=first["profile"], config=first["config"],
        overrides={**first.get("overrides", {}), key: f"swept: {', '.join(values)}"},
        cards=first["cards"], world_size=first["world_size"], device=first["device"], seed=first["seed"],
        metric_columns=first["metric_columns"], log="")
    record["started"] = first["started"]  # mark_finished then times the whole sweep
    record["members"] = [{"run_id": m["run_id"], "value": v, "status": records.effective_status(m),
                          "metrics": {c.key: (m.get("metrics") or {}).get(c.key) for c in _columns(m)}}
                         for v, m in zip(values, members)]
    record["sweep"] = {"key": key, "values": values}
    record["env"] = first.get("env")
    data = dict(first.get("data") or {})
    data["protocol"] = _common_protocol(members, key, values)
    record["data"] = data
    record["warnings"] = [f"{m['run_id']}: {w}" for m in members for w in m.get("warnings") or []]
    problem = _problem(values, members)
    if problem:
        return records.mark_finished(record, "failed", problem)
    record["metrics"] = _means(_columns(first), members)
    return records.mark_finished(record, "success")


def _columns(record: dict) -> list[MetricColumn]:
    """The record's metric columns, read back as :class:`MetricColumn` s."""
    return [MetricColumn.from_dict(column) for column in record.get("metric_columns") or []]


def _problem(values: list[str], members: list[dict]) -> Optional[str]:
    """Why the members do not make a result, or None."""
    if len(members) < len(values):
        return f"{len(values) - len(members)} of {len(values)} sweep runs left no record"
    failed = [f"{m['run_id']} ({records.effective_status(m)})" for m in members
              if records.effective_status(m) != "success"]
    if failed:
        return f"{len(failed)} of {len(members)} sweep runs did not succeed: " + ", ".join(failed)
    for member in members:
        metrics = member.get("metrics") or {}
        for column in _columns(members[0]) + _columns(member):
            value = metrics.get(column.key)
            if value is None:
                return f"run {member['run_id']} has no {column.key}; the mean over the sweep would leave it out"
            if not _is_finite(value):
                return (f"run {member['run_id']} {column.key} is not a finite number; the mean over the "
                        "sweep would leave it out")
    return None


def _is_finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _means(columns: list[MetricColumn], members: list[dict]) -> dict:
    """Each column's mean over the members and, as its std, their population std; mean throughput."""
    metrics = {}
    for column in columns:
        series = [m["metrics"][column.key] for m in members]
        metrics[column.key] = statistics.fmean(series)
        if column.std_key:
            metrics[column.std_key] = statistics.pstdev(series)
    for name in ("fps", "fps_per_card", "compute_fps"):
        series = [m["metrics"].get(name) for m in members if _is_finite(m["metrics"].get(name))]
        if series:
            metrics[name] = statistics.fmean(series)
    return metrics
