"""MTCNN speed and agreement: ours (batched) against facenet-pytorch's, in one run.

    python bench/mtcnn_bench.py --lfw /work/shared/data/lfw -n 500 [--device cpu|cuda] [--json FILE]
    python bench/mtcnn_bench.py --lfw /work/shared/data/lfw --quick      # 100 images, blocks of 50
    python bench/mtcnn_bench.py --lfw /work/shared/data/lfw --prepare /tmp/modelzoo-data

The first form times, on the same N LFW images (a fixed random sample), the same torch
thread count and the same device: facenet-pytorch one image at a time, facenet-pytorch in
batches of 32 (a batch it crashes on, numpy 2 and a face-less image, is redone one at a
time and counted), and ours in one batched call per block. The methods take turns on
blocks of 100 images so that a load change on a shared machine hits them alike; each block
is one repeat: the table gives the median images/s over blocks and the median of the
per-block ratios, the JSON also the totals. It reports the agreement with the one-at-a-time
reference: the fraction of images whose boxes all match one of ours with IoU >= 0.95 (same
count), and the largest probability gap. Machine facts are printed with the numbers.

The LFW folder needs images_deepfunneled/<person>/*.jpg only (bench/wheels.sh copies a
sample into bench/wheels/lfw for a card machine). The demo generator's cartoon faces are
no substitute: MTCNN finds a face in few of them.

The third form times the whole prepare job (``run_prepare``) over all of LFW into
DATA_ROOT (worker processes, one torch thread each) and reports its failures.
facenet-pytorch is imported here as the reference only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from machine import machine_facts

from modelzoo_facenet.mtcnn import MTCNN


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (n, 4) and (m, 4) x1,y1,x2,y2 boxes, in float64."""
    from torchvision.ops import box_iou

    return box_iou(torch.from_numpy(np.asarray(a, np.float64)), torch.from_numpy(np.asarray(b, np.float64))).numpy()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu}, {cores} cores available, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads")


def bench_detect(lfw: Path, n: int, block: int, seed: int, device: str = "cpu") -> dict:
    from facenet_pytorch import MTCNN as Reference

    files = sorted((lfw / "images_deepfunneled").glob("*/*.jpg"))
    if not files:
        raise SystemExit(f"no images under {lfw / 'images_deepfunneled'} (<person>/*.jpg)")
    random.Random(seed).shuffle(files)
    files = files[:n]
    n = len(files)
    images = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    ref = Reference(keep_all=True, min_face_size=20, thresholds=[0.6, 0.7, 0.7], factor=0.709,
                    device=device)
    ours = MTCNN(device=device)
    # Warm-up outside the clock (first-call allocations, oneDNN primitive creation).
    ref.detect(images[0])
    ref.detect(images[:2])
    ours.detect(images[:8])

    seconds = {"reference_single": 0.0, "reference_batch32": 0.0, "ours_batched": 0.0}
    cpu = dict.fromkeys(seconds, 0.0)
    crashed_batches = 0
    ref_results: list = []
    our_results: list = []
    block_rates: dict[str, list[float]] = {k: [] for k in seconds}  # one entry per block (repeat)

    def clock(key: str, started: float, cpu_started: float, images_in_block: int) -> None:
        elapsed = time.perf_counter() - started
        seconds[key] += elapsed
        cpu[key] += time.process_time() - cpu_started
        block_rates[key].append(images_in_block / elapsed)

    for start in range(0, n, block):
        part = images[start:start + block]
        t, c = time.perf_counter(), time.process_time()
        for image in part:
            ref_results.append(ref.detect(image, landmarks=True))
        clock("reference_single", t, c, len(part))

        t, c = time.perf_counter(), time.process_time()
        for b in range(0, len(part), 32):
            batch = part[b:b + 32]
            try:
                ref.detect(batch)
            except Exception:  # numpy 2 + a face-less image in the batch
                crashed_batches += 1
                for image in batch:
                    ref.detect(image)
        clock("reference_batch32", t, c, len(part))

        t, c = time.perf_counter(), time.process_time()
        our_results.extend(ours.detect(part))
        clock("ours_batched", t, c, len(part))

    agree = 0
    prob_gap = 0.0
    disagreements = []
    for f, (boxes, probs, _), det in zip(files, ref_results, our_results):
        if boxes is None:
            ok = len(det) == 0
        elif len(det) != len(boxes):
            ok = False
        else:
            iou = _iou(np.asarray(boxes, np.float32), det.boxes)
            match = iou.argmax(1)
            ok = bool(iou.max(1).min() >= 0.95) and len(set(match.tolist())) == len(match)
            if ok:
                gap = np.abs(det.probs[match] - np.asarray(probs, np.float32)).max()
                prob_gap = max(prob_gap, float(gap))
        agree += ok
        if not ok:
            disagreements.append(f"{f.parent.name}/{f.name}")
    rates = {k: n / v for k, v in seconds.items()}
    ours_rates = block_rates["ours_batched"]
    return {
        "images": n,
        "device": device,
        "blocks": len(ours_rates),
        "images_per_s": {k: round(v, 1) for k, v in rates.items()},
        "median_block_images_per_s": {k: round(statistics.median(v), 1) for k, v in block_rates.items()},
        "block_images_per_s": {k: [round(x, 1) for x in v] for k, v in block_rates.items()},
        "median_block_speedup_vs_reference_single": round(statistics.median(
            o / r for o, r in zip(ours_rates, block_rates["reference_single"])), 2),
        "median_block_speedup_vs_reference_batch32": round(statistics.median(
            o / r for o, r in zip(ours_rates, block_rates["reference_batch32"])), 2),
        # CPU time of this process (all its threads) per image: less sensitive to other
        # jobs on a shared machine than wall time, when run with --threads 1.
        "cpu_ms_per_image": {k: round(v / n * 1e3, 2) for k, v in cpu.items()},
        "speedup_vs_reference_single": round(rates["ours_batched"] / rates["reference_single"], 2),
        "speedup_vs_reference_batch32": round(rates["ours_batched"] / rates["reference_batch32"], 2),
        "reference_batch32_crashed_batches": crashed_batches,
        "agreement_fraction": agree / n,
        "max_prob_gap": prob_gap,
        "disagreements": disagreements,
    }


def bench_prepare(lfw: Path, data_root: Path, workers: int | None, limit: int | None) -> dict:
    from modelzoo_facenet.prepare import run_prepare

    options = {"lfw": str(lfw), "workers": workers, "device": "cpu",
               "center_crop_failures": True, "limit": limit}
    result = run_prepare(options, data_root, log=lambda line: print(line, file=sys.stderr))
    out = {"processed": result.processed, "skipped": result.skipped, "failed": result.failed,
           "seconds": round(result.seconds, 1),
           "images_per_s": round((result.processed) / result.seconds, 1) if result.seconds else None,
           "outputs": result.outputs, "failures_file": result.failures_file}
    if result.failures_file:
        out["failures"] = Path(result.failures_file.split(" and ")[0]).read_text().splitlines()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_lfw = Path(os.environ.get("MODELZOO_TEST_DATA", "/work/shared/data")) / "lfw"
    parser.add_argument("--lfw", type=Path, default=default_lfw,
                        help="LFW folder holding images_deepfunneled/ (default: $MODELZOO_TEST_DATA/lfw)")
    parser.add_argument("-n", "--images", type=int, default=None,
                        help="LFW images to time (default 500; --quick 100; --smoke 8)")
    parser.add_argument("--block", type=int, default=None, help="images per turn (default 100; --quick 50; "
                        "--smoke 4)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where both detectors run")
    parser.add_argument("--quick", action="store_true", help="100 images in blocks of 50")
    parser.add_argument("--smoke", action="store_true", help="8 images in blocks of 4 (seconds)")
    parser.add_argument("--json", default="", help="also write the report to this file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--prepare", type=Path, metavar="DATA_ROOT",
                        help="instead: time run_prepare over all of LFW into DATA_ROOT")
    parser.add_argument("--workers", type=int, default=None, help="prepare worker processes")
    parser.add_argument("--limit", type=int, default=None, help="prepare only the first N images")
    args = parser.parse_args()
    n_default, block_default = (8, 4) if args.smoke else (100, 50) if args.quick else (500, 100)
    args.images = args.images or n_default
    args.block = args.block or block_default
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA card")
    report = {"machine": machine(), "facts": machine_facts(args.device), "load_average_before": os.getloadavg()}
    if args.prepare:
        report["prepare"] = bench_prepare(args.lfw, args.prepare, args.workers, args.limit)
    else:
        d = report["detect"] = bench_detect(args.lfw, args.images, args.block, args.seed, args.device)
        med = d["median_block_images_per_s"]
        print(f"MTCNN on {d['images']} LFW images ({args.lfw}), device {args.device}, {d['blocks']} blocks of "
              f"{args.block}; {report['machine']}")
        print("| detector | images/s (median of blocks) | CPU ms / image | ours vs this |")
        print("|---|---:|---:|---:|")
        for key, title, ratio in (
                ("reference_single", "facenet-pytorch, one image at a time",
                 d["median_block_speedup_vs_reference_single"]),
                ("reference_batch32", "facenet-pytorch, batches of 32", d["median_block_speedup_vs_reference_batch32"]),
                ("ours_batched", "ours, batched", None)):
            print(f"| {title} | {med[key]:.1f} | {d['cpu_ms_per_image'][key]:.1f} | "
                  f"{f'{ratio:.2f}x' if ratio else ''} |")
        print(f"agreement with the one-at-a-time reference: {d['agreement_fraction']:.4f} of images, largest "
              f"probability gap {d['max_prob_gap']:.2g}\n")
        report["summary"] = [
            {"name": f"MTCNN ours, batched ({args.device})", "value": med["ours_batched"], "unit": "images/s",
             "vs_plain": d["median_block_speedup_vs_reference_single"],
             "note": "vs facenet-pytorch one image at a time"},
            {"name": "MTCNN facenet-pytorch, batches of 32", "value": med["reference_batch32"], "unit": "images/s",
             "vs_plain": None},
            {"name": "MTCNN agreement (same boxes, IoU >= 0.95)", "value": round(d["agreement_fraction"], 4),
             "unit": "fraction", "vs_plain": None},
        ]
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
