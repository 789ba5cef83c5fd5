"""How long `modelzoo report` takes over many run records, end to end, in a fresh process.

    python bench/report_bench.py [--records 2000] [--repeat 3] [--keep DIR] [--json FILE]
    python bench/report_bench.py --history 20x300x3 [--repeat 3] [--keep DIR]   # issue 31's scale

Builds ``--records`` realistic records in a temporary runs folder (two models in the two
README layouts; demo and recipe profiles; 1 to 8 cards; real and synthetic data; about one
in twenty failed or still running; one in twenty a long run with 4,550-point loss and
throughput curves; a ROC curve of 400 points on the face model; power and memory figures),
then times `python -m modelzoo report --runs-dir ... --output ...` as a new process each
time:

- first: no run index yet (every record parsed, the index written),
- indexed: the index in place (median and best of ``--repeat``),
- changed: after 20 records were rewritten, 5 added and 5 removed (the index brings them up to date).

``--history RxCxN`` builds release runs instead: R releases (24.01...) x C cells (model,
profile, card, card count) x N repeats, one cell in 20 dropping 10 % at a random release, and
also times ``zoo check --release <last> --baseline <the one before>`` (indexed).

Prints the machine (CPU model, vector ISA, cores, load average before and after) and the
figures against the issue's target of 2 s, with each timed process's CPU time (user +
system), which a busy neighbour inflates far less than the wall time. No device: the report
runs on the CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modelzoo.store.records import new_record  # noqa: E402

TARGET_S = 2.0
FACE_COLUMNS = [{"key": "lfw_accuracy", "title": "LFW_Accuracy", "format": "{:.5f}", "std_key": "lfw_accuracy_std",
                 "higher_is_better": True}]
RESNET_COLUMNS = [{"key": "acc1", "title": "Acc@1", "format": "{:.2f}", "higher_is_better": True},
                  {"key": "acc5", "title": "Acc@5", "format": "{:.2f}", "higher_is_better": True}]
RESNET_TABLE = {"layout": "configs", "configs": [
    {"title": "FP32", "match": {"train.amp": ["none"]}},
    {"title": "AMP+NHWC", "match": {"train.amp": ["bf16", "fp16"], "train.channels_last": [True]}}]}
CARD_ENV = {"host": "zoo01", "cpu": "Intel Xeon Gold 6330", "cpu_count": 56, "ram_gb": 503.0,
            "gpu": "Iluvatar BI-V100", "gpu_count": 8, "gpu_mem_gb": 32.0, "driver": "3.1.0", "cuda": "10.2",
            "sdk": "IXUCA SDK 3.1.0", "release": "23.09", "torch": "1.13.1", "python": "3.10.12",
            "platform": "Linux-5.4.0-x86_64", "git_commit": "6ad48ec", "git_dirty": False}
CPU_ENV = {"host": "vm", "cpu": "AMD EPYC", "cpu_capability": "AVX512", "cpu_threads": 2, "cpu_count": 2,
           "gpu": None, "cuda": "13.0", "torch": "2.9.0", "python": "3.11.7", "platform": "Linux",
           "resident_data": {"resident": True, "where": "cpu RAM", "load_s": 0.19, "bytes": 70048000}}


def _config(face: bool, amp: bool, batch: int) -> dict:
    """A resolved config about the size of a real one (60-odd keys)."""
    return {"data": {"source": "demo", "image_size": 54, "crop_size": 48, "num_workers": 2, "decoded_cache": True,
                     "demo_seed": 0, "demo_train_identities": 0, "random_flip": True, "standardize": True},
            "model": {"backbone": "inception_resnet_v1" if face else "resnet50", "embedding_size": 512,
                      "width": 1.0, "dropout_keep": 0.8, "bn_momentum": 0.005},
            "loss": {"name": "softmax", "prelogits_norm_factor": 5e-4, "label_smoothing": 0.0},
            "eval": {"every_epochs": 5, "batch_size": 100, "folds": 10, "distance": "cosine"},
            "train": {"batch_size": batch, "epochs": 91, "amp": "bf16" if amp else "none", "channels_last": amp,
                      "compile": False, "max_steps": 0, "log_every": 20, "seed": 0, "repeat": 1,
                      "resident": "auto", "cuda_graphs": False},
            "optimizer": {"name": "adam", "lr": 0.05, "eps": 0.1, "betas": [0.9, 0.999], "weight_decay": 5e-4},
            "schedule": {"milestones": {"0": 0.05, "60": 0.005, "80": 0.0005}, "warmup_epochs": 0}}


def build_record(i: int, rng: random.Random) -> dict:
    face = i % 20 < 11
    model, title = ("facenet", "Facenet") if face else ("resnet50", "ResNet50")
    real = rng.random() < 0.15
    cards = rng.choice([1, 2, 4, 8]) if real else rng.choice([1, 1, 2])
    profile = ("casia" if face else "imagenet") if real else "demo"
    amp = not face and rng.random() < 0.5
    run_id = f"2026{1 + i % 12:02d}{1 + i % 28:02d}T{i % 24:02d}{i % 60:02d}00Z-{model}-{profile}-c{cards}-{i:05x}"
    record = new_record(run_id=run_id, kind="train", model=model, model_title=title,
                        plugin={"name": f"modelzoo-{'facenet' if face else 'classification'}", "version": "0.1.0"},
                        profile=profile, config=_config(face, amp, 90 if face else 256), overrides={},
                        cards=cards, world_size=cards, device="cuda" if real else "cpu", seed=0,
                        metric_columns=FACE_COLUMNS if face else RESNET_COLUMNS, log=f"runs/{run_id}/train.log",
                        throughput_unit="images/s",
                        curve_specs=[{"name": "roc", "x": "fpr", "y": "tpr", "title": "ROC", "caption_metric": "auc"}]
                        if face else [])
    if not face:
        record["result_table"] = RESNET_TABLE
    roll = rng.random()
    record["status"] = "success" if roll < 0.9 else ("failed" if roll < 0.95 else "running")
    record["error"] = "RuntimeError: CUDA out of memory" if record["status"] == "failed" else None
    record["started"] = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+00:00"
    record["finished"] = record["started"]
    record["duration_s"] = rng.uniform(60, 90000)
    record["env"] = dict(CARD_ENV if real else CPU_ENV)
    record["data"] = {"name": "webface_182_44" if real else "synthetic faces (demo)", "kind": "real" if real else
                      "synthetic", "path": "/data/x/train", "images": 453453 if real else 8000, "identities": 10575,
                      "evaluation": {"name": "LFW pairs", "kind": "real" if real else "synthetic", "pairs": 6000}}
    fps = rng.uniform(150, 4000) * cards
    per_step = 256 * cards  # the timing fields the FPS agrees with, as the trainer writes them
    record["metrics"] = {"fps": fps, "fps_per_card": fps / cards, "compute_fps": fps * 1.1, "step_ms_p50": 40.0,
                         "step_ms_p90": 48.0, "timed_steps": 200, "timed_seconds": 200 * per_step / fps,
                         "steps": 1000, "images_seen": 1000 * per_step}
    if face:
        record["metrics"].update(lfw_accuracy=rng.uniform(0.9, 0.99), lfw_accuracy_std=0.006, auc=0.99, eer=0.02)
    else:
        record["metrics"].update(acc1=rng.uniform(20, 77), acc5=rng.uniform(70, 93))
    record["resources"] = {"memory": {"kind": "cuda" if real else "host peak RSS", "per_card": [
        {"rank": r, "allocated_gb": 10.2, "reserved_gb": 12.0 if real else None} for r in range(cards)]},
        "power": {"source": "ixsmi stream" if real else None, "avg_w": 130.0 if real else None,
                  "per_card": [{"avg_w": 130.0}] * cards if real else [], "reason": None if real else "no RAPL"}}
    record["target"] = {"metric": "lfw_accuracy" if face else "acc1", "target": 0.9905 if face else 75.9,
                        "higher_is_better": True, "reached": False, "evaluations": 12}
    points = 4550 if rng.random() < 0.05 else 75
    steps = list(range(0, points * 20, 20))
    record["curves"] = {
        "loss": {"step": steps, "loss": [round(8 / (1 + s / 500) + rng.random() * 0.05, 6) for s in steps]},
        "throughput": {"step": steps, "fps": [round(fps * (0.97 + 0.06 * rng.random()), 3) for _ in steps]},
        "eval": [{"wall_s": 60.0 * k, "epoch": k, record["target"]["metric"]: 0.5 + k / 30} for k in range(12)],
    }
    if face:
        fpr = [k / 399 for k in range(400)]
        record["curves"]["roc"] = {"fpr": fpr, "tpr": [min(1.0, math.sqrt(x) * 1.02) for x in fpr]}
    return record


def build_release_record(release: int, cell: int, repeat: int, rng: random.Random, level: float) -> dict:
    """One run of a release history: cell ``cell`` (model, profile, card, card count) in release
    ``release`` (``24.01``...), repeat ``repeat``; its FPS the cell's level times 2 % noise."""
    face = cell % 2 == 0
    i = (0 if face else 15) + 20 * (cell * 97 + release * 3 + repeat)  # build_record's face/resnet choice
    record = build_record(i, rng)
    name = f"24.{release + 1:02d}"
    cards = (1, 2, 4, 8)[cell % 4]
    profile = f"{'casia' if face else 'imagenet'}-v{cell // 8}"
    run_id = f"2024{1 + release % 12:02d}{1 + release // 12:02d}T{repeat:02d}{cell // 60:02d}{cell % 60:02d}Z-{record['model']}-c{cell:03d}-r{release:02d}-{repeat}"
    env = dict(CARD_ENV, gpu="Iluvatar BI-V100" if (cell // 4) % 2 == 0 else "Iluvatar MR-V100", release=name)
    fps = level * cards * (1 + 0.02 * rng.gauss(0, 1))
    record.update(run_id=run_id, profile=profile, cards=cards, world_size=cards, device="cuda", env=env,
                  release=name, status="success", error=None,
                  started=f"2024-{1 + release % 12:02d}-{1 + release // 12:02d}T{repeat:02d}:{cell // 60:02d}:"
                          f"{cell % 60:02d}+00:00",
                  zoo_cell={"release": name, "model": record["model"], "profile": profile, "cards": cards,
                            "max_steps": None})
    record["finished"] = record["started"]
    record["data"]["kind"] = "real"
    record["log"] = f"runs/{run_id}/train.log"
    per_step = 256 * cards  # the timing fields this FPS agrees with (modelzoo.store.plausible)
    record["metrics"].update(fps=fps, fps_per_card=fps / cards, compute_fps=fps * 1.1, timed_steps=200,
                             timed_seconds=200 * per_step / fps, steps=1000, images_seen=1000 * per_step)
    record["metrics"]["fps_stability"] = {"n": 5, "mean": fps, "std": fps * 0.01, "min": fps * 0.98,
                                          "max": fps * 1.02, "cv": 0.01}
    watts = 130.0 * (1 + 0.02 * rng.gauss(0, 1))  # a card measures power in every release, as memory
    record["resources"] = {
        "memory": {"kind": "cuda", "per_card": [{"rank": r, "allocated_gb": 10.2, "reserved_gb": 12.0}
                                                for r in range(cards)]},
        "power": {"source": "ixsmi stream", "avg_w": watts * cards, "per_card": [{"avg_w": watts}] * cards,
                  "reason": None}}
    return record


def write_history(runs: Path, releases: int, cells: int, repeats: int, seed: int = 0) -> list[Path]:
    """``releases`` x ``cells`` x ``repeats`` records; one cell in 20 drops 10 % in a random release."""
    rng = random.Random(seed)
    base = [rng.uniform(150, 4000) for _ in range(cells)]
    steps = {c: rng.randrange(1, releases) for c in range(cells) if c % 20 == 7}
    written = []
    for release in range(releases):
        for cell in range(cells):
            level = base[cell] * (0.9 if cell in steps and release >= steps[cell] else 1.0)
            for repeat in range(repeats):
                record = build_release_record(release, cell, repeat, rng, level)
                folder = runs / record["run_id"]
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "record.json").write_text(json.dumps(record, indent=2) + "\n")
                written.append(folder)
    return written


def timed_gate(runs: Path, new: str, old: str) -> float:
    argv = [sys.executable, "-m", "modelzoo", "zoo", "check", "--release", new, "--baseline", old,
            "--runs-dir", str(runs)]
    return _timed(argv, "zoo check --baseline", ok=(0, 1))


CPU_SECONDS: list[float] = []  # user + system seconds of each timed process, in order (load-proof-ish)


def _timed(argv: list[str], what: str, ok=(0,)) -> float:
    """Wall seconds of one fresh process; its CPU seconds go to CPU_SECONDS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SECONDS.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if done.returncode not in ok:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def write_records(runs: Path, count: int, start: int = 0, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    written = []
    for i in range(start, start + count):
        record = build_record(i, rng)
        folder = runs / record["run_id"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "record.json").write_text(json.dumps(record, indent=2) + "\n")  # as records.save writes it
        written.append(folder)
    return written


def timed_report(runs: Path, out: Path) -> float:
    argv = [sys.executable, "-m", "modelzoo", "report", "--runs-dir", str(runs), "--output", str(out)]
    return _timed(argv, "modelzoo report")


def machine() -> dict:
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu in ("", platform.machine()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse4_2", "SSE4.2"))
                if flag in flags), "unknown")
    return {"cpu": cpu, "isa": isa, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average": [round(v, 2) for v in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the runs folder here and keep it")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--history", metavar="RxCxN", help="instead of --records: R releases x C cells x N "
                        "repeats of release runs (e.g. 20x300x3), and also time 'zoo check --baseline'")
    args = parser.parse_args()
    before = machine()
    root = args.keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    runs, out = root / "runs", root / "reports"
    reuse = bool(args.keep) and (root / "built.txt").is_file() and (root / "built.txt").read_text() == \
        f"{args.history or args.records}\n"
    if runs.exists() and not reuse:
        shutil.rmtree(runs)
    if args.history:
        releases, cells, repeats = (int(n) for n in args.history.lower().split("x"))
    started = time.perf_counter()
    if reuse:  # --keep DIR of the same set: its records as they are (the index removed: a cold first report)
        folders = sorted(p for p in runs.iterdir() if p.is_dir())
        (runs / ".report-index.json").unlink(missing_ok=True)
    elif args.history:
        folders = write_history(runs, releases, cells, repeats)
    else:
        folders = write_records(runs, args.records)
    if args.keep:
        (root / "built.txt").write_text(f"{args.history or args.records}\n")
    args.records = len(folders)
    size_mb = sum(p.stat().st_size for p in runs.glob("*/record.json")) / 1e6
    print(f"{args.records} records, {size_mb:.0f} MB, written in {time.perf_counter() - started:.1f} s")
    gate = []
    try:
        first = timed_report(runs, out)
        indexed = [timed_report(runs, out) for _ in range(args.repeat)]
        indexed_cpu = CPU_SECONDS[1:]
        if args.history:
            gate = [timed_gate(runs, f"24.{releases:02d}", f"24.{releases - 1:02d}") for _ in range(args.repeat)]
        gate_cpu = CPU_SECONDS[1 + len(indexed):]
        rng = random.Random(1)
        for folder in rng.sample(folders, 20):  # rewritten: another FPS, same size or not
            record = json.loads((folder / "record.json").read_text())
            record["metrics"]["fps"] *= 1.01
            (folder / "record.json").write_text(json.dumps(record, indent=2) + "\n")  # as records.save writes it
        for folder in rng.sample(folders, 5):
            shutil.rmtree(folder)
        write_records(runs, 5, start=args.records, seed=2)
        changed = timed_report(runs, out)
        html_mb = (out / "index.html").stat().st_size / 1e6
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    figures = {"records": args.records, "records_mb": round(size_mb, 1), "first_s": round(first, 3),
               "indexed_median_s": round(statistics.median(indexed), 3), "indexed_best_s": round(min(indexed), 3),
               "changed_s": round(changed, 3), "html_mb": round(html_mb, 1), "target_s": TARGET_S,
               "indexed_cpu_median_s": round(statistics.median(indexed_cpu), 3),
               "gate_cpu_median_s": round(statistics.median(gate_cpu), 3) if gate_cpu else None,
               "gate_median_s": round(statistics.median(gate), 3) if gate else None,
               "gate_best_s": round(min(gate), 3) if gate else None,
               "machine_before": before, "load_after": machine()["load_average"]}
    print(f"machine: {before['cpu']} ({before['isa']}, {before['cores']} cores), python {before['python']}, "
          f"load {before['load_average']} before, {figures['load_after']} after")
    print(f"first (no index): {first:.2f} s; indexed: median {statistics.median(indexed):.2f} s, best "
          f"{min(indexed):.2f} s; after 20 rewritten, 5 added, 5 removed: {changed:.2f} s "
          f"(target {TARGET_S:.0f} s); index.html {html_mb:.1f} MB")
    print(f"indexed report CPU time (user + system): median {statistics.median(indexed_cpu):.2f} s")
    if gate:
        print(f"zoo check --baseline (indexed): median {statistics.median(gate):.2f} s, best {min(gate):.2f} s; "
              f"CPU time median {statistics.median(gate_cpu):.2f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
