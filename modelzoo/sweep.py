"""Sweeps: one run per value of a config key, summarized as mean +- std.

``modelzoo run facenet --profile lfw-unrestricted --sweep data.test_fold=1..10`` trains
once per held-out fold and writes a summary record (kind ``sweep``) whose metrics are the
mean of each metric over the member runs and, as its std, their population std: the
standard LFW table's ``mean+-std`` over folds.
"""

from __future__ import annotations

import statistics
from typing import Optional

from modelzoo import records
from modelzoo.api import UserError


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
    """The summary record of a finished sweep."""
    first = members[0]
    record = records.new_record(
        run_id=sweep_id, kind="sweep", model=first["model"], model_title=first["model_title"],
        plugin=first["plugin"], profile=first["profile"], config=first["config"],
        overrides={**first.get("overrides", {}), key: f"swept: {', '.join(values)}"},
        cards=first["cards"], world_size=first["world_size"], device=first["device"], seed=first["seed"],
        metric_columns=first["metric_columns"], log="")
    record["started"] = first["started"]
    record["members"] = [{"run_id": m["run_id"], "value": v, "status": m["status"],
                          "metrics": {c["key"]: (m.get("metrics") or {}).get(c["key"])
                                      for c in m["metric_columns"]}}
                         for v, m in zip(values, members)]
    record["sweep"] = {"key": key, "values": values}
    failed = [m["run_id"] for m in members if m["status"] != "success"]
    record["env"] = first.get("env")
    data = dict(first.get("data") or {})
    data["protocol"] = _common_protocol(members, key, values)
    record["data"] = data
    if failed:
        record.update(status="failed", error=f"{len(failed)} of {len(members)} sweep runs did not succeed: "
                                             + ", ".join(failed))
    else:
        metrics = {}
        for column in first["metric_columns"]:
            series = [m["metrics"][column["key"]] for m in members if m["metrics"].get(column["key"]) is not None]
            if series:
                metrics[column["key"]] = statistics.fmean(series)
                if column.get("std_key"):
                    metrics[column["std_key"]] = statistics.pstdev(series)
        for name in ("fps", "fps_per_card", "compute_fps"):
            series = [m["metrics"].get(name) for m in members if m["metrics"].get(name)]
            if series:
                metrics[name] = statistics.fmean(series)
        record.update(status="success", metrics=metrics)
    record["finished"] = records.utc_now()
    return record
