"""How well the history's step detection (modelzoo.zoo.steps) finds regressions, on simulated histories.

    python bench/steps_bench.py [--series 1500] [--json FILE]

Simulates cell histories as a zoo sees them: 20 releases, 3 repeats a release, noise of 1-5 %
(coefficient of variation of one measurement), 10 % of releases missing (the cell not run),
10 % of releases with an outlier (one of
its repeats off by 15-30 %), and these kinds:

- noise: nothing changes (every change found is a false alarm);
- step: one step of 3-20 % (up or down) at a random release, the last release included;
- two steps: two steps of 3-20 % at least 3 releases apart;
- creep: 2 %/release for four releases, then flat.

For each detection threshold (standard errors a split must reach) it reports recall of the
steps at least 3x the noise (a step is found when a change is reported within one release of
it), recall of the creeps, and false alarms per cell-release on pure noise. The threshold is
chosen on one simulated set (seed 1) - the most recall with at most 0.5 % false alarms, half
the goal - and the figures are reported on another (seed 2). Goal: >= 95 % recall for steps
>= 3x noise, <= 1 % false alarms per cell-release on pure noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modelzoo.zoo.steps import find_changes  # noqa: E402

RELEASES, REPEATS, MISSING, OUTLIERS = 20, 3, 0.10, 0.10
THRESHOLDS = (3.5, 4.0, 4.5, 5.0, 5.5, 6.0)
KINDS = ("noise", "step", "two steps", "creep")


def simulate(rng: np.random.Generator, kind: str) -> dict:
    """One history: its points and the truth (changes as (release, size), creeps as (first, last))."""
    cv = rng.uniform(0.01, 0.05)
    level = np.ones(RELEASES)
    steps, creeps = [], []
    if kind in ("step", "two steps"):
        count = 1 if kind == "step" else 2
        while True:
            at = sorted(rng.choice(np.arange(1, RELEASES), size=count, replace=False))
            if count == 1 or at[1] - at[0] >= 3:
                break
        for where in at:
            size = rng.uniform(0.03, 0.20) * rng.choice([-1, 1])
            level[where:] *= 1 + size
            steps.append((int(where), float(size)))
    elif kind == "creep":
        first = int(rng.integers(2, RELEASES - 5))
        rate = -0.02 if rng.random() < 0.5 else 0.02
        for k in range(4):
            level[first + k:] *= 1 + rate
        creeps.append((first, first + 3))
    points = []
    for index in range(RELEASES):
        if index > 0 and rng.random() < MISSING:
            points.append([])
            continue
        values = level[index] * (1 + cv * rng.standard_normal(REPEATS))
        if rng.random() < OUTLIERS:  # one repeat of the release goes wild
            values[rng.integers(REPEATS)] *= 1 + rng.uniform(0.15, 0.30) * rng.choice([-1, 1])
        points.append(values.tolist())
    return {"kind": kind, "cv": cv, "points": points, "steps": steps, "creeps": creeps}


def score(histories: list[dict], threshold: float) -> dict:
    found_steps = {"3-5x": [0, 0], "5-10x": [0, 0], ">=10x": [0, 0], "<3x": [0, 0]}
    creeps = [0, 0, 0]   # found, labelled creep, total
    false_noise = [0, 0]  # changes on pure noise, cell-releases of pure noise
    false_other = 0
    for history in histories:
        changes = find_changes(history["points"], relative=True, threshold=threshold)
        spans = [(c.start - 1, c.end + 1) for c in changes]
        matched = set()
        for where, size in history["steps"]:
            ratio = abs(size) / history["cv"]
            bucket = "<3x" if ratio < 3 else "3-5x" if ratio < 5 else "5-10x" if ratio < 10 else ">=10x"
            hit = [i for i, (lo, hi) in enumerate(spans) if lo <= where <= hi]
            found_steps[bucket][0] += bool(hit)
            found_steps[bucket][1] += 1
            matched.update(hit)
        for first, last in history["creeps"]:
            hit = [i for i, (lo, hi) in enumerate(spans) if lo <= last and first <= hi]
            creeps[0] += bool(hit)
            creeps[1] += any(changes[i].kind == "creep" for i in hit)
            creeps[2] += 1
            matched.update(hit)
        if history["kind"] == "noise":
            false_noise[0] += len(changes)
            false_noise[1] += sum(1 for p in history["points"] if p)
        else:
            false_other += len(changes) - len(matched)
    big = [sum(found_steps[b][i] for b in ("3-5x", "5-10x", ">=10x")) for i in (0, 1)]
    return {"threshold": threshold,
            "recall_steps_3x": big[0] / max(big[1], 1),
            "recall_by_size": {b: round(f / max(n, 1), 4) for b, (f, n) in found_steps.items()},
            "recall_creep": creeps[0] / max(creeps[2], 1), "creeps_called_creep": creeps[1] / max(creeps[2], 1),
            "false_alarms_per_cell_release": false_noise[0] / max(false_noise[1], 1),
            "extra_changes_in_changed_series": false_other}


def simulated_set(seed: int, series: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [simulate(rng, KINDS[i % len(KINDS)]) for i in range(series)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1500, help="histories per simulated set (a quarter each kind)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    started = time.perf_counter()
    tuning, held_out = simulated_set(1, args.series), simulated_set(2, args.series)
    tuned = [score(tuning, t) for t in THRESHOLDS]
    allowed = [s for s in tuned if s["false_alarms_per_cell_release"] <= 0.005] or tuned[-1:]
    chosen = max(allowed, key=lambda s: (s["recall_steps_3x"], s["threshold"]))["threshold"]
    reported = [score(held_out, t) for t in THRESHOLDS]
    print(f"{args.series} histories per set ({RELEASES} releases, {REPEATS} repeats, noise 1-5 %, "
          f"{MISSING:.0%} releases missing, {OUTLIERS:.0%} releases with an outlier repeat); chosen on seed 1: threshold {chosen}")
    print("threshold | recall steps >=3x noise (3-5x / 5-10x / >=10x) | recall creep (called creep) | "
          "false alarms per cell-release | extra changes")
    for row in reported:
        sizes = row["recall_by_size"]
        mark = "  <- chosen" if row["threshold"] == chosen else ""
        print(f"{row['threshold']:>9} | {row['recall_steps_3x']:.3f} ({sizes['3-5x']:.3f} / {sizes['5-10x']:.3f} / "
              f"{sizes['>=10x']:.3f}) | {row['recall_creep']:.3f} ({row['creeps_called_creep']:.3f}) | "
              f"{row['false_alarms_per_cell_release']:.4f} | {row['extra_changes_in_changed_series']}{mark}")
    print(f"{time.perf_counter() - started:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"chosen": chosen, "tuning": tuned, "held_out": reported}, indent=2) + "\n")


if __name__ == "__main__":
    main()
