"""Training FPS, ours against the plain port, on the same images and machine in one call.

"Ours" is the product path: ``python -m modelzoo run facenet --profile casia`` with the
images given as identity folders (``data.source=folders``), read back from the run
record (``metrics.fps``, ``metrics.compute_fps``). "Plain" is bench/plain_port.py, the
loop a user would write. Every measurement is a fresh process. Each round runs the plain
port once and every variant of ours once, one after another (the order reversed every
other round), so that a slow spell of a shared machine hits all of them alike; the table
gives medians over the rounds and the ratio of the medians, ours / plain:

- end to end: training images/s from the image files (decode and augmentation included),
  over the steps after the warm-up, the device synchronized at both ends;
- compute-only: the same training step repeated on one batch already on the device.

Variants of ours are sets of ``--set`` overrides: ``--variant NAME:KEY=V,KEY=V``
(repeatable; ``NAME:`` alone is the profile as it is). Defaults: on cuda ``fp32``,
``bf16+cl`` (bf16 autocast, channels_last), ``bf16+cl+cache`` (+ the decoded-image
cache), ``bf16+cl+cache+compile`` (+ torch.compile); on cpu ``fp32``, ``cl``, ``cl+cache``.
``--ours-set KEY=V`` (repeatable) applies to every variant.

Images: ``--images-dir`` (one folder of same-size images per identity, e.g. 182 px aligned
faces), else a set drawn by the demo generator into ``--work``. Our run ends with the
plugin's LFW-protocol evaluation, which needs pairs: a small generated pair set (20
synthetic people) serves, outside the timed window.

    PYTHONPATH=.:plugins/facenet python bench/train_bench.py --device cuda --steps 100 --warmup 10 \\
        --repeats 3 --workers 8 --json /tmp/train_bench.json
    python bench/train_bench.py --quick            # a seconds-long smoke run on the CPU
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from benchpath import BENCH, REPO

DEFAULT_VARIANTS = {
    "cuda": ["fp32:",
             "bf16+cl:train.amp=bf16,train.channels_last=true",
             "bf16+cl+cache:train.amp=bf16,train.channels_last=true,data.decoded_cache=true",
             "bf16+cl+cache+compile:train.amp=bf16,train.channels_last=true,data.decoded_cache=true,"
             "train.compile=true"],
    "cpu": ["fp32:",
            "cl:train.channels_last=true",
            "cl+cache:train.channels_last=true,data.decoded_cache=true"],
}
QUICK = {"image_size": 84, "crop": 75, "batch": 4, "steps": 2, "warmup": 1, "compute_steps": 2, "repeats": 1,
         "identities": 3, "images_per_identity": 4, "workers": 0}
EVAL_PEOPLE = 20  # the fewest the generator allows: 10 folds of 2 people
PLAIN = "plain port"


class BenchError(Exception):
    """Bad input or a broken setup: one line, exit status 2."""


@dataclass
class Variant:
    name: str
    sets: list[str]
    fps: list[Optional[float]] = field(default_factory=list)
    compute_fps: list[Optional[float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {"fps_median": _median(self.fps), "fps_min": _min(self.fps), "fps_max": _max(self.fps),
                "compute_fps_median": _median(self.compute_fps)}


def parse_variant(text: str) -> Variant:
    """``NAME:KEY=V,KEY=V`` (or ``NAME:``) -> Variant."""
    name, sep, rest = text.partition(":")
    if not sep or not name.strip():
        raise BenchError(f"--variant {text!r}: expected NAME:KEY=VALUE,KEY=VALUE (or NAME: for no changes)")
    sets = [item.strip() for item in rest.split(",") if item.strip()]
    for item in sets:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise BenchError(f"--variant {text!r}: {item!r} is not KEY=VALUE")
    return Variant(name.strip(), sets)


def _values(values: list[Optional[float]]) -> list[float]:
    return [v for v in values if v is not None]


def _median(values):
    return statistics.median(_values(values)) if _values(values) else None


def _min(values):
    return min(_values(values)) if _values(values) else None


def _max(values):
    return max(_values(values)) if _values(values) else None


def _ratio(ours: Optional[float], plain: Optional[float]) -> Optional[float]:
    return ours / plain if ours and plain else None


# --- Data ------------------------------------------------------------------------------

def _first_image_size(train_dir: Path) -> tuple[int, int]:
    from PIL import Image

    for folder in sorted(p for p in train_dir.iterdir() if p.is_dir()):
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() in (".png", ".jpg", ".jpeg"):
                with Image.open(file) as image:
                    return image.size
    raise BenchError(f"no .png/.jpg images in identity folders under {train_dir}")


def prepare_data(args) -> dict:
    """Training images (given or generated) and a small LFW-style pair set for our evaluation."""
    from modelzoo_facenet.demo import generate_demo_dataset

    work = Path(args.work)
    size = args.image_size
    if args.images_dir:
        train_dir = Path(args.images_dir).resolve()
        if not train_dir.is_dir():
            raise BenchError(f"--images-dir {train_dir} is not a directory")
        width, height = _first_image_size(train_dir)
        if (width, height) != (size, size):
            # Ours would resize to --image-size and the plain port would not: not the same work.
            raise BenchError(f"images in {train_dir} are {width}x{height}, not {size}x{size}; "
                             f"pass --image-size {width}" if width == height else
                             f"images in {train_dir} are {width}x{height}; use square aligned faces")
        evaluation = generate_demo_dataset(work / f"eval-{size}px", seed=1, train_identities=1,
                                           images_per_identity=1, test_identities=EVAL_PEOPLE,
                                           test_images_per_identity=2, pairs_per_fold=1, image_size=size,
                                           log=print)
        generated = False
    else:
        evaluation = generate_demo_dataset(
            work / f"faces-{size}px-{args.identities}x{args.images_per_identity}", seed=0,
            train_identities=args.identities, images_per_identity=args.images_per_identity,
            test_identities=EVAL_PEOPLE, test_images_per_identity=2, pairs_per_fold=1, image_size=size,
            log=print)
        train_dir = evaluation.train_dir
        generated = True
    files = [p for p in train_dir.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    identities = sum(1 for p in train_dir.iterdir() if p.is_dir())
    if len(files) < args.batch:
        raise BenchError(f"{train_dir} holds {len(files)} images, fewer than one batch of {args.batch}")
    total = sum(p.stat().st_size for p in files)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    preread = total < ram / 4
    if preread:  # into the page cache, so that the first run does not pay the disk alone
        for path in files:
            path.read_bytes()
    return {"train_dir": str(train_dir), "images": len(files), "identities": identities, "image_size": size,
            "bytes": total, "preread_into_page_cache": preread,
            "source": "demo generator (synthetic faces)" if generated else "--images-dir",
            "lfw_dir": str(evaluation.lfw_dir), "lfw_pairs": str(evaluation.pairs_path)}


# --- One measurement ---------------------------------------------------------------------

def _subprocess_env(work: Path, runs_dir: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "plugins" / "facenet")]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(MODELZOO_DISABLE_PLUGIN_AUTOLOAD="1", MODELZOO_PLUGINS="modelzoo_facenet.plugin",
               MODELZOO_RUNS=str(runs_dir), MODELZOO_CACHE=str(work / "cache"))
    return env


def _run(command: list[str], env: dict, timeout: int) -> tuple[int, str]:
    """(exit status, stderr) of ``command``; past ``timeout`` seconds: SIGTERM (modelzoo then
    records the run as interrupted), and SIGKILL if it has not ended 30 s later."""
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        raise
    return process.returncode, err


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def ours_command(args, data: dict, sets: list[str]) -> list[str]:
    fixed = [
        "data.source=folders", f"data.train_dir={data['train_dir']}", f"data.lfw_dir={data['lfw_dir']}",
        f"data.lfw_pairs={data['lfw_pairs']}", f"data.image_size={args.image_size}",
        f"data.crop_size={args.crop}", "data.validation_fraction=0",  # both train on every image
        f"train.batch_size={args.batch}", f"train.num_workers={args.workers}",
        f"train.fps_warmup_steps={args.warmup}", f"train.compute_fps_steps={args.compute_steps}",
        "train.eval_every_epochs=0", "train.checkpoint_every=0",
        # LFW's centre crop at the training crop's size: the folder holds --image-size images, and a
        # face model reads a folder only at the size it holds (no silent resize)
        f"eval.image_size={args.crop}", f"eval.crop_size={args.crop}", "eval.num_workers=0",
    ]
    command = [sys.executable, "-m", "modelzoo", "run", "facenet", "--profile", "casia", "--device", args.device,
               "--data-root", str(Path(args.work)), "--max-steps", str(args.warmup + args.steps)]
    for item in fixed + list(args.ours_set) + sets:
        command += ["--set", item]
    return command


def run_ours(args, data: dict, variant: Variant, label: str) -> dict:
    work = Path(args.work)
    runs_dir = work / "runs" / label
    shutil.rmtree(runs_dir, ignore_errors=True)  # only this call's record may be read back
    runs_dir.mkdir(parents=True)
    command = ours_command(args, data, variant.sets)
    started = time.perf_counter()
    try:
        returncode, err = _run(command, _subprocess_env(work, runs_dir), args.run_timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.run_timeout}s", "command": command}
    wall = time.perf_counter() - started
    records = sorted(runs_dir.glob("*/record.json"))
    if not records:
        return {"error": f"exit {returncode}, no run record: {_tail(err)}", "command": command}
    record = json.loads(records[-1].read_text())
    metrics = record.get("metrics") or {}
    result = {"fps": metrics.get("fps"), "compute_fps": metrics.get("compute_fps"), "run_id": record.get("run_id"),
              "status": record.get("status"), "wall_s": wall, "step_ms_p50": metrics.get("step_ms_p50"),
              "timed_steps": metrics.get("timed_steps"), "math": {k: (record.get("env") or {}).get(k) for k in
                                                                  ("cudnn_benchmark", "tf32", "optimizer_implementation",
                                                                   "compile")},
              "command": command}
    if record.get("status") != "success" or returncode != 0:
        result["error"] = f"run {record.get('status')} (exit {returncode}): {record.get('error') or _tail(err)}"
    return result


def run_plain_port(args, data: dict, label: str) -> dict:
    work = Path(args.work)
    out = work / "plain" / f"{label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    command = [sys.executable, str(BENCH / "plain_port.py"), data["train_dir"], "--device", args.device,
               "--batch", str(args.batch), "--crop", str(args.crop), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--compute-steps", str(args.compute_steps),
               "--workers", str(args.workers), "--json", str(out)]
    started = time.perf_counter()
    try:
        returncode, err = _run(command, _subprocess_env(work, work / "runs" / "plain"), args.run_timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.run_timeout}s", "command": command}
    if returncode != 0 or not out.is_file():
        return {"error": f"exit {returncode}: {_tail(err)}", "command": command}
    result = json.loads(out.read_text())
    result.update(wall_s=time.perf_counter() - started, command=command)
    return result


# --- The rounds and the table --------------------------------------------------------------

def _record(variant: Variant, result: dict) -> None:
    variant.runs.append(result)
    variant.fps.append(result.get("fps") if "error" not in result else None)
    variant.compute_fps.append(result.get("compute_fps") if "error" not in result else None)
    if "error" in result:
        variant.errors.append(result["error"])


def measure(args, data: dict, variants: list[Variant]) -> Variant:
    plain = Variant(PLAIN, [])
    entries = [plain] + variants
    for round_index in range(args.repeats):
        order = entries if round_index % 2 == 0 else entries[::-1]
        for entry in order:
            label = f"r{round_index + 1}-{entry.name}".replace("/", "_").replace(" ", "_")
            print(f"round {round_index + 1}/{args.repeats}: {entry.name} ...", flush=True)
            result = run_plain_port(args, data, label) if entry is plain else run_ours(args, data, entry, label)
            _record(entry, result)
            shown = "error: " + result["error"] if "error" in result else \
                f"{_fmt(result.get('fps'))} img/s end to end, {_fmt(result.get('compute_fps'))} compute-only"
            print(f"  {entry.name}: {shown} ({result.get('wall_s', 0):.0f}s)", flush=True)
    return plain


def _fmt(value: Optional[float], digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(plain: Variant, variants: list[Variant]) -> str:
    p = plain.summary()
    lines = ["| variant | end-to-end img/s median (min-max) | compute-only img/s median | "
             "ratio vs plain, end to end | ratio vs plain, compute-only |", "|---|---:|---:|---:|---:|"]
    for entry in [plain] + variants:
        s = entry.summary()
        spread = f" ({_fmt(s['fps_min'])}-{_fmt(s['fps_max'])})" if s["fps_median"] is not None else ""
        failed = f" ({len(entry.errors)} failed)" if entry.errors else ""
        lines.append(f"| {entry.name}{failed} | {_fmt(s['fps_median'])}{spread} | {_fmt(s['compute_fps_median'])} | "
                     f"{_fmt(_ratio(s['fps_median'], p['fps_median']), 2)} | "
                     f"{_fmt(_ratio(s['compute_fps_median'], p['compute_fps_median']), 2)} |")
    return "\n".join(lines)


def report(args, machine: dict, data: dict, plain: Variant, variants: list[Variant]) -> dict:
    p = plain.summary()
    out_variants = []
    for v in variants:
        s = v.summary()
        per_round = [_ratio(o, q) for o, q in zip(v.fps, plain.fps)]
        out_variants.append({
            "name": v.name, "sets": v.sets, "fps": v.fps, "compute_fps": v.compute_fps, **s,
            "ratio_fps": _ratio(s["fps_median"], p["fps_median"]),
            "ratio_compute": _ratio(s["compute_fps_median"], p["compute_fps_median"]),
            "ratio_fps_per_round": per_round, "errors": v.errors, "runs": v.runs})
    return {"machine": machine, "data": data,
            "settings": {k: getattr(args, k) for k in ("device", "image_size", "crop", "batch", "steps", "warmup",
                                                       "compute_steps", "repeats", "workers", "ours_set", "quick")},
            "plain": {"fps": plain.fps, "compute_fps": plain.compute_fps, **p, "errors": plain.errors,
                      "runs": plain.runs},
            "variants": out_variants}


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--image-size", type=int, default=182, help="stored image size (default 182)")
    parser.add_argument("--crop", type=int, default=160, help="training crop (default 160)")
    parser.add_argument("--batch", type=int, default=90)
    parser.add_argument("--steps", type=int, default=20, help="timed steps after the warm-up (default 20)")
    parser.add_argument("--warmup", type=int, default=5, help="steps before the timed window (default 5)")
    parser.add_argument("--compute-steps", type=int, default=None,
                        help="timed compute-only steps (default: --steps; 0 skips compute-only)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers for both (default 4)")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "modelzoo-bench", "train"),
                        help="generated images, caches, run records (default: $TMPDIR/modelzoo-bench/train)")
    parser.add_argument("--images-dir", help="identity folders of --image-size square images to use instead")
    parser.add_argument("--identities", type=int, default=100, help="identities to generate (default 100)")
    parser.add_argument("--images-per-identity", type=int, default=20, help="images per identity (default 20)")
    parser.add_argument("--ours-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a --set for every run of ours (repeatable)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=V,KEY=V",
                        help="a configuration of ours (repeatable; defaults above)")
    parser.add_argument("--run-timeout", type=int, default=1800, help="seconds one measurement may take")
    parser.add_argument("--json", help="write every value (per round too) to this file")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run in seconds: tiny images and batch, 2 steps, one round")
    args = parser.parse_args(argv)
    if args.quick:  # the quick sizes become the defaults; options given explicitly still win
        parser.set_defaults(**QUICK, work=os.path.join(tempfile.gettempdir(), "modelzoo-bench", "train-quick"))
        args = parser.parse_args(argv)
    if args.compute_steps is None:
        args.compute_steps = args.steps
    for name in ("image_size", "crop", "batch", "steps", "warmup", "repeats", "identities", "images_per_identity"):
        if getattr(args, name) < 1:
            parser.exit(2, f"train_bench.py: error: --{name.replace('_', '-')} must be positive\n")
    if args.workers < 0 or args.compute_steps < 0:
        parser.exit(2, "train_bench.py: error: --workers and --compute-steps must not be negative\n")
    if args.crop > args.image_size:
        parser.exit(2, f"train_bench.py: error: --crop {args.crop} is larger than --image-size {args.image_size}\n")
    if args.crop < 75:
        parser.exit(2, "train_bench.py: error: Inception-ResNet-v1 needs --crop 75 or more\n")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    try:
        variants = [parse_variant(text) for text in (args.variant or DEFAULT_VARIANTS[args.device])]
        if len({v.name for v in variants}) != len(variants) or PLAIN in {v.name for v in variants}:
            raise BenchError("variant names must be unique (and not 'plain port')")
        if args.device == "cuda":
            import torch
            if not torch.cuda.is_available():
                raise BenchError("--device cuda but no CUDA card is visible")
        from machine import describe, facts

        machine = facts(args.device)
        print(describe(machine), flush=True)
        data = prepare_data(args)
    except BenchError as exc:
        print(f"train_bench.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"\n{data['images']} images of {data['identities']} identities, {args.image_size} px ({data['source']}); "
          f"batch {args.batch}, crop {args.crop}, {args.warmup} warm-up + {args.steps} timed steps, "
          f"{args.compute_steps} compute-only steps, {args.workers} loader workers, {args.repeats} round(s)",
          flush=True)
    passes = (args.warmup + args.steps) * args.batch / data["images"]
    if passes > 1:
        print(f"note: each run passes over the images {passes:.1f} times", flush=True)
    plain = measure(args, data, variants)
    print(f"\nMachine: {machine.get('gpu') or machine.get('cpu')}, {machine.get('cpu_count')} CPUs, "
          f"torch {machine.get('torch')}; device {args.device}\n")
    print(table(plain, variants))
    if args.json:
        Path(args.json).write_text(json.dumps(report(args, machine, data, plain, variants), indent=1))
    failed = [f"{v.name}: {v.errors[0]}" for v in [plain] + variants if v.errors]
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
