"""What the power sampler (modelzoo/power.py, issue 14) costs a training loop, on the CPU.

A fixed training-like workload (a small conv net, forward + backward + SGD on one random
batch, ``--threads`` torch threads) runs in blocks of about ``--seconds`` each, with the
sampler off and on, interleaved in one call: every repeat runs each arm once, the order
rotated from repeat to repeat so that a slow spell of a shared machine hits all arms. The
table gives each arm's median images/s, the median of the per-repeat ratios to "off" (the
block before or after, so drift cancels) and their range, the ratio of the medians, and the
sampler's own CPU time per second (its thread; a subprocess backend's children too).

Arms (``--arms``, default ``off,file,subprocess,detected``):

- ``off``: no sampler.
- ``file``: the sampler with a reader doing RAPL-like work per reading: read and parse
  two small /proc files (one per "package"), as a counter, through the whole sampler path.
- ``subprocess``: the sampler with the ixsmi backend (``SmiCsvReader``) running ``cat`` of
  the hand-made 8-card CSV sample: one process spawn + CSV parse per reading. The real
  ``ixsmi`` does driver work on top: run ``detected`` on a card host for its own figure.
- ``detected``: ``PowerSampler.for_device(--power-device)``, the real backend, when one
  reads here (skipped, with the reason, when none does; RAPL is root-only on Linux >= 5.10).

    .venv/bin/python bench/power_overhead.py --json /tmp/power_overhead.json
    .venv/bin/python bench/power_overhead.py --quick          # seconds, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

from _common import REPO

from modelzoo.power import DEFAULT_HZ, PowerSampler
from modelzoo.power_readers import Reading, SmiCsvReader, _run_tool

SAMPLE_CSV = REPO / "tests" / "modelzoo" / "data" / "handmade_smi_power_noheader_nounits.csv"


def build_step(batch: int, size: int, classes: int):
    """A training step of a small conv net on one random batch (no data loading)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
        nn.Conv2d(128, 128, 3, stride=1, padding=1), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    inputs = torch.randn(batch, 3, size, size)
    targets = torch.randint(0, classes, (batch,))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(inputs), targets).backward()
        optimizer.step()

    return step


class ProcFileReader:
    """RAPL-like work per reading: read and parse two small /proc files as energy counters."""

    source = "proc-file"
    cards = [0, 1]

    def __call__(self) -> dict:
        out = {}
        for card, path in enumerate(("/proc/self/stat", "/proc/stat")):
            with open(path) as handle:
                text = handle.read(4096)
            fields = text.split()
            out[card] = Reading(energy_j=float(int(fields[13 if card == 0 else 1])), wrap_j=2.0**32)
        return out


def make_sampler(arm: str, hz: float, power_device: str):
    if arm == "off":
        return None
    if arm == "file":
        return PowerSampler(ProcFileReader(), "proc-file", hz=hz)
    if arm == "subprocess":
        reader = SmiCsvReader("ixsmi", runner=lambda argv, timeout: _cat(timeout))
        return PowerSampler(reader, "cat-csv", hz=hz)
    if arm == "detected":
        return PowerSampler.for_device(power_device, hz=hz)
    raise SystemExit(f"power_overhead.py: unknown arm {arm!r}")


def _cat(timeout: float) -> str:

    return _run_tool(["cat", str(SAMPLE_CSV)], timeout)


def run_block(step, steps: int, images_per_step: int, sampler) -> dict:
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if sampler is not None:
        sampler.start()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    out = {"img_s": steps * images_per_step / seconds, "seconds": seconds}
    if sampler is not None:
        report = sampler.stop().as_dict(images=steps * images_per_step)
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        child_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
        out.update(readings=max((c["samples"] for c in report["per_card"]), default=0),
                   sampler_cpu_s=(report["sampler_cpu_s"] or 0.0) + child_cpu,
                   thread_cpu_s=report["sampler_cpu_s"], child_cpu_s=child_cpu,
                   source=report["source"], reason=report["reason"])
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default="off,file,subprocess,detected")
    parser.add_argument("--hz", type=float, default=DEFAULT_HZ)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=3.0, help="target length of one block")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--power-device", default="cpu", help="the detected arm's device (cpu or cuda)")
    parser.add_argument("--json", help="write every value to this file")
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.seconds = 1, 0.5

    import torch
    from machine import describe, facts

    torch.set_num_threads(args.threads)
    info = facts("cpu")
    print(describe({k: info.get(k) for k in ("cpu", "cpu_capability", "cpu_count", "load_average",
                                             "torch", "torch_threads")}))
    arms = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
    if "off" not in arms:
        arms.insert(0, "off")
    skipped = {}
    if "detected" in arms:
        probe = PowerSampler.for_device(args.power_device, hz=args.hz)
        if probe.reader is None:
            skipped["detected"] = probe.reason
            arms.remove("detected")
        else:
            print(f"detected backend: {probe.source}")
        probe.stop()
    for arm, reason in skipped.items():
        print(f"arm {arm} skipped: {reason}")

    step = build_step(args.batch, args.size, args.classes)
    for _ in range(3):
        step()
    begin = time.perf_counter()
    calibration = 0
    while time.perf_counter() - begin < 1.0 or calibration < 2:
        step()
        calibration += 1
    step_s = (time.perf_counter() - begin) / calibration
    steps = max(2, round(args.seconds / step_s))
    print(f"workload: conv net, batch {args.batch} at {args.size} px, {args.threads} threads, "
          f"{step_s * 1e3:.1f} ms/step; blocks of {steps} steps; sampler at {args.hz:g} Hz; "
          f"{args.repeats} repeats of {len(arms)} arms", flush=True)

    blocks = {arm: [] for arm in arms}
    for repeat in range(args.repeats):
        shift = repeat % len(arms)
        for arm in arms[shift:] + arms[:shift]:
            blocks[arm].append(run_block(step, steps, args.batch, make_sampler(arm, args.hz, args.power_device)))
        print(f"repeat {repeat + 1}: " + ", ".join(f"{arm} {blocks[arm][-1]['img_s']:.1f}" for arm in arms),
              flush=True)

    off = [block["img_s"] for block in blocks["off"]]
    summary = {}
    print("\n| arm | median img/s | ratio to off (median of repeats) | range | ratio of medians | "
          "readings/block | sampler CPU ms/s |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for arm in arms:
        rates = [block["img_s"] for block in blocks[arm]]
        ratios = [rate / base for rate, base in zip(rates, off)]
        row = {"median_img_s": statistics.median(rates), "img_s": rates,
               "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
               "ratio_of_medians": statistics.median(rates) / statistics.median(off)}
        if arm != "off":
            row["readings_per_block"] = statistics.median(block["readings"] for block in blocks[arm])
            row["sampler_cpu_ms_per_s"] = statistics.median(
                block["sampler_cpu_s"] / block["seconds"] * 1e3 for block in blocks[arm])
            row["source"] = blocks[arm][0]["source"]
            row["reason"] = blocks[arm][0]["reason"]
        summary[arm] = row
        extra = (f"{row['readings_per_block']:g} | {row['sampler_cpu_ms_per_s']:.2f}" if arm != "off" else "- | -")
        print(f"| {arm} | {row['median_img_s']:.1f} | {row['ratio_median']:.4f} | "
              f"{row['ratio_min']:.3f}-{row['ratio_max']:.3f} | {row['ratio_of_medians']:.4f} | {extra} |")
    print(f"load average after: {[round(v, 2) for v in os.getloadavg()]}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": info, "args": vars(args), "step_ms": step_s * 1e3, "steps_per_block": steps,
            "skipped": skipped, "summary": summary, "blocks": blocks,
            "load_average_after": list(os.getloadavg())}, indent=1, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
