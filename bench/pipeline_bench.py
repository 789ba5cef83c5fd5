"""Throughput of the facenet training input pipeline alone (no model), on this machine.

Measures images/s for: PNG decode through a DataLoader with 0/1/2... workers; building
and reading the pre-decoded uint8 cache; DeviceAugment on the CPU (random crop + flip +
standardization); and decode + augment end to end. The images are 182x182 PNGs like
``webface_182_44``: /tmp/modelzoo-data/webface if present (or --root), else a set drawn
by the demo generator at 182 px into --work.

    PYTHONPATH=.:plugins/facenet python bench/pipeline_bench.py [--images 3000] [--workers 0 1 2]

Prints a Markdown table; --json writes the figures too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "plugins" / "facenet")]

from modelzoo_facenet.data import (DecodedCache, DeviceAugment, IdentityFolderDataset,  # noqa: E402
                                   make_train_loader, scan_identity_folders)
from modelzoo_facenet.demo import generate_demo_dataset  # noqa: E402


def _time_loader(loader, max_batches: int, warmup: int = 2) -> tuple[float, int, float]:
    """(steady images/s over `max_batches` after `warmup` batches, images timed, seconds to the first batch)."""
    start = time.perf_counter()
    it = iter(loader)
    next(it)
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        next(it)
    t0 = time.perf_counter()
    n = sum(next(it)[0].shape[0] for _ in range(max_batches))
    rate = n / (time.perf_counter() - t0)
    del it  # shuts the workers down
    return rate, n, first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/tmp/modelzoo-data/webface", help="identity folders of 182 px images")
    ap.add_argument("--work", default="/tmp/modelzoo-bench/pipeline", help="where to generate and cache")
    ap.add_argument("--images", type=int, default=3000, help="images to generate when --root is absent")
    ap.add_argument("--batch-size", type=int, default=90)
    ap.add_argument("--batches", type=int, default=20, help="timed batches per configuration")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads of this process (DataLoader workers always use 1); on a shared "
                         "machine 2 OpenMP threads can stall for hundreds of ms in a batch collate")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    work = Path(args.work)
    root = Path(args.root)
    source = "real"
    if not root.is_dir():
        ids = max(2, args.images // 20)
        t = time.perf_counter()
        info = generate_demo_dataset(work / "demo182", seed=0, train_identities=ids, images_per_identity=20,
                                     test_identities=20, test_images_per_identity=2, pairs_per_fold=1,
                                     image_size=182, log=print)
        gen_s = time.perf_counter() - t
        root = info.train_dir
        source = f"demo generator, 182 px ({'generated' if info.generated else 'reused'} " \
                 f"{info.train_images + info.test_images} images" + \
                 (f" in {gen_s:.1f}s" if info.generated else "") + ")"
    index = scan_identity_folders(root)
    sizes = [os.path.getsize(p) for p in index.paths[:500]]
    rows: list[tuple[str, float, str]] = []
    print(f"{len(index)} images, {index.num_classes} identities, mean file {np.mean(sizes) / 1024:.1f} KiB "
          f"({source}); torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs")
    per_config = args.batch_size * args.batches
    if per_config + 2 * args.batch_size > len(index):
        raise SystemExit(f"need at least {per_config + 2 * args.batch_size} images for "
                         f"{args.batches} timed batches of {args.batch_size}")

    folder_ds = IdentityFolderDataset(index)
    for workers in args.workers:
        loader = make_train_loader(folder_ds, args.batch_size, num_workers=workers,
                                   generator=torch.Generator().manual_seed(workers))
        rate, n, first = _time_loader(loader, args.batches)
        rows.append((f"PNG decode, DataLoader num_workers={workers}", rate, f"{n} images; first batch after {first:.2f}s"))
        print(rows[-1])

    cache_dir = work / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)  # time a fresh build every run
    t = time.perf_counter()
    cache = DecodedCache.open(index, cache_dir)
    build_s = time.perf_counter() - t
    if cache.built:  # always, after the rmtree above
        rows.append(("uint8 cache build (threads = CPUs)", len(index) / build_s,
                     f"{len(index)} images in {build_s:.1f}s -> {cache.path.name}"))
    t = time.perf_counter()
    DecodedCache.open(index, cache_dir)
    rows.append(("uint8 cache reopen (hash of the file list)", len(index) / (time.perf_counter() - t),
                 f"{time.perf_counter() - t:.3f}s for {len(index)} files"))
    cached_ds = cache.dataset()
    for workers in sorted({0, max(args.workers)}):
        loader = make_train_loader(cached_ds, args.batch_size, num_workers=workers,
                                   generator=torch.Generator().manual_seed(workers))
        rate, n, first = _time_loader(loader, args.batches)
        rows.append((f"uint8 cache read, DataLoader num_workers={workers}", rate, f"{n} images"))
        print(rows[-1])

    batch = torch.from_numpy(np.ascontiguousarray(cache.images[:args.batch_size])).permute(0, 3, 1, 2).contiguous()
    for name, aug in (("DeviceAugment on CPU, train (crop+flip+standardize)", DeviceAugment(args.crop)),
                      ("DeviceAugment on CPU, eval (centre crop+standardize)", DeviceAugment(args.crop, train=False))):
        aug(batch)
        reps = 10
        t = time.perf_counter()
        for _ in range(reps):
            aug(batch)
        rows.append((name, reps * batch.shape[0] / (time.perf_counter() - t),
                     f"batch {batch.shape[0]} x 3 x {batch.shape[2]} x {batch.shape[3]} uint8 -> {args.crop}"))
        print(rows[-1])

    aug = DeviceAugment(args.crop)
    loader = make_train_loader(cached_ds, args.batch_size, num_workers=0)
    t = time.perf_counter()
    n = 0
    for i, (x, _) in enumerate(loader):
        aug(x)
        n += x.shape[0]
        if i + 1 >= args.batches:
            break
    rows.append(("uint8 cache read + DeviceAugment on CPU, one process", n / (time.perf_counter() - t), f"{n} images"))

    print()
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"Data: {len(index)} images 182x182 ({source}), batch {args.batch_size}\n")
    print("| Stage | images/s | Notes |")
    print("|---|---:|---|")
    for name, rate, note in rows:
        print(f"| {name} | {rate:,.0f} | {note} |")
    if args.json:
        Path(args.json).write_text(json.dumps([{"stage": a, "images_per_s": b, "note": c} for a, b, c in rows], indent=1))


if __name__ == "__main__":
    main()
