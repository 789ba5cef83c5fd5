"""Torch's compute threads on a small shared CPU host: the product's choice against the fixed ones.

On a 2-core machine a compute thread whose core another process takes holds every operator
at its barrier. This script times the demo network's training step (``bench/cpu_step.py
--profile demo``, 48 px, 400 classes) in child processes, first on the machine as it is,
then next to one busy neighbour (a process spinning on one core), with:

- ``auto``: what ``modelzoo run`` does on the CPU (``modelzoo.train.distributed.share_cpu_threads``:
  one thread per core that no other process uses at the start);
- every core (torch's default thread count), OpenMP's default wait policy;
- every core with ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep at once instead of spinning);
- one thread.

    python bench/cpu_threads.py                 # about a minute on 2 cores
    python bench/cpu_threads.py --json out.json --rounds 3

Each row is the median of ``--rounds`` child runs; the conditions alternate within a round.
Read it on a machine without other jobs: the "as it is" half assumes nothing else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

from benchpath import BENCH
from machine import machine_facts

VARIANTS = {  # name -> (--threads, extra environment)
    "auto (the trainer's choice)": ("auto", {}),
    "all cores, default wait policy": (str(os.cpu_count() or 1), {}),
    "all cores, OMP_WAIT_POLICY=PASSIVE": (str(os.cpu_count() or 1), {"OMP_WAIT_POLICY": "PASSIVE"}),
    "1 thread": ("1", {}),
}


def step_rate(threads: str, extra_env: dict, steps: int) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update(extra_env)
    done = subprocess.run([sys.executable, str(BENCH / "cpu_step.py"), "--profile", "demo", "--sizes", "48",
                           "--classes", "400", "--steps", str(steps), "--threads", threads],
                          env=env, capture_output=True, text=True, timeout=600)
    rate = re.search(r"at 48 px: ([0-9.]+) img/s", done.stdout)
    if done.returncode != 0 or not rate:
        raise SystemExit(f"cpu_step.py failed (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    chosen = re.search(r"^threads: (.*)$", done.stdout, re.M)
    used = re.search(r", (\d+) threads,", done.stdout)
    return float(rate.group(1)), (chosen.group(1) if chosen else f"{used.group(1)} threads" if used else "")


def _spinner() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    facts = machine_facts("cpu")
    print(f"machine: {facts.get('cpu')} ({facts.get('cpu_capability')}), {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f} at start", flush=True)
    results = {}
    for condition in ("as it is", "one busy neighbour"):
        neighbour = _spinner() if condition != "as it is" else None
        try:
            if neighbour:
                time.sleep(0.5)
            rates: dict[str, list] = {name: [] for name in VARIANTS}
            notes: dict[str, str] = {}
            for _ in range(args.rounds):
                for name, (threads, extra) in VARIANTS.items():
                    rate, note = step_rate(threads, extra, args.steps)
                    rates[name].append(rate)
                    notes[name] = note
        finally:
            if neighbour:
                neighbour.kill()
                neighbour.wait()
        results[condition] = {name: {"img_s": statistics.median(values), "runs": values, "threads": notes[name]}
                              for name, values in rates.items()}
    print(f"\n| demo step, 48 px, batch 64 (median of {args.rounds}) | as it is | one busy neighbour |")
    print("|---|---:|---:|")
    for name in VARIANTS:
        cells = [f"{results[c][name]['img_s']:.0f} ({results[c][name]['threads']})" for c in results]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": facts, "results": results}, out, indent=1)


if __name__ == "__main__":
    main()
