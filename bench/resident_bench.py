"""Resident data against the loader, and the demo end to end, on one machine in one call.

Part 0, the input path alone (in this process, no model): batches per second of the
DataLoader over a decoded cache (``num_workers=0``, as the demo runs it) against
:class:`~modelzoo.train.resident.ResidentBatches` on the CPU, over the same ``BatchStream``: the
host work each training step pays for its batch.

Part 1, end to end against compute-only: the facenet ``demo`` profile for ``--steps``
steps, read back from each run's record (``metrics.fps``: images/s of the trainer's
loop with its input; ``metrics.compute_fps``: the same step repeated on one batch
already on the device). The target is fps >= 0.95 x compute_fps. Variants (``--set``
overrides of the profile; every one a fresh process, the order reversed every other
round so a slow spell of a shared machine hits them alike):

- ``loader-png``: the profile as it is (PNG decode in the training process, one process);
- ``loader-cache``: the decoded-image cache read by the DataLoader (``train.resident=off``);
- ``resident``: the decoded set in RAM, one gather per step (``train.resident=on``).

Part 2, the demo end to end: ``modelzoo run facenet --cards 1 --profile demo`` with an
empty cache (the synthetic set is generated, as on a first run), timed from process start
to exit, with its LFW-protocol accuracy. ``--demo-variant NAME:KEY=V,...`` (repeatable)
adds resized demos to compare (``NAME:`` alone is the profile as it is).

Printed with the machine (CPU model, vector ISA torch uses, load average before and after
every run: a shared machine's load moves these figures).

    python bench/resident_bench.py --json /tmp/resident.json
    python bench/resident_bench.py --quick                     # a short smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from benchpath import REPO
from machine import machine_facts

FPS_VARIANTS = ["loader-png:",
                "loader-cache:data.decoded_cache=true,train.resident=off",
                "resident:data.decoded_cache=true,train.resident=on"]


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, sets = text.partition(":")
    if not name:
        raise SystemExit(f"variant {text!r}: use NAME:KEY=V,KEY=V (NAME: alone for the profile as it is)")
    return name, [s for s in sets.split(",") if s]


def _load() -> Optional[list[float]]:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _env(runs_dir: Path, cache_dir: Path, threads: Optional[int] = None) -> dict:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # the trainer leaves the user's choice alone
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins" / "facenet")]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(MODELZOO_DISABLE_PLUGIN_AUTOLOAD="1", MODELZOO_PLUGINS="modelzoo_facenet.plugin",
               MODELZOO_RUNS=str(runs_dir), MODELZOO_CACHE=str(cache_dir))
    env.pop("MODELZOO_ZOO", None)
    return env


def run_demo(work: Path, label: str, sets: list[str], cache_dir: Path, max_steps: Optional[int],
             timeout: int, threads: Optional[int] = None) -> dict:
    """One ``modelzoo run facenet --cards 1 --profile demo``: wall time, record figures, load."""
    runs_dir = work / "runs" / label
    shutil.rmtree(runs_dir, ignore_errors=True)  # only this run's record is read back
    runs_dir.mkdir(parents=True)
    command = [sys.executable, "-m", "modelzoo", "run", "facenet", "--cards", "1", "--profile", "demo",
               "--device", "cpu"]
    if max_steps:
        command += ["--max-steps", str(max_steps)]
    for item in sets:
        command += ["--set", item]
    load_before = _load()
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=REPO, env=_env(runs_dir, cache_dir, threads), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"label": label, "error": f"timed out after {timeout}s", "command": command}
    wall = time.perf_counter() - started
    records = sorted(runs_dir.glob("*/record.json"))
    if not records:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"label": label, "error": f"exit {done.returncode}, no record: {tail}", "command": command}
    record = json.loads(records[-1].read_text())
    metrics = record.get("metrics") or {}
    log_text = (records[-1].parent / "train.log").read_text() if (records[-1].parent / "train.log").is_file() else ""
    generated = re.search(r"generated in ([0-9.]+)s", log_text)
    result = {"label": label, "sets": sets, "status": record.get("status"), "run_id": record.get("run_id"),
              "wall_s": round(wall, 1), "fps": metrics.get("fps"), "compute_fps": metrics.get("compute_fps"),
              "step_ms_p50": metrics.get("step_ms_p50"), "steps": metrics.get("steps"),
              "lfw_accuracy": metrics.get("lfw_accuracy"), "lfw_accuracy_std": metrics.get("lfw_accuracy_std"),
              "data_generated_s": float(generated.group(1)) if generated else None,
              "resident_data": (record.get("env") or {}).get("resident_data"),
              "load_before": load_before, "load_after": _load(), "command": command}
    if result["fps"] and result["compute_fps"]:
        result["fps_over_compute"] = round(result["fps"] / result["compute_fps"], 3)
    if record.get("status") != "success" or done.returncode != 0:
        result["error"] = f"run {record.get('status')} (exit {done.returncode}): {record.get('error')}"
    return result


def _median(values: list) -> Optional[float]:
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def input_part(args, work: Path) -> dict:
    """Part 0: seconds per batch of the two input paths over the same random uint8 set."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, DistributedSampler

    from modelzoo.toolkit.imagedata import CachedDataset
    from modelzoo.train.batches import BatchStream, EpochBatches
    from modelzoo.train.resident import ResidentBatches
    from modelzoo.train.step import to_device

    n, size, batch = args.input_images, args.input_size, 64
    rng = np.random.default_rng(0)
    np.save(work / "input.npy", rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8))
    dataset = CachedDataset(work / "input.npy", rng.integers(0, 400, size=n).tolist(), 400)

    def stream() -> BatchStream:
        sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=0, drop_last=True)
        return BatchStream(EpochBatches(sampler, batch), 0)

    def rate(batches) -> float:
        iterator = iter(batches)
        for _ in range(5):
            to_device(next(iterator), torch.device("cpu"))
        started = time.perf_counter()
        for _ in range(args.input_batches):
            to_device(next(iterator), torch.device("cpu"))
        return args.input_batches * batch / (time.perf_counter() - started)

    resident = ResidentBatches.load(dataset, "cpu", "host")
    rates: dict[str, list[float]] = {"loader over the decoded cache": [], "resident (cpu RAM)": []}
    for _ in range(3):  # alternate, median: a shared machine's slow spells hit both
        rates["loader over the decoded cache"].append(rate(DataLoader(dataset, batch_sampler=stream())))
        rates["resident (cpu RAM)"].append(rate(resident.loader(stream())))
    out = {"images": n, "size": size, "batch": batch, "batches": args.input_batches,
           "images_per_s": {k: _median(v) for k, v in rates.items()}, "runs": rates,
           "resident_load_s": round(resident.load_s, 3), "threads": torch.get_num_threads()}
    for name, value in out["images_per_s"].items():
        print(f"  input path, {name}: {value:,.0f} images/s ({1000 * batch / value:.3f} ms a batch of {batch})")
    return out


def fps_part(args, work: Path) -> list[dict]:
    """Part 1: every variant ``--repeats`` times, one shared cache (its set generated first)."""
    cache = work / "cache-fps"
    variants = [parse_variant(v) for v in args.fps_variant or FPS_VARIANTS]
    # generate the demo set (and build the decoded cache) outside the measured runs
    print("preparing the demo set and its decoded cache ...", flush=True)
    run_demo(work, "prepare", ["data.decoded_cache=true", "train.fps_warmup_steps=1", "train.compute_fps_steps=0"]
             + args.set, cache, 2, args.timeout, args.threads)
    runs: dict[str, list[dict]] = {name: [] for name, _ in variants}
    for round_index in range(args.repeats):
        order = variants if round_index % 2 == 0 else variants[::-1]
        for name, sets in order:
            result = run_demo(work, f"{name}-{round_index}", sets + args.set
                              + [f"train.compute_fps_steps={args.compute_steps}"], cache, args.steps, args.timeout,
                              args.threads)
            runs[name].append(result)
            print(f"  {name} round {round_index + 1}: fps {result.get('fps')}, compute {result.get('compute_fps')}, "
                  f"load {result.get('load_before')} -> {result.get('load_after')} {result.get('error') or ''}",
                  flush=True)
    summary = []
    for name, sets in variants:
        fps = _median([r.get("fps") for r in runs[name]])
        compute = _median([r.get("compute_fps") for r in runs[name]])
        summary.append({"variant": name, "sets": sets, "fps_median": fps, "compute_fps_median": compute,
                        "fps_over_compute": round(fps / compute, 3) if fps and compute else None,
                        "step_ms_p50_median": _median([r.get("step_ms_p50") for r in runs[name]]),
                        "resident_data": next((r.get("resident_data") for r in runs[name] if r.get("resident_data")),
                                              None),
                        "runs": runs[name]})
    return summary


def demo_part(args, work: Path) -> list[dict]:
    """Part 2: each demo variant from an empty cache, end to end."""
    results = []
    for text in args.demo_variant or ["demo:"]:
        name, sets = parse_variant(text)
        cache = work / f"cache-{name}"
        shutil.rmtree(cache, ignore_errors=True)  # the set is generated inside the timed run
        result = run_demo(work, name, sets + args.set, cache, args.demo_max_steps, args.timeout, args.threads)
        results.append(result)
        print(f"  demo {name}: {result.get('wall_s')} s, LFW {result.get('lfw_accuracy')}, fps {result.get('fps')}, "
              f"compute {result.get('compute_fps')}, load {result.get('load_before')} -> {result.get('load_after')} "
              f"{result.get('error') or ''}", flush=True)
    return results


def _fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(machine: dict, fps: list[dict], demos: list[dict]) -> str:
    lines = [f"machine: {machine['cpu_model']}, {machine.get('cpu_count')} cores, ISA {machine['cpu_capability']}, "
             f"torch {machine.get('torch')}, run threads: {machine['run_threads']}, load at start "
             f"{machine.get('load_average')}"]
    if fps:
        lines += ["", "| variant | end to end img/s | compute-only img/s | ratio | step p50 ms |",
                  "|---|---:|---:|---:|---:|"]
        for row in fps:
            lines.append(f"| {row['variant']} | {_fmt(row['fps_median'])} | {_fmt(row['compute_fps_median'])} | "
                         f"{_fmt(row['fps_over_compute'], 3)} | {_fmt(row['step_ms_p50_median'])} |")
    if demos:
        lines += ["", "| demo | wall s | data generated s | steps | end to end img/s | compute-only img/s | LFW |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for row in demos:
            acc = row.get("lfw_accuracy")
            acc_text = "-" if acc is None else f"{acc:.5f}+-{row.get('lfw_accuracy_std') or 0:.5f}"
            lines.append(f"| {row['label']} | {_fmt(row.get('wall_s'))} | {_fmt(row.get('data_generated_s'))} | "
                         f"{row.get('steps') or '-'} | {_fmt(row.get('fps'))} | {_fmt(row.get('compute_fps'))} | "
                         f"{acc_text} |")
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600, help="steps of each part-1 run (default 600)")
    parser.add_argument("--compute-steps", type=int, default=40, help="compute-only steps per run (default 40)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of part 1 (default 2)")
    parser.add_argument("--fps-variant", action="append", help="part-1 variant NAME:KEY=V,... (repeatable)")
    parser.add_argument("--demo-variant", action="append", help="part-2 demo NAME:KEY=V,... (repeatable)")
    parser.add_argument("--demo-max-steps", type=int, default=0, help="cap part-2 runs (0: the profile's)")
    parser.add_argument("--set", action="append", default=[], help="KEY=V for every run (repeatable)")
    parser.add_argument("--input-images", type=int, default=8000, help="part 0: images in the set (default 8000)")
    parser.add_argument("--input-size", type=int, default=72, help="part 0: image side in px (default 72, the demo's)")
    parser.add_argument("--input-batches", type=int, default=300, help="part 0: timed batches (default 300)")
    parser.add_argument("--skip-input", action="store_true")
    parser.add_argument("--skip-fps", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (small set, few steps)")
    parser.add_argument("--threads", type=int, default=0,
                        help="OMP_NUM_THREADS for the runs (default: unset, torch uses every core); 1 keeps "
                             "a shared machine's figures steady: with another job on one of 2 cores, 2 threads "
                             "stall at every parallel region")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    parser.add_argument("--work", help="work folder (default: a temporary one, removed)")
    parser.add_argument("--json", help="write every figure here")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.compute_steps, args.repeats, args.demo_max_steps = 30, 5, 1, 30
        args.input_images, args.input_batches = 500, 20
        args.set = args.set + ["data.demo_train_identities=40", "data.demo_images_per_identity=8",
                               "data.demo_test_identities=60"]
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    import torch

    from modelzoo.measure import env as envinfo

    machine = machine_facts("cpu")
    machine.update(cpu_model=envinfo.cpu_model(), cpu_capability=torch.backends.cpu.get_cpu_capability(),
                   run_threads=args.threads or "torch's default (all cores)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="resident-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        if args.threads:
            import torch
            torch.set_num_threads(args.threads)
        inputs = None if args.skip_input else input_part(args, work)
        fps = [] if args.skip_fps else fps_part(args, work)
        demos = [] if args.skip_demo else demo_part(args, work)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    machine["load_average_end"] = _load()
    print()
    print(table(machine, fps, demos))
    if inputs:
        print("input path alone: " + ", ".join(f"{k} {v:,.0f} images/s" for k, v in inputs["images_per_s"].items()))
    print(f"\nbench wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "input": inputs, "fps": fps, "demo": demos,
                                               "args": vars(args)},
                                              indent=2, default=str))
    failed = [r for r in demos if r.get("error")] + [r for row in fps for r in row["runs"] if r.get("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
