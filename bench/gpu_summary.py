"""The table bench/gpu.sh prints last: one line per measurement, and one per step that failed
or was skipped.

    python bench/gpu_summary.py --results DIR --runs DIR --out DIR [--device cuda] [--smoke 0|1]

Reads what gpu.sh leaves in ``--results``: ``steps.tsv`` (name, status, exit code, seconds,
note per step), each step's JSON (``ceilings.json``, ``train_bench.json``, ``pipeline.json``,
``mtcnn.json``, ``lfw_protocol.json``, ``cli_startup.json``, ``resnet50.json``),
``machine.json``, ``logs/cuda_tests.log`` (pytest's counts from its last line, the skip
reasons), and for the ``modelzoo`` steps ``NAME.runs`` (the run ids, whose records are in
``--runs``). The recipe rows show end-to-end FPS, compute-only FPS and their ratio, and what
the record says of CUDA graphs, resident data and compile; comparison rows follow (graphs
without compile / casia-fast with compile, resident / the DataLoader, graphs / resident).
Writes ``summary.md`` and ``bench.json`` (all of it in one file) into ``--out``. Imports no
torch.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any, Optional

JSON_STEPS = ("ceilings", "train_bench", "pipeline", "mtcnn", "lfw_protocol", "cli_startup", "resnet50")
RUN_STEPS = {"recipe_resident": "recipe resident (bf16+channels_last, no compile)",
             "recipe_graphs": "recipe graphs (resident + CUDA graphs, no compile)",
             "batch_curve": "batch curve", "recipe_fast": "recipe casia-fast profile",
             "recipe_bf16": "recipe bf16+channels_last", "recipe_fp32": "recipe fp32", "demo": "demo profile",
             "zoo_recipes": "zoo recipe"}
CUDA_TESTS = "tests/modelzoo/train/test_resident.py, test_graphs.py"
# Issue 15's comparisons: (numerator step, denominator step, row title, what differs).
COMPARISONS = (
    ("recipe_graphs", "recipe_fast", "recipe graphs (no compile) / casia-fast (torch.compile)",
     "CUDA graphs without a compiler against compile's reduce-overhead"),
    ("recipe_graphs", "recipe_resident", "recipe graphs / recipe resident", "what the CUDA graph adds"),
    ("recipe_resident", "recipe_bf16", "recipe resident / recipe bf16+channels_last",
     "the resident decoded set against the DataLoader over PNG files, same math"),
)


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


def _batch(record: dict) -> Optional[int]:
    return ((record.get("config") or {}).get("train") or {}).get("batch_size")


def fast_path_state(record: dict) -> str:
    """What the record says of CUDA graphs, resident data and compile (only what is on)."""
    env = record.get("env") or {}
    parts = []
    graphs = env.get("cuda_graphs")
    if graphs and graphs != "off":
        parts.append(f"cuda graphs: {graphs}")
    resident = env.get("resident_data") or {}
    if resident.get("resident"):
        parts.append(f"resident in {resident.get('where', '?')}")
    elif (((record.get("config") or {}).get("train") or {}).get("resident")) in (True, "on"):
        parts.append(f"not resident: {resident.get('reason', '?')}")
    if env.get("compile"):
        parts.append(f"compile {env['compile']}")
    return "; ".join(parts)


def run_rows(step: str, records: list[dict], plain_fps: Optional[float],
             headline: Optional[dict] = None) -> list[dict]:
    """A run step's rows; ``headline`` (recipe_graphs' record) is what the batch curve compares to."""
    rows = []
    recipe = step.startswith("recipe") or step == "batch_curve"
    for record in records:
        title = RUN_STEPS.get(step, step)
        if step == "zoo_recipes":
            title = f"zoo recipe {record.get('model')} ({record.get('profile')})"
        if step == "batch_curve":
            title = f"batch curve, recipe graphs at batch {_batch(record)}"
        metrics = record.get("metrics") or {}
        status = record.get("status")
        if status != "success":
            rows.append(_row(f"modelzoo run, {title}", status, "", None, str(record.get("error") or "")[:120]))
            continue
        fps, compute = metrics.get("fps"), metrics.get("compute_fps")
        ratio = fps / plain_fps if fps and plain_fps and step.startswith("recipe") else None
        notes = ["vs train_bench's plain port, end to end"] if ratio else []
        if step == "batch_curve":
            base = (headline or {}).get("metrics") or {}
            notes.append(f"a batch-curve point, not the headline batch {_batch(headline) if headline else ''}".rstrip())
            if fps and base.get("fps") and (headline or {}).get("status") == "success":
                notes.append(f"{fps / base['fps']:.2f}x recipe graphs' FPS at batch {_batch(headline)}")
        if recipe and fast_path_state(record):
            notes.append(fast_path_state(record))
        rows.append(_row(f"modelzoo run, {title}: FPS", fps, "images/s", ratio, "; ".join(notes)))
        if compute:
            rows.append(_row(f"modelzoo run, {title}: compute-only FPS", compute, "images/s"))
        if metrics.get("recipe_fps"):  # a zoo recipe: the throughput its own script printed
            rows.append(_row(f"modelzoo run, {title}: the script's own throughput", metrics["recipe_fps"],
                             "images/s", None, "as the script prints it; FPS above is modelzoo's, from outside"))
        if recipe and fps and compute:
            rows.append(_row(f"modelzoo run, {title}: end to end / compute-only", fps / compute, "fraction"))
        if metrics.get("lfw_accuracy") is not None and step == "demo":  # the recipe runs are too short to learn
            acc = f"{metrics['lfw_accuracy']:.5f}+-{metrics.get('lfw_accuracy_std', 0):.5f}"
            rows.append(_row(f"modelzoo run, {title}: LFW_Accuracy", acc, "", None,
                             "synthetic faces" if (record.get("data") or {}).get("kind") != "real" else ""))
    return rows


_COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed|warnings?)\b")
_SKIP = re.compile(r"^SKIPPED \[(\d+)\] [^:]+:\d+: (.*)$")


def parse_pytest(log: str) -> dict:
    """pytest's counts from its last summary line (``22 passed, 6 skipped in 16.55s``), the
    skip reasons (``-rs`` lines) and the failed tests' ids (``-rf`` / ``-rE`` lines)."""
    lines = [line.strip().strip("=").strip() for line in log.splitlines()]
    last = next((line for line in reversed(lines)
                 if re.search(r"\bin [\d.]+s\b", line) and (_COUNT.search(line) or line.startswith("no tests ran"))),
                None)
    counts: dict[str, int] = {}
    for number, word in _COUNT.findall(last or ""):
        word = {"error": "errors", "warning": "warnings"}.get(word, word)
        counts[word] = counts.get(word, 0) + int(number)
    skipped: dict[str, int] = {}
    for line in log.splitlines():
        match = _SKIP.match(line.strip())
        if match:
            skipped[match.group(2)] = skipped.get(match.group(2), 0) + int(match.group(1))
    failed = [line.split()[1] for line in log.splitlines() if line.startswith(("FAILED ", "ERROR ")) and
              len(line.split()) > 1]
    return {"line": last, "counts": counts, "skip_reasons": skipped, "failed": failed}


def cuda_tests_rows(parsed: dict, device: str) -> list[dict]:
    counts = parsed["counts"]
    if parsed["line"] is None:
        return [_row(f"CUDA tests ({CUDA_TESTS})", "no result", "", None,
                     "no pytest summary line (see logs/cuda_tests.log)")]
    value = ", ".join(f"{n} {word}" for word, n in counts.items() if word != "warnings") or parsed["line"]
    notes = []
    cuda_skips = sum(n for reason, n in parsed["skip_reasons"].items() if "cuda" in reason.lower())
    if device == "cuda" and cuda_skips:
        notes.append(f"{cuda_skips} CUDA test(s) skipped on a card")
    elif device == "cuda" and counts.get("passed"):
        notes.append("the CUDA tests ran on the card")
    if parsed["skip_reasons"]:
        notes.append("skipped: " + "; ".join(f"{reason} ({n})" for reason, n in parsed["skip_reasons"].items()))
    if parsed["failed"]:
        notes.append("failed: " + ", ".join(parsed["failed"][:4]) + (" ..." if len(parsed["failed"]) > 4 else ""))
    return [_row(f"CUDA tests ({CUDA_TESTS})", value, "tests", None, "; ".join(notes))]


def resnet50_rows(data: dict) -> list[dict]:
    settings = data.get("settings") or {}
    label = f"ResNet-50 {settings.get('size')} px, batch {settings.get('batch')}, amp {settings.get('amp')}"
    peak = data.get("matmul_peak") or {}
    fractions = list((data.get("fraction_of_peak") or {}).values()) + [None] * 3

    def note(fraction: Optional[float]) -> str:
        return f"{fraction:.3f} of the {peak.get('precision')} matmul peak" if fraction is not None else ""

    rows = [_row(f"{label}: plain torchvision-reference step, compute-only", data.get("plain_compute_fps"),
                 "images/s", None, note(fractions[0])),
            _row(f"{label}: ours, compute-only", data.get("ours_compute_fps"), "images/s",
                 data.get("ratio_compute"), note(fractions[1])),
            _row(f"{label}: ours, end to end", data.get("ours_fps"), "images/s",
                 data.get("ratio_end_to_end"), note(fractions[2]))]
    errors = [r["error"] for runs in (data.get("rounds") or {}).values() for r in runs if "error" in r]
    if errors:
        rows.append(_row(f"{label}: failed rounds", len(errors), "", None, errors[0][:160]))
    return rows


def comparison_rows(records: dict[str, list[dict]]) -> list[dict]:
    """Issue 15's ratios between recipe runs that both succeeded in this call."""
    rows = []
    for top, bottom, title, what in COMPARISONS:
        a = next((r for r in records.get(top, []) if r.get("status") == "success"), None)
        b = next((r for r in records.get(bottom, []) if r.get("status") == "success"), None)
        if not a or not b:
            continue
        ma, mb = a.get("metrics") or {}, b.get("metrics") or {}
        notes = [what]
        if bottom == "recipe_fast" and not (b.get("env") or {}).get("compile"):
            notes.append("casia-fast ran without compile here")
        for key, label in (("fps", "end to end"), ("compute_fps", "compute-only")):
            if ma.get(key) and mb.get(key):
                rows.append(_row(f"{title}, {label}", ma[key] / mb[key], "ratio", None, "; ".join(notes)))
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
    pytest_log = results / "logs" / "cuda_tests.log"
    if any(s["name"] == "cuda_tests" and s["status"] != "skipped" for s in steps) and pytest_log.is_file():
        figures["cuda_tests"] = parse_pytest(pytest_log.read_text(errors="replace"))
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
        elif name == "resnet50" and "resnet50" in figures:
            new = resnet50_rows(figures["resnet50"])
        elif name == "cuda_tests" and "cuda_tests" in figures:
            new = cuda_tests_rows(figures["cuda_tests"], device)
        elif name in figures:
            new = generic_rows(figures[name])
        elif name in RUN_STEPS:
            new = run_rows(name, records.get(name, []), plain_fps, (records.get("recipe_graphs") or [None])[0])
        else:
            new = []
        if status == "ok" and not new and name not in ("data", "report"):
            new = [_row(name, "ok", "", None, "no figures found (see its log)")]
        rows.extend(new)
    rows.extend(comparison_rows(records))
    # The best end-to-end training FPS against the card's ceiling.
    ceiling = max(((figures.get("ceilings") or {}).get("fps_ceiling") or {}).values(), default=None)
    train_fps = [r["value"] for r in rows if isinstance(r["value"], (int, float))
                 and r["unit"] == "images/s" and r["name"].endswith(("end to end", ": FPS"))
                 and "plain port" not in r["name"] and "demo" not in r["name"]
                 and "batch curve" not in r["name"] and not r["name"].startswith("ResNet-50")]
    if ceiling and train_fps:
        rows.append(_row("best Inception-ResNet-v1 training FPS / FPS ceiling", max(train_fps) / ceiling, "fraction",
                         None, "at the recipe's batch (the batch curve apart)" if "batch_curve" in records else ""))
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
