"""How long `modelzoo list` and `modelzoo report` take to start (they must not import torch).

    python bench/cli_startup.py [--repeat 10] [--json FILE] [--quick | --smoke]

Runs each command as a fresh process, the commands in turn within each repeat, and prints
the first (coldest), median and best wall time, against the issue's target of 0.5 s for
`list` and `report`; checks that the CLI module does not pull torch in. Machine facts are
gathered after the timings (they import torch). No device to choose: the CLI runs on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_facts

TARGET_S = 0.5


def timed_once(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


def write_records(runs: Path, count: int) -> None:
    """``count`` plausible successful facenet records, for a report with content."""
    from modelzoo.store import records

    for i in range(count):
        record = records.new_record(
            run_id=f"20260101T0000{i:02d}Z-facenet-casia-c1-bench", kind="train", model="facenet",
            model_title="Facenet", plugin={"name": "modelzoo-facenet", "version": "0.1.0"}, profile="casia",
            config={}, overrides={}, cards=1, world_size=1, device="cuda", seed=i,
            metric_columns=[{"key": "lfw_accuracy", "title": "LFW_Accuracy", "format": "{:.5f}",
                             "std_key": "lfw_accuracy_std", "higher_is_better": True}], log="")
        record.update(status="success", env={"gpu": "BI-V100", "gpu_count": 1, "sdk": "IXUCA SDK 3.1.0"},
                      data={"name": "CASIA-WebFace", "kind": "real", "path": "", "images": 1, "identities": 1},
                      metrics={"fps": 200.0 + i, "lfw_accuracy": 0.989, "lfw_accuracy_std": 0.006},
                      curves={"throughput": {"step": list(range(0, 1000, 10)), "fps": [200.0] * 100}})
        records.save(record, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=None, help="runs of each command (default 10; "
                        "--quick 3; --smoke 1)")
    parser.add_argument("--quick", action="store_true", help="3 runs of each")
    parser.add_argument("--smoke", action="store_true", help="1 run of each")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.smoke else 3 if args.quick else 10)
    cli = [sys.executable, "-m", "modelzoo"]
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        write_records(cwd / "runs", 10)
        cases = {
            "python -c pass (interpreter alone)": [sys.executable, "-c", "pass"],
            "modelzoo list": cli + ["list"],
            "modelzoo report (no runs)": cli + ["report", "--runs-dir", str(cwd / "none")],
            "modelzoo report (10 runs, 4 formats)": cli + ["report", "--runs-dir", str(cwd / "runs"),
                                                           "--output", str(cwd / "reports")],
        }
        for _ in range(repeat):  # the commands in turn: a load change hits them alike
            for name, argv in cases.items():
                times.setdefault(name, []).append(timed_once(argv, cwd))
    check = subprocess.run([sys.executable, "-c", "import sys, modelzoo.cli; print('torch' in sys.modules)"],
                           capture_output=True, text=True, check=True)
    torch_imported = check.stdout.strip() == "True"
    info = machine_facts()
    print(f"CLI start-up, {repeat} runs of each; machine: {info.get('cpu')}, {info.get('cpu_count')} CPUs, "
          f"load {info.get('load_average')}, python {info.get('python')}, torch {info.get('torch')}")
    rows, summary = [], []
    for name, values in times.items():
        row = {"command": name, "first_ms": values[0] * 1e3, "median_ms": statistics.median(values) * 1e3,
               "best_ms": min(values) * 1e3, "runs": len(values)}
        if name.startswith("modelzoo"):
            row["under_target"] = row["median_ms"] < TARGET_S * 1e3
            summary.append({"name": name, "value": round(row["median_ms"], 1), "unit": "ms",
                            "vs_plain": None, "note": f"target < {TARGET_S * 1e3:.0f} ms"})
        rows.append(row)
        print(f"{name:<38} first {row['first_ms']:7.1f} ms   median {row['median_ms']:7.1f} ms   "
              f"best {row['best_ms']:7.1f} ms" + (f"   under {TARGET_S} s: {row['under_target']}"
                                                 if "under_target" in row else ""))
    print(f"torch imported by 'import modelzoo.cli': {torch_imported}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "repeat": repeat, "results": rows,
                                               "torch_imported_by_cli": torch_imported,
                                               "load_average_after": list(os.getloadavg()),
                                               "summary": summary}, indent=1, default=str))


if __name__ == "__main__":
    main()
