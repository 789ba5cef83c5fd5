"""The table bench/gpu.sh prints last: one line per measurement, and one per step that failed
or was skipped.

    python bench/gpu_summary.py --results DIR --runs DIR --out DIR [--device cuda] [--smoke 0|1]

Reads what gpu.sh leaves in ``--results``: ``steps.tsv`` (name, status, exit code, seconds,
note per step), each step's JSON (``ceilings.json``, ``train_bench.json``, ``pipeline.json``,
``mtcnn.json``, ``lfw_protocol.json``, ``cli_startup.json``), ``machine.json``, and for the
``modelzoo`` steps ``NAME.runs`` (the run ids, whose records are in ``--runs``). Writes
``summary.md`` and ``bench.json`` (all of it in one file) into ``--out``. Imports no torch.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional

JSON_STEPS = ("ceilings", "train_bench", "pipeline", "mtcnn", "lfw_protocol", "cli_startup")
RUN_STEPS = {"recipe_fp32": "recipe fp32", "recipe_bf16": "recipe bf16+channels_last",
             "recipe_fast": "recipe casia-fast profile", "demo": "demo profile"}


def _load(path: Path) -> Optional[Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _row(name: str, value, unit: str = "", vs_plain: Optional[float] = None, note: str = "") -> dict:
    return {"name": name, "value": value, "unit": unit, "vs_plain": vs_plain, "note": note}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def ceilings_rows(data: dict) -> list[dict]:
    rows = []
    for m in data.get("matmul", []):
        if m.get("tflops"):
            rows.append(_row(f"matmul {m['precision']} {m['n']}^3", m["tflops"], "TFLOP/s"))
    for c in data.get("copy", []):
        rows.append(_row(f"copy, {c['copy']}", c["gbps"], "GB/s"))
    flops = data.get("flops") or {}
    if flops.get("train_3x_forward_gflop"):
        rows.append(_row(f"FLOP per training image ({flops.get('crop')} px, 3x forward)",
                         flops["train_3x_forward_gflop"], "GFLOP"))
    ceiling = data.get("fps_ceiling") or {}
    best = max(ceiling.items(), key=lambda kv: kv[1], default=None)
    if best:
        rows.append(_row(f"FPS ceiling at the {best[0]} matmul peak", best[1], "images/s"))
    return rows


def train_bench_rows(data: dict) -> list[dict]:
    plain = data.get("plain") or {}
    rows = [_row("train, plain port, end to end", plain.get("fps_median"), "images/s"),
            _row("train, plain port, compute-only", plain.get("compute_fps_median"), "images/s")]
    for v in data.get("variants", []):
        note = f"{len(v['errors'])} run(s) failed" if v.get("errors") else ""
        rows.append(_row(f"train, ours {v['name']}, end to end", v.get("fps_median"), "images/s",
                         v.get("ratio_fps"), note))
        rows.append(_row(f"train, ours {v['name']}, compute-only", v.get("compute_fps_median"), "images/s",
                         v.get("ratio_compute")))
    return rows


def generic_rows(data: dict) -> list[dict]:
    return [_row(s["name"], s.get("value"), s.get("unit", ""), s.get("vs_plain"), s.get("note", ""))
            for s in data.get("summary", [])]


def run_rows(step: str, records: list[dict], plain_fps: Optional[float]) -> list[dict]:
    rows = []
    title = RUN_STEPS.get(step, step)
    for record in records:
        metrics = record.get("metrics") or {}
        status = record.get("status")
        if status != "success":
            rows.append(_row(f"modelzoo run, {title}", status, "", None, str(record.get("error") or "")[:120]))
            continue
        fps = metrics.get("fps")
        ratio = fps / plain_fps if fps and plain_fps and step.startswith("recipe") else None
        rows.append(_row(f"modelzoo run, {title}: FPS", fps, "images/s", ratio,
                         "vs train_bench's plain port, end to end" if ratio else ""))
        if metrics.get("compute_fps"):
            rows.append(_row(f"modelzoo run, {title}: compute-only FPS", metrics["compute_fps"], "images/s"))
        if metrics.get("lfw_accuracy") is not None and step == "demo":  # the recipe runs are too short to learn
            acc = f"{metrics['lfw_accuracy']:.5f}+-{metrics.get('lfw_accuracy_std', 0):.5f}"
            rows.append(_row(f"modelzoo run, {title}: LFW_Accuracy", acc, "", None,
                             "synthetic faces" if (record.get("data") or {}).get("kind") != "real" else ""))
    return rows


def read_steps(results: Path) -> list[dict]:
    steps = []
    path = results / "steps.tsv"
    if path.is_file():
        for line in path.read_text().splitlines():
            parts = (line.split("\t") + [""] * 5)[:5]
            steps.append({"name": parts[0], "status": parts[1], "exit": parts[2],
                          "seconds": int(parts[3]) if parts[3].isdigit() else None, "note": parts[4]})
    return steps


def build(results: Path, runs: Path, device: str, smoke: bool, elapsed: Optional[int] = None) -> dict:
    steps = read_steps(results)
    figures = {name: _load(results / f"{name}.json") for name in JSON_STEPS}
    figures = {k: v for k, v in figures.items() if v is not None}
    plain_fps = ((figures.get("train_bench") or {}).get("plain") or {}).get("fps_median")
    records: dict[str, list[dict]] = {}
    for step in list(RUN_STEPS) + ["report"]:
        ids_file = results / f"{step}.runs"
        if ids_file.is_file():
            records[step] = [r for r in (_load(runs / run_id / "record.json")
                                         for run_id in ids_file.read_text().split()) if r]
    rows: list[dict] = []
    for step in steps:
        name, status = step["name"], step["status"]
        if status != "ok":  # then whatever figures it left (train_bench exits 1 when one run failed)
            label = {"failed": "FAILED", "timeout": "TIMEOUT"}.get(status, status)
            rows.append(_row(name, label, "", None, step["note"]))
        if name == "ceilings" and "ceilings" in figures:
            new = ceilings_rows(figures["ceilings"])
        elif name == "train_bench" and "train_bench" in figures:
            new = train_bench_rows(figures["train_bench"])
        elif name in figures:
            new = generic_rows(figures[name])
        elif name in RUN_STEPS:
            new = run_rows(name, records.get(name, []), plain_fps)
        else:
            new = []
        if status == "ok" and not new and name not in ("data", "report"):
            new = [_row(name, "ok", "", None, "no figures found (see its log)")]
        rows.extend(new)
    # The best end-to-end training FPS against the card's ceiling.
    ceiling = max(((figures.get("ceilings") or {}).get("fps_ceiling") or {}).values(), default=None)
    train_fps = [r["value"] for r in rows if isinstance(r["value"], (int, float))
                 and r["unit"] == "images/s" and r["name"].endswith(("end to end", ": FPS"))
                 and "plain port" not in r["name"] and "demo" not in r["name"]]
    if ceiling and train_fps:
        rows.append(_row("best Inception-ResNet-v1 training FPS / FPS ceiling", max(train_fps) / ceiling, "fraction"))
    machine = _load(results / "machine.json") or {}
    return {"device": device, "smoke": smoke, "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "elapsed_s": elapsed,
            "machine": machine, "steps": steps, "rows": rows, "figures": figures,
            "runs": {step: [{k: r.get(k) for k in ("run_id", "status", "profile", "metrics", "error", "overrides")}
                            for r in recs] for step, recs in records.items()}}


def markdown(summary: dict) -> str:
    machine = summary["machine"]
    where = machine.get("gpu") or machine.get("cpu") or "unknown machine"
    steps = summary["steps"]
    seconds = sum(s["seconds"] or 0 for s in steps)
    lines = [f"## bench/gpu.sh on {where} ({summary['device']}{', smoke sizes' if summary['smoke'] else ''}), "
             f"{summary['generated']}",
             (f"torch {machine.get('torch')}, CUDA {machine.get('cuda')}, {machine.get('cpu_count')} CPUs "
              f"({machine.get('cpu')})" if machine else "no machine facts (see logs/machine.log)")
             + f"; steps took {seconds} s"
             + (f", the script {summary['elapsed_s']} s so far" if summary.get("elapsed_s") is not None else ""), "",
             "| measurement | value | unit | vs plain | note |", "|---|---:|---|---:|---|"]
    for r in summary["rows"]:
        ratio = f"{r['vs_plain']:.2f}x" if isinstance(r["vs_plain"], (int, float)) else ""
        lines.append(f"| {r['name']} | {_fmt(r['value'])} | {r['unit']} | {ratio} | {r['note']} |")
    by_status: dict[str, list[str]] = {}
    for s in steps:
        by_status.setdefault(s["status"], []).append(s["name"] + (f" ({s['exit']})" if s["status"] == "failed" else ""))
    lines += ["", "steps: " + "; ".join(f"{status} {len(names)}: {', '.join(names)}"
                                        for status, names in sorted(by_status.items()))]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--runs", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--smoke", default="0")
    parser.add_argument("--elapsed", type=int, help="seconds since gpu.sh started")
    args = parser.parse_args()
    summary = build(args.results, args.runs, args.device, args.smoke == "1", args.elapsed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(summary, indent=1, default=str))
    (args.out / "summary.md").write_text(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
