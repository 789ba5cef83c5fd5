"""The demo profile on 1, 2 and 8 CPU ranks (gloo), in one call: what ``--cards 8 --oversubscribe``
costs on a small machine.

Each run is ``modelzoo run facenet --profile demo --device cpu --cards N`` (``--oversubscribe``
where N exceeds the cores) for ``--max-steps`` steps in a fresh process, read back from its
record: FPS (every rank's images over the timed window), FPS per rank, step p50, the threads
each rank ran, and the command's wall time (start-up of N ranks included). Printed with the
machine (CPU model, vector ISA) and the load average before and after each run.

    python bench/ranks_bench.py --ranks 1,2,8 --max-steps 200
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from benchpath import REPO
from machine import machine_facts


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def run_ranks(work: Path, ranks: int, max_steps: int, sets: list[str], timeout: int) -> dict:
    runs_dir = work / f"runs-{ranks}"
    command = [sys.executable, "-m", "modelzoo", "run", "facenet", "--profile", "demo", "--device", "cpu",
               "--cards", str(ranks), "--max-steps", str(max_steps)]
    if ranks > (os.cpu_count() or 1):
        command.append("--oversubscribe")
    for item in sets:
        command += ["--set", item]
    env = {**os.environ, "MODELZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "MODELZOO_PLUGINS": "modelzoo_facenet.plugin",
           "MODELZOO_RUNS": str(runs_dir), "MODELZOO_CACHE": str(work / "cache")}
    env.pop("MODELZOO_ZOO", None)
    load_before = _load()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - started
    found = sorted(runs_dir.glob("*/record.json"))
    if done.returncode != 0 or not found:
        return {"ranks": ranks, "error": f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"}
    record = json.loads(found[-1].read_text())
    metrics, env_facts = record["metrics"], record.get("env") or {}
    return {"ranks": ranks, "run_id": record["run_id"], "world_size": record.get("world_size"),
            "fps": metrics.get("fps"), "fps_per_rank": metrics.get("fps_per_card"),
            "step_ms_p50": metrics.get("step_ms_p50"), "compute_fps": metrics.get("compute_fps"),
            "threads_per_rank": env_facts.get("cpu_threads"), "threads_chosen_by": env_facts.get("cpu_threads_chosen_by"),
            "wall_s": round(wall, 1), "load_before": load_before, "load_after": _load()}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ranks", default="1,2,8", help="rank counts, comma-separated (default 1,2,8)")
    parser.add_argument("--max-steps", type=int, default=200, help="steps of each run (default 200)")
    parser.add_argument("--set", action="append", default=[], help="KEY=V for every run (repeatable)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    parser.add_argument("--json", help="write every figure here")
    args = parser.parse_args(argv)
    machine = machine_facts()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ranks-bench-") as work:
        for ranks in (int(r) for r in args.ranks.split(",")):
            rows.append(run_ranks(Path(work), ranks, args.max_steps, args.set, args.timeout))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\nmachine: {machine['cpu']}, {machine.get('cpu_count')} cores, ISA {machine['cpu_capability']}, "
          f"torch {machine.get('torch')}")
    print("| ranks | threads each | FPS (all ranks) | per rank | step p50 ms | wall s | load before -> after |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['ranks']} | {row['error']} |")
            continue
        print(f"| {row['ranks']} | {row['threads_per_rank']} | {row['fps']:,.1f} | {row['fps_per_rank']:,.1f} | "
              f"{row['step_ms_p50']:,.0f} | {row['wall_s']} | {row['load_before']} -> {row['load_after']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "runs": rows}, indent=1))
    return 0 if all("error" not in row for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
