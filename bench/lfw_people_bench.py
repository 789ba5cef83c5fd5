"""LFW people as classes: our lfw-people training against the classical eigenfaces baseline, in one call.

Both use the same split and the same images: the 62 people of LFW with 20+ images, each
person's images split 75/25 by a seeded draw, the plain centre 150x150 crop of the
250x250 deep-funneled photos (``modelzoo prepare resnet50 --lfw``; no face detector).

- ours: ``python -m modelzoo run resnet50 --profile lfw-people`` (a ResNet from scratch,
  on-device augmentation), top-1 on the held-out quarter, from the run record;
- baseline: scikit-learn's "Faces recognition example using eigenfaces and SVMs" —
  PCA (150 components, whitened, randomized) then an RBF SVC with balanced class weights,
  ``GridSearchCV`` over C in {1e3, 5e3, 1e4, 5e4, 1e5} and gamma in {1e-4, 5e-4, 1e-3,
  5e-3, 1e-2, 0.1}, on the grayscale crops shrunk to ``--baseline-size`` px (the example's
  inputs are 50x37).

Prints the CPU model, its vector ISA (``torch.backends.cpu.get_cpu_capability()``), the
load average before and after (another job on the machine slows both), both top-1
figures, the chance level (1/62) and the times; ``--json FILE`` keeps everything.

    python bench/lfw_people_bench.py --lfw /path/to/lfw          # holding images_deepfunneled/
    python bench/lfw_people_bench.py --lfw DIR --set train.epochs=2 --quick   # a minutes-long smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from benchpath import BENCH, REPO

CLASSIFICATION = REPO / "plugins" / "classification"
if str(CLASSIFICATION) not in sys.path:
    sys.path.insert(0, str(CLASSIFICATION))

GRID = {"C": [1e3, 5e3, 1e4, 5e4, 1e5], "gamma": [1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 0.1]}
QUICK_GRID = {"C": [1e3, 1e4], "gamma": [1e-3, 1e-2]}


class BenchError(Exception):
    """Bad input: one line, exit status 2."""


def _load() -> Optional[list[float]]:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def prepare(lfw: Path, data_root: Path) -> dict:
    """The lfw-people split and crops under ``data_root`` (reused when already there)."""
    from modelzoo.contract.api import UserError
    from modelzoo_classification.lfw_people import prepare_lfw_people, read_split

    out = data_root / "lfw_people"
    started = time.perf_counter()
    try:
        record = read_split(out, "")
    except UserError:
        prepare_lfw_people(lfw, out)
        record = read_split(out, "")
    return {"seconds": time.perf_counter() - started, "out": str(out), "people": record["people"],
            "train_images": record["train_images"], "test_images": record["test_images"], "crop": record["crop"],
            "seed": record["seed"], "sha256": record["sha256"]}


def run_ours(data_root: Path, work: Path, sets: list[str], threads: Optional[int], timeout: int) -> dict:
    runs = work / "runs"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(CLASSIFICATION), str(BENCH)]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(MODELZOO_DISABLE_PLUGIN_AUTOLOAD="1", MODELZOO_PLUGINS="modelzoo_classification.plugin",
               MODELZOO_RUNS=str(runs), MODELZOO_CACHE=str(work / "cache"))
    env.pop("MODELZOO_ZOO", None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "modelzoo", "run", "resnet50", "--profile", "lfw-people", "--device", "cpu",
               "--data-root", str(data_root)]
    for item in sets:
        command += ["--set", item]
    before = set(runs.glob("*/record.json")) if runs.is_dir() else set()
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout}s", "command": command}
    wall = time.perf_counter() - started
    new = sorted(set(runs.glob("*/record.json")) - before)
    if not new:
        return {"error": f"exit {done.returncode}, no run record: {done.stderr.strip()[-300:]}", "command": command}
    record = json.loads(new[-1].read_text())
    metrics = record.get("metrics") or {}
    result = {"top1": metrics.get("acc1"), "top5": metrics.get("acc5"), "fps": metrics.get("fps"),
              "epochs": metrics.get("epochs_done"), "wall_s": wall, "record_duration_s": record.get("duration_s"),
              "run_id": record.get("run_id"), "status": record.get("status"), "config": record.get("config"),
              "command": command}
    if record.get("status") != "success":
        result["error"] = f"run {record.get('status')}: {record.get('error')}"
    return result


def run_baseline(out: Path, size: int, grid: dict, jobs: int) -> dict:
    """Eigenfaces + SVM on the grayscale crops, as scikit-learn's faces recognition example."""
    import cv2
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    from modelzoo_classification.lfw_people import read_split, split_index

    record = read_split(out, "")
    started = time.perf_counter()

    def pixels(part: str):
        index = split_index(out, record, part)
        rows = [cv2.resize(cv2.imread(path, cv2.IMREAD_GRAYSCALE), (size, size), interpolation=cv2.INTER_AREA)
                for path in index.paths]
        return np.stack(rows).reshape(len(rows), -1).astype(np.float32) / 255.0, np.asarray(index.labels)

    x_train, y_train = pixels("train")
    x_test, y_test = pixels("test")
    pca = PCA(n_components=150, svd_solver="randomized", whiten=True, random_state=0).fit(x_train)
    search = GridSearchCV(SVC(kernel="rbf", class_weight="balanced"), grid, n_jobs=jobs)
    search.fit(pca.transform(x_train), y_train)
    top1 = float((search.predict(pca.transform(x_test)) == y_test).mean()) * 100.0
    return {"top1": top1, "best_params": search.best_params_, "seconds": time.perf_counter() - started,
            "pixels": f"{size}x{size} grayscale", "grid": grid, "train_images": len(y_train), "test_images": len(y_test)}


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, help="raw LFW folder (holding images_deepfunneled/); needed unless "
                                                 "--data-root already holds lfw_people/")
    parser.add_argument("--data-root", type=Path, help="where lfw_people/ is or goes (default: WORK/data)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/lfw-people-bench"),
                        help="runs and caches (default /tmp/lfw-people-bench)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override the lfw-people profile for our run (repeatable)")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for our run (default: torch's choice)")
    parser.add_argument("--baseline-size", type=int, default=50, help="baseline's grayscale side in px (default 50)")
    parser.add_argument("--jobs", type=int, default=1, help="GridSearchCV processes (default 1)")
    parser.add_argument("--skip-ours", action="store_true", help="only the baseline")
    parser.add_argument("--quick", action="store_true", help="a 2x2 baseline grid (for smoke runs)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed for our run")
    parser.add_argument("--json", help="write every value to this file")
    args = parser.parse_args(argv)
    args.data_root = args.data_root or args.work / "data"
    if not (args.data_root / "lfw_people" / "split.json").is_file() and args.lfw is None:
        raise BenchError(f"{args.data_root / 'lfw_people'} holds no prepared split; pass --lfw RAW_LFW_DIR")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    try:
        args = parse_args(argv)
    except BenchError as exc:
        print(f"lfw_people_bench.py: error: {exc}", file=sys.stderr)
        return 2
    import torch
    from machine import describe, machine_facts

    machine = machine_facts("cpu")
    isa = torch.backends.cpu.get_cpu_capability()
    print(describe(machine), flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    load_before = _load()
    data = prepare(args.lfw, args.data_root)
    print(f"lfw-people: {data['people']} people, {data['train_images']} train / {data['test_images']} test images, "
          f"centre {data['crop']} px crop, split seed {data['seed']} sha256 {data['sha256'][:12]}", flush=True)
    ours = {"skipped": True}
    if not args.skip_ours:
        print("ours: modelzoo run resnet50 --profile lfw-people ...", flush=True)
        ours = run_ours(args.data_root, args.work, args.sets, args.threads, args.timeout)
    load_between = _load()
    print("baseline: PCA 150 whitened + RBF SVC, GridSearchCV ...", flush=True)
    baseline = run_baseline(Path(data["out"]), args.baseline_size, QUICK_GRID if args.quick else GRID, args.jobs)
    load_after = _load()
    chance = 100.0 / data["people"]
    top1 = ours.get("top1")
    print(f"\nLFW people with 20+ images ({data['people']} classes), top-1 on the {data['test_images']} held-out "
          f"images; CPU: {machine.get('cpu')} ({machine.get('cpu_count')} cores), vector ISA {isa}; "
          f"load average {load_before} before, {load_between} after ours, {load_after} at the end\n")
    print("| method | top-1 % | time |")
    print("|---|---:|---:|")
    if top1 is not None:
        arch = ((ours.get("config") or {}).get("model") or {}).get("arch")
        print(f"| ours: {arch} from scratch, lfw-people profile ({ours.get('epochs'):.0f} epochs, "
              f"{ours.get('fps'):.0f} img/s) | {top1:.2f} | {ours['wall_s'] / 60:.1f} min |")
    elif not ours.get("skipped"):
        print(f"| ours | failed: {ours.get('error')} | |")
    print(f"| baseline: eigenfaces (PCA 150) + RBF SVC {baseline['best_params']}, {baseline['pixels']} | "
          f"{baseline['top1']:.2f} | {baseline['seconds'] / 60:.1f} min |")
    print(f"| chance (1/{data['people']}) | {chance:.2f} | |")
    if top1 is not None:
        print(f"\nours - baseline: {top1 - baseline['top1']:+.2f} points")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": machine, "cpu_capability": isa, "load_average": {"before": load_before, "after_ours": load_between,
                                                                          "after": load_after},
            "data": data, "ours": ours, "baseline": baseline, "chance_top1": chance,
            "margin_points": top1 - baseline["top1"] if top1 is not None else None}, indent=1, default=str))
    return 0 if ours.get("skipped") or top1 is not None else 1


if __name__ == "__main__":
    sys.exit(main())
