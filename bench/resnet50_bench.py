"""ResNet-50 training speed: our trainer's step against a plain torchvision-reference loop, and the ceiling.

On one device, in one call, on synthetic data (labelled so):

- ours: ``python -m modelzoo run resnet50`` in a fresh process, the plugin's demo source
  drawn at ``--size`` px (uint8 images decoded once into the memmap cache; flip and
  ImageNet normalization on the device, as for ImageNet), ``model.arch=resnet50``, the
  imagenet profile's SGD, ``--batch`` per card, ``--amp``, channels_last. Read back from the
  run record: ``fps`` (end to end, loader included, over the steps after the warm-up,
  the device synchronized at both ends) and ``compute_fps`` (the trainer's step repeated
  on one batch already on the device).
- plain: torchvision's reference ``train_one_epoch`` step written out (torchvision's
  resnet50, SGD momentum 0.9 / weight decay 1e-4, CrossEntropyLoss, ``torch.autocast``
  + GradScaler for fp16, channels_last model and input) on a float batch already on the
  device, in a fresh process, timed the same way as our compute-only figure.
- ceiling: the device's measured matmul TFLOP/s in the run's precision (bench/ceilings.py)
  and ResNet-50's FLOPs per training image (3x the counted forward at ``--size``): the
  fraction of that peak each figure reaches.

Rounds alternate the order (plain, ours / ours, plain) so a slow spell of a shared machine
hits both; the table shows medians and the ratio ours / plain.

    python bench/resnet50_bench.py                          # a card: 224 px, the zoo's AMP batch 300, fp16
    python bench/resnet50_bench.py --device cpu --quick     # seconds on a CPU: 64 px, batch 8, fp32
    python bench/resnet50_bench.py --json FILE              # every value
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from benchpath import BENCH, REPO

CLASSIFICATION = REPO / "plugins" / "classification"
if str(CLASSIFICATION) not in sys.path:
    sys.path.insert(0, str(CLASSIFICATION))

QUICK = {"size": 64, "batch": 8, "steps": 3, "warmup": 2, "repeats": 1, "amp": "none", "workers": 0}
CLASSES = 10  # the demo generator's classes; the plain loop's classifier has as many outputs
PRECISION = {"none": "fp32", "bf16": "bf16", "fp16": "fp16"}


class BenchError(Exception):
    """Bad input or a broken setup: one line, exit status 2."""


# --- The plain loop (runs in its own process: ``--plain-json FILE``) ---------------------------

def plain_loop(device_name: str, size: int, batch: int, amp: str, channels_last: bool, steps: int,
               warmup: int) -> dict:
    """torchvision's reference training step on a device-resident batch; images/s over ``steps``."""
    import torch
    from torch import nn
    from torchvision.models import resnet50

    device = torch.device(device_name)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as our trainer (train.cudnn_benchmark) and the reference's runs
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # fp32 stays fp32
    torch.manual_seed(0)
    model = resnet50(num_classes=CLASSES).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    images = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=memory_format)
    target = torch.randint(0, CLASSES, (batch,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = criterion(model(images), target)
        optimizer.zero_grad()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()

    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    seconds = time.perf_counter() - started
    return {"compute_fps": batch * steps / seconds, "step_ms": 1000 * seconds / steps, "steps": steps}


# --- Ours, through the product ------------------------------------------------------------

def _env(work: Path, runs_dir: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(CLASSIFICATION), str(BENCH)]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(MODELZOO_DISABLE_PLUGIN_AUTOLOAD="1", MODELZOO_PLUGINS="modelzoo_classification.plugin",
               MODELZOO_RUNS=str(runs_dir), MODELZOO_CACHE=str(work / "cache"))
    env.pop("MODELZOO_ZOO", None)
    return env


def ours_command(args) -> list[str]:
    per_class = math.ceil(args.batch / CLASSES)  # one batch per pass: every step reads the same images
    sets = [
        "model.arch=resnet50", f"data.demo_classes={CLASSES}", f"data.demo_train_per_class={per_class}",
        "data.demo_test_per_class=1", f"data.val_resize={args.size}", f"data.train_crop={args.size}",
        f"data.val_crop={args.size}", "data.scale_jitter=0.0",  # ImageNet's device work: flip + normalize
        f"train.batch_size={args.batch}", f"train.amp={args.amp}", f"train.channels_last={str(args.channels_last).lower()}",
        f"train.num_workers={args.workers}", f"train.fps_warmup_steps={args.warmup}",
        f"train.compute_fps_steps={args.steps}", f"train.log_every={max(1, args.steps)}",
        "train.eval_every_epochs=0", "train.checkpoint_every=0",
        "optimizer.name=sgd", "optimizer.lr=0.1", "optimizer.momentum=0.9", "optimizer.weight_decay=0.0001",
        "optimizer.decay_norm_and_bias=true", "schedule.name=constant", "schedule.warmup_epochs=0",
        f"eval.batch_size={min(args.batch, 2 * CLASSES)}",
    ]
    command = [sys.executable, "-m", "modelzoo", "run", "resnet50", "--profile", "demo", "--device", args.device,
               "--data-root", str(Path(args.work) / "data"), "--max-steps", str(args.warmup + args.steps)]
    for item in sets:
        command += ["--set", item]
    return command


def _run(command: list[str], env: dict, timeout: int) -> tuple[int, str]:
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout}s"
    return done.returncode, done.stderr


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def run_ours(args, label: str) -> dict:
    runs_dir = Path(args.work) / "runs" / label
    shutil.rmtree(runs_dir, ignore_errors=True)
    runs_dir.mkdir(parents=True)
    command = ours_command(args)
    started = time.perf_counter()
    returncode, err = _run(command, _env(Path(args.work), runs_dir), args.run_timeout)
    records = sorted(runs_dir.glob("*/record.json"))
    if not records:
        return {"error": f"exit {returncode}, no run record: {_tail(err)}"}
    record = json.loads(records[-1].read_text())
    metrics = record.get("metrics") or {}
    result = {"fps": metrics.get("fps"), "compute_fps": metrics.get("compute_fps"),
              "step_ms_p50": metrics.get("step_ms_p50"), "status": record.get("status"),
              "data_kind": (record.get("data") or {}).get("kind"), "wall_s": time.perf_counter() - started,
              "optimizer_implementation": (record.get("env") or {}).get("optimizer_implementation")}
    if record.get("status") != "success" or returncode != 0:
        result["error"] = f"run {record.get('status')} (exit {returncode}): {record.get('error') or _tail(err)}"
    return result


def run_plain(args, label: str) -> dict:
    out = Path(args.work) / "plain" / f"{label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--plain-json", str(out), "--device", args.device,
               "--size", str(args.size), "--batch", str(args.batch), "--amp", args.amp, "--steps", str(args.steps),
               "--warmup", str(args.warmup)] + ([] if args.channels_last else ["--no-channels-last"])
    started = time.perf_counter()
    returncode, err = _run(command, _env(Path(args.work), Path(args.work) / "runs" / "plain"), args.run_timeout)
    if returncode != 0 or not out.is_file():
        return {"error": f"exit {returncode}: {_tail(err)}"}
    return {**json.loads(out.read_text()), "wall_s": time.perf_counter() - started}


# --- Ceiling ------------------------------------------------------------------------------

def resnet50_gflop_per_training_image(size: int) -> float:
    """3 x the forward FLOPs of one image (convolutions and matmuls, counted on the meta device)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from torchvision.models import resnet50

    with torch.device("meta"):
        network = resnet50(num_classes=CLASSES).eval()
    with FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, 3, size, size, device="meta"))
    return 3 * counter.get_total_flops() / 1e9


def matmul_peak(device_name: str, amp: str, quick: bool) -> dict:
    import torch
    from ceilings import SIZES, matmul_ceilings

    n, _, seconds = SIZES[(device_name, quick)]
    rows = matmul_ceilings(torch.device(device_name), n, 3 if quick else 5, seconds)
    wanted = PRECISION[amp]
    row = next((r for r in rows if r["precision"] == wanted), {})
    return {"precision": wanted, "tflops": row.get("tflops"), "n": row.get("n"), "note": row.get("note")}


# --- Report -------------------------------------------------------------------------------

def _median(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _fraction(fps: Optional[float], gflop: float, tflops: Optional[float]) -> Optional[float]:
    return fps * gflop * 1e9 / (tflops * 1e12) if fps and tflops else None


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--size", type=int, help="image size (default 224; --quick 64)")
    parser.add_argument("--batch", type=int, help="per-card batch (default 300: the zoo's AMP batch on one card; "
                                                  "--quick 8)")
    parser.add_argument("--amp", choices=("none", "bf16", "fp16"),
                        help="autocast precision (default: fp16 on a card, as the zoo's AMP runs; none on a CPU)")
    parser.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                        help="NCHW instead of the AMP+NHWC configuration's channels_last")
    parser.add_argument("--steps", type=int, help="timed steps (default 30; --quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 10; --quick 2)")
    parser.add_argument("--repeats", type=int, help="rounds of plain + ours (default 3; --quick 1)")
    parser.add_argument("--workers", type=int, help="our loader's workers (default 4 on a card, 0 on a CPU)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: seconds on a CPU")
    parser.add_argument("--work", help="folder for generated data and runs (default: a temporary one)")
    parser.add_argument("--run-timeout", type=int, default=1800, help="seconds per measured process")
    parser.add_argument("--json", help="write every value to this file")
    parser.add_argument("--plain-json", help=argparse.SUPPRESS)  # internal: run the plain loop, write its figures
    args = parser.parse_args(argv)
    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda but no CUDA card is visible; use --device cpu --quick")
    card = args.device == "cuda"
    defaults = QUICK if args.quick else {"size": 224, "batch": 300, "steps": 30, "warmup": 10, "repeats": 3,
                                         "amp": "fp16" if card else "none", "workers": 4 if card else 0}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.size, args.batch, args.steps, args.warmup, args.repeats) < 1 or args.size < 32:
        raise BenchError("--size must be 32 or more and --batch, --steps, --warmup, --repeats positive")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    try:
        args = parse_args(argv)
    except BenchError as exc:
        print(f"resnet50_bench.py: error: {exc}", file=sys.stderr)
        return 2
    if args.plain_json:
        figures = plain_loop(args.device, args.size, args.batch, args.amp, args.channels_last, args.steps, args.warmup)
        Path(args.plain_json).write_text(json.dumps(figures))
        return 0
    from machine import describe, machine_facts

    machine = machine_facts(args.device)
    print(describe(machine), flush=True)
    temporary = None
    if args.work is None:
        temporary = tempfile.mkdtemp(prefix="resnet50-bench-")
        args.work = temporary
    try:
        rounds = {"plain": [], "ours": []}
        for index in range(args.repeats):
            order = ("plain", "ours") if index % 2 == 0 else ("ours", "plain")
            for name in order:
                print(f"round {index + 1}/{args.repeats}: {name} ...", flush=True)
                result = run_plain(args, f"r{index + 1}") if name == "plain" else run_ours(args, f"r{index + 1}")
                rounds[name].append(result)
                shown = "error: " + result["error"] if "error" in result else \
                    f"{_fmt(result.get('fps'))} img/s end to end, " * (name == "ours") + \
                    f"{_fmt(result.get('compute_fps'))} img/s compute-only"
                print(f"  {name}: {shown} ({result.get('wall_s', 0):.0f}s)", flush=True)
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    gflop = resnet50_gflop_per_training_image(args.size)
    peak = matmul_peak(args.device, args.amp, args.quick)
    plain = _median([r.get("compute_fps") for r in rounds["plain"] if "error" not in r])
    ours_fps = _median([r.get("fps") for r in rounds["ours"] if "error" not in r])
    ours_compute = _median([r.get("compute_fps") for r in rounds["ours"] if "error" not in r])
    rows = [("plain torchvision-reference step (device-resident batch)", plain),
            ("ours: trainer step (device-resident batch)", ours_compute),
            ("ours: end to end (loader + device augmentation)", ours_fps)]
    print(f"\nResNet-50 at {args.size} px, batch {args.batch}, amp {args.amp}, channels_last "
          f"{args.channels_last}, {args.device}; synthetic images; {gflop:.2f} GFLOP per training image "
          f"(3x counted forward); {peak['precision']} matmul peak {_fmt(peak['tflops'], 3)} TFLOP/s "
          f"(n={peak['n']})\n")
    print(f"| measurement | images/s, median of {args.repeats} | vs plain | fraction of the matmul peak |")
    print("|---|---:|---:|---:|")
    for name, value in rows:
        ratio = value / plain if value and plain else None
        print(f"| {name} | {_fmt(value)} | {_fmt(ratio, 2)} | {_fmt(_fraction(value, gflop, peak['tflops']), 3)} |")
    errors = [r["error"] for runs in rounds.values() for r in runs if "error" in r]
    for error in errors:
        print(f"error: {error}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": machine, "data": "synthetic (the plugin's demo shapes; random tensors for the plain loop)",
            "settings": {k: getattr(args, k) for k in ("device", "size", "batch", "amp", "channels_last", "steps",
                                                       "warmup", "repeats", "workers", "quick")},
            "gflop_per_training_image": gflop, "matmul_peak": peak, "rounds": rounds,
            "plain_compute_fps": plain, "ours_compute_fps": ours_compute, "ours_fps": ours_fps,
            "ratio_compute": ours_compute / plain if ours_compute and plain else None,
            "ratio_end_to_end": ours_fps / plain if ours_fps and plain else None,
            "fraction_of_peak": {name: _fraction(value, gflop, peak["tflops"]) for name, value in rows}}, indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
