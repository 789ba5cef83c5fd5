"""What the power sampler (modelzoo/measure/power.py, issue 14) costs a training loop, on the CPU.

A fixed training-like workload (a small conv net, forward + backward + SGD on one random
batch, ``--threads`` torch threads) runs in blocks of about ``--seconds`` each, with the
sampler off and on, interleaved in one call: every repeat runs each arm once, the order
rotated from repeat to repeat so that a slow spell of a shared machine hits all arms (and
reversed every other round of rotations, so that each arm follows each of its neighbours). The
table gives each arm's median images/s, the median of the per-repeat ratios to "off" (the
block before or after, so drift cancels) and their range, the ratio of the medians, and the
sampler's own CPU time per second of the blocks, in total over the repeats (its threads; a
subprocess backend's children too).

Arms (``--arms``, default ``off,file,query,query-tool,stream,detected``):

- ``off``: no sampler.
- ``file``: the sampler with a reader doing RAPL-like work per reading: read and parse
  two small /proc files (one per "package"), as a counter, through the whole sampler path.
- ``query`` (``subprocess`` in earlier runs): the ixsmi backend's query mode
  (``SmiCsvReader``) running ``cat`` of the hand-made 8-card CSV sample: one process spawn +
  CSV parse per reading, the cheapest process there is.
- ``query-tool``: the query mode running ``--tool`` once per reading: by default a fake
  ixsmi (a Python script printing the same sample), whose interpreter start-up (some tens of
  ms of CPU) stands in for a driver tool's own start-up.
- ``stream``: the loop mode (``SmiStreamReader``): ``--tool`` started once with ``-lms``
  before the block (as the trainer opens it before the timed window) printing the sample
  every ``--loop-ms``, a thread parsing it, each reading the latest rows. Its child CPU is the
  tool's own during the block (``/proc/PID/stat``), its start-up left out.
- ``detected``: ``PowerSampler.for_device(--power-device)``, the real backend, when one
  reads here (skipped, with the reason, when none does; RAPL is root-only on Linux >= 5.10).

The fake tool does no driver work; on a card host run ``--tool ixsmi`` (or ``nvidia-smi``)
for the real tool in both modes, or ``detected`` for what the trainer would pick.

    .venv/bin/python bench/power_overhead.py --json /tmp/power_overhead.json
    .venv/bin/python bench/power_overhead.py --quick          # seconds, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchpath import REPO

from modelzoo.measure.power import DEFAULT_HZ, PowerSampler
from modelzoo.measure.power_readers import SMI_LOOP_MS, Reading, SmiCsvReader, SmiStreamReader, run_tool

SAMPLE_CSV = REPO / "tests" / "modelzoo" / "data" / "handmade_smi_power_noheader_nounits.csv"
ARMS = "off,file,query,query-tool,stream,detected"

FAKE_TOOL = '''#!{python}
"""A stand-in for ixsmi (bench/power_overhead.py): the CSV sample once, or every MS with -lms MS / --loop-ms=MS."""
import sys, time
args = sys.argv[1:]
ms = args[args.index("-lms") + 1] if "-lms" in args else None
for arg in args:
    if arg.startswith("--loop-ms="):
        ms = arg.split("=", 1)[1]
with open({sample!r}) as handle:
    text = handle.read()
if ms is None:
    sys.stdout.write(text)
    sys.exit(0)
while True:
    sys.stdout.write(text)
    sys.stdout.flush()
    time.sleep(int(ms) / 1000)
'''


def write_fake_tool(folder: Path) -> Path:
    tool = folder / "ixsmi"
    tool.write_text(FAKE_TOOL.format(python=sys.executable, sample=str(SAMPLE_CSV)))
    tool.chmod(0o755)
    return tool


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of a running process (Linux ``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def make_sampler(arm: str, hz: float, power_device: str, tool: str = "ixsmi", loop_ms: int = SMI_LOOP_MS):
    if arm == "off":
        return None
    if arm == "file":
        return PowerSampler(ProcFileReader(), "proc-file", hz=hz)
    if arm in ("query", "subprocess"):
        reader = SmiCsvReader("ixsmi", runner=lambda argv, timeout: _cat(timeout))
        return PowerSampler(reader, "cat-csv", hz=hz)
    if arm == "query-tool":
        reader = SmiCsvReader(tool)
        return PowerSampler(reader, reader.source, hz=hz)
    if arm == "stream":
        began = time.perf_counter()
        reader = SmiStreamReader(tool, loop_ms=loop_ms)
        sampler = PowerSampler(reader, reader.source, hz=hz)
        sampler.open_s = time.perf_counter() - began
        return sampler
    if arm == "detected":
        return PowerSampler.for_device(power_device, hz=hz)
    raise SystemExit(f"power_overhead.py: unknown arm {arm!r}")


def _cat(timeout: float) -> str:

    return run_tool(["cat", str(SAMPLE_CSV)], timeout)


def run_block(step, steps: int, images_per_step: int, sampler) -> dict:
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    pid = getattr(sampler.reader, "pid", None) if sampler is not None else None  # a loop-mode tool
    tool0 = _proc_cpu_s(pid) if pid else None
    if sampler is not None:
        sampler.start()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - start
    out = {"img_s": steps * images_per_step / seconds, "seconds": seconds}
    if sampler is not None:
        tool1 = _proc_cpu_s(pid) if pid else None  # before stop() reaps it
        report = sampler.stop().as_dict(images=steps * images_per_step)
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if pid:
            child_cpu = tool1 - tool0  # during the block; its start-up came before
        else:
            child_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
        out.update(readings=max((c["samples"] for c in report["per_card"]), default=0),
                   sampler_cpu_s=(report["sampler_cpu_s"] or 0.0) + child_cpu,
                   thread_cpu_s=report["sampler_cpu_s"], child_cpu_s=child_cpu,
                   open_s=getattr(sampler, "open_s", None),
                   source=report["source"], reason=report["reason"])
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default=ARMS)
    parser.add_argument("--hz", type=float, default=DEFAULT_HZ)
    parser.add_argument("--tool", help="the query-tool and stream arms' tool (default: a fake ixsmi printing "
                                       "the 8-card sample; on a card host: ixsmi or nvidia-smi)")
    parser.add_argument("--loop-ms", type=int, default=SMI_LOOP_MS, help="the stream arm's interval")
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
    scratch = None
    if args.tool is None and {"query-tool", "stream"} & set(arms):
        scratch = Path(tempfile.mkdtemp(prefix="power_overhead_"))
        args.tool = str(write_fake_tool(scratch))
        print(f"tool: a fake ixsmi ({sys.executable} running a script) printing {SAMPLE_CSV.name}")
    try:
        run_arms(args, arms, info, skipped)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def run_arms(args, arms: list, info: dict, skipped: dict) -> None:

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
    loads = [os.getloadavg()[0]]
    for repeat in range(args.repeats):
        shift = repeat % len(arms)
        order = arms[shift:] + arms[:shift]
        if (repeat // len(arms)) % 2:  # every other round backwards: each arm follows both neighbours
            order.reverse()
        for arm in order:
            sampler = make_sampler(arm, args.hz, args.power_device, args.tool, args.loop_ms)
            blocks[arm].append(run_block(step, steps, args.batch, sampler))
        loads.append(os.getloadavg()[0])
        print(f"repeat {repeat + 1}: " + ", ".join(f"{arm} {blocks[arm][-1]['img_s']:.1f}" for arm in arms)
              + f"; load {loads[-1]:.2f}", flush=True)

    off = [block["img_s"] for block in blocks["off"]]
    summary = {}
    print("\n| arm | source | median img/s | ratio to off (median of repeats) | range | mean +- s.e. | "
          "ratio of medians | readings/block | sampler CPU ms/s (threads + tool) |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    for arm in arms:
        rates = [block["img_s"] for block in blocks[arm]]
        ratios = [rate / base for rate, base in zip(rates, off)]
        row = {"median_img_s": statistics.median(rates), "img_s": rates,
               "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
               "ratio_mean": statistics.fmean(ratios),
               "ratio_se": statistics.stdev(ratios) / len(ratios) ** 0.5 if len(ratios) > 1 else None,
               "ratio_of_medians": statistics.median(rates) / statistics.median(off)}
        if arm != "off":
            row["readings_per_block"] = statistics.median(block["readings"] for block in blocks[arm])
            seconds = sum(block["seconds"] for block in blocks[arm])
            for key in ("sampler_cpu_s", "thread_cpu_s", "child_cpu_s"):  # totals: /proc counts 10 ms ticks
                row[key.replace("_s", "_ms_per_s", 1)] = sum(block[key] or 0.0 for block in blocks[arm]) / seconds * 1e3
            opened = [block["open_s"] for block in blocks[arm] if block.get("open_s") is not None]
            row["open_s_median"] = statistics.median(opened) if opened else None
            row["source"] = blocks[arm][0]["source"]
            row["reason"] = blocks[arm][0]["reason"]
        summary[arm] = row
        extra = (f"{row['readings_per_block']:g} | {row['sampler_cpu_ms_per_s']:.2f} "
                 f"({row['thread_cpu_ms_per_s']:.2f} + {row['child_cpu_ms_per_s']:.2f})" if arm != "off" else "- | -")
        print(f"| {arm} | {row.get('source') or '-'} | {row['median_img_s']:.1f} | {row['ratio_median']:.4f} | "
              f"{row['ratio_min']:.3f}-{row['ratio_max']:.3f} | {row['ratio_mean']:.4f} +- {row['ratio_se'] or 0:.4f} | "
              f"{row['ratio_of_medians']:.4f} | {extra} |")
    if summary.get("stream", {}).get("open_s_median") is not None:
        print(f"stream: the tool started and its first block parsed in {summary['stream']['open_s_median']:.2f} s "
              "(median, before each block)")
    print(f"load average (1 min) at the start and after each repeat: min {min(loads):.2f}, median "
          f"{statistics.median(loads):.2f}, max {max(loads):.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": info, "args": vars(args), "step_ms": step_s * 1e3, "steps_per_block": steps,
            "skipped": skipped, "summary": summary, "blocks": blocks, "load_1min": loads,
            "load_average_after": list(os.getloadavg())}, indent=1, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
