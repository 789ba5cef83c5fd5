"""Compare two run records and flag regressions (``modelzoo compare``; exit 1 on one)."""

from __future__ import annotations

from dataclasses import dataclass, field

from modelzoo.api import UserError


@dataclass
class Comparison:
    base_id: str
    new_id: str
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # name, base, new, change, verdict
    regressions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _setting(record: dict) -> tuple:
    env = record.get("env") or {}
    data = record.get("data") or {}
    return (record.get("model"), env.get("gpu") or "CPU", record.get("cards"), data.get("kind"),
            data.get("protocol"), record.get("profile"))


def compare_records(base: dict, new: dict, *, max_fps_drop_pct: float, max_metric_drop: float) -> Comparison:
    for record in (base, new):
        if record.get("status") != "success":
            raise UserError(f"run {record['run_id']} is '{record.get('status')}', not a successful run; "
                            "compare finished runs only")
    if base.get("model") != new.get("model"):
        raise UserError(f"runs are of different models ({base.get('model')} vs {new.get('model')}); "
                        "compare runs of one model")
    result = Comparison(base["run_id"], new["run_id"])
    labels = ("model", "card", "cards", "data kind", "protocol", "profile")
    for label, b, n in zip(labels, _setting(base), _setting(new)):
        if b != n:
            result.warnings.append(f"{label} differs: {b} vs {n}; the numbers may not be comparable")

    base_fps, new_fps = base["metrics"].get("fps"), new["metrics"].get("fps")
    if base_fps and new_fps:
        change = (new_fps - base_fps) / base_fps * 100
        regressed = change < -max_fps_drop_pct
        result.rows.append(("FPS", f"{base_fps:.2f}", f"{new_fps:.2f}", f"{change:+.1f}%",
                            "REGRESSION" if regressed else "ok"))
        if regressed:
            result.regressions.append(f"FPS dropped {-change:.1f}% (limit {max_fps_drop_pct}%)")
    for column in new.get("metric_columns") or []:
        key = column["key"]
        b, n = base["metrics"].get(key), new["metrics"].get(key)
        if b is None or n is None:
            continue
        delta = n - b
        worse = -delta if column.get("higher_is_better", True) else delta
        regressed = worse > max_metric_drop
        fmt = column.get("format", "{:.5f}")
        result.rows.append((column["title"], fmt.format(b), fmt.format(n), f"{delta:+.5f}",
                            "REGRESSION" if regressed else "ok"))
        if regressed:
            result.regressions.append(f"{column['title']} worse by {worse:.5f} (limit {max_metric_drop})")
    return result


def format_comparison(result: Comparison) -> str:
    header = ("metric", f"base {result.base_id}", f"new {result.new_id}", "change", "verdict")
    rows = [header] + result.rows
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines += [f"warning: {w}" for w in result.warnings]
    lines.append("regression: " + "; ".join(result.regressions) if result.regressions else "no regression")
    return "\n".join(lines)
