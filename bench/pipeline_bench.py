"""Throughput of the facenet training input pipeline alone (no model), ours against a plain
torchvision pipeline, on this machine.

Both produce the same thing, a standardized float batch (random crop of the stored images,
random horizontal flip, (x - 127.5) / 128) on ``--device``, from the same 182x182 PNGs:

- ours: ``ImageIndexDataset`` (OpenCV decode to uint8) through ``make_train_loader``,
  pinned memory and a non-blocking copy on a card, then ``DeviceAugment`` on the device;
- plain: ``torchvision.datasets.ImageFolder`` with PIL transforms (``RandomCrop``,
  ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``) in a standard ``DataLoader``, then
  ``.to(device)``: what a straightforward port does.

For each DataLoader worker count the two run in turn, ``--repeats`` times; the table gives
the median images/s and ours / plain. Also: building and reopening the pre-decoded uint8
cache, reading it, ``DeviceAugment`` alone, and cache read + ``DeviceAugment`` in one
process (the fast path of ``data.decoded_cache``). The images are /tmp/modelzoo-data/webface
if present (or --root), else a set drawn by the demo generator at 182 px into --work.

    python bench/pipeline_bench.py [--images 3000] [--workers 0 1 2] [--device cpu|cuda]
                                   [--repeats 3] [--json FILE] [--quick | --smoke]

Prints machine facts and a Markdown table; --json writes the figures too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_facts

from modelzoo.toolkit.imagedata import DecodedCache, DeviceAugment, ImageIndexDataset, make_train_loader
from modelzoo_facenet.data import scan_identity_folders
from modelzoo_facenet.demo import generate_demo_dataset

# explicit option > --smoke > --quick > full
SIZES = {
    "full": {"images": 3000, "batch_size": 90, "batches": 20, "repeats": 3, "workers": [0, 1, 2]},
    "quick": {"images": 600, "batch_size": 30, "batches": 8, "repeats": 2, "workers": [0, 2]},
    "smoke": {"images": 40, "batch_size": 4, "batches": 2, "repeats": 1, "workers": [0]},
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_batches(loader, device: torch.device, batches: int, finish=None, warmup: int = 2) -> tuple[float, float]:
    """(images/s over ``batches`` batches after ``warmup``, seconds to the first batch).
    ``finish(x)`` turns a loader batch into the device batch (copy, augmentation)."""
    start = time.perf_counter()
    it = iter(loader)
    for i in range(warmup):
        x = next(it)[0]
        if finish:
            finish(x)
        if i == 0:
            first = time.perf_counter() - start
    _sync(device)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        x = next(it)[0]
        if finish:
            finish(x)
        n += x.shape[0]
    _sync(device)
    rate = n / (time.perf_counter() - t0)
    del it  # shuts the workers down
    return rate, first


def plain_loader(root: Path, crop: int, batch_size: int, workers: int, seed: int):
    """The straightforward pipeline: ImageFolder + PIL transforms + a standard DataLoader."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([
        transforms.RandomCrop(crop),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),                                   # x / 255
        transforms.Normalize([0.5] * 3, [128 / 255] * 3),        # = (x - 127.5) / 128
    ])
    dataset = datasets.ImageFolder(str(root), transform=transform)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                       drop_last=True, generator=torch.Generator().manual_seed(seed))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="/tmp/modelzoo-data/webface", help="identity folders of 182 px images")
    ap.add_argument("--work", default="/tmp/modelzoo-bench/pipeline", help="where to generate and cache")
    ap.add_argument("--images", type=int, help="images to generate when --root is absent (default 3000)")
    ap.add_argument("--batch-size", type=int, help="default 90")
    ap.add_argument("--batches", type=int, help="timed batches per configuration (default 20)")
    ap.add_argument("--workers", type=int, nargs="+", help="DataLoader worker counts (default 0 1 2)")
    ap.add_argument("--repeats", type=int, help="turns of ours and plain per worker count (default 3)")
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where the batches end up and DeviceAugment runs")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads of this process (DataLoader workers always use 1); on a shared "
                         "machine 2 OpenMP threads can stall for hundreds of ms in a batch collate")
    ap.add_argument("--no-plain", action="store_true", help="time ours only")
    ap.add_argument("--quick", action="store_true", help="600 images, batch 30, 8 batches, 2 repeats, workers 0 2")
    ap.add_argument("--smoke", action="store_true", help="seconds: 40 images, batch 4, 2 batches, 1 repeat")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    preset = SIZES["smoke" if args.smoke else "quick" if args.quick else "full"]
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda, but torch sees no CUDA card")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"

    work = Path(args.work)
    root = Path(args.root)
    source = "real"
    if not root.is_dir():
        ids = max(2, args.images // 20)
        t = time.perf_counter()
        info = generate_demo_dataset(work / "demo182", seed=0, train_identities=ids,
                                     images_per_identity=min(20, args.images // 2), test_identities=20,
                                     test_images_per_identity=2, pairs_per_fold=1, image_size=182, log=print)
        gen_s = time.perf_counter() - t
        root = info.train_dir
        source = f"demo generator, 182 px ({'generated' if info.generated else 'reused'} " \
                 f"{info.train_images + info.test_images} images" + \
                 (f" in {gen_s:.1f}s" if info.generated else "") + ")"
    elif (root.parent / "DONE.json").is_file():
        source = "demo generator (synthetic faces)"
    index = scan_identity_folders(root)
    sizes = [os.path.getsize(p) for p in index.paths[:500]]
    side = ImageIndexDataset(index)[0][0].shape[-1]
    needed = (args.batches + 2) * args.batch_size
    if needed > len(index):
        raise SystemExit(f"need at least {needed} images for {args.batches} timed batches of {args.batch_size} "
                         f"(2 warm-up batches), have {len(index)}")
    facts = machine_facts(args.device)
    print(f"{len(index)} images {side}x{side}, {index.num_classes} identities, mean file "
          f"{np.mean(sizes) / 1024:.1f} KiB ({source}); batch {args.batch_size}, crop {args.crop}, "
          f"{args.batches} timed batches, {args.repeats} repeats, device {args.device}")

    rows: list[dict] = []

    def add(stage: str, rates: list[float], note: str, **extra) -> dict:
        row = {"stage": stage, "images_per_s": statistics.median(rates), "repeats": [round(r, 1) for r in rates],
               "note": note, **extra}
        rows.append(row)
        print(f"  {stage}: {row['images_per_s']:,.0f} images/s (runs: {', '.join(f'{r:,.0f}' for r in rates)})")
        return row

    # 1. Ours vs plain, PNG files to a standardized batch on the device, per worker count.
    aug = DeviceAugment(args.crop)

    def ours_finish(x):
        return aug(x.to(device, non_blocking=True))

    def plain_finish(x):
        return x.to(device)

    folder_ds = ImageIndexDataset(index)
    comparisons = []
    for workers in args.workers:
        ours_rates, plain_rates = [], []
        for r in range(args.repeats):
            loader = make_train_loader(folder_ds, args.batch_size, num_workers=workers, pin_memory=cuda,
                                       generator=torch.Generator().manual_seed(r))
            ours_rates.append(_time_batches(loader, device, args.batches, ours_finish)[0])
            if not args.no_plain:
                loader = plain_loader(root, args.crop, args.batch_size, workers, seed=r)
                plain_rates.append(_time_batches(loader, device, args.batches, plain_finish)[0])
        ours = add(f"ours: PNG decode (OpenCV) + DeviceAugment on {args.device}, num_workers={workers}",
                   ours_rates, "uint8 batches, pinned + non-blocking copy on a card" if cuda else "uint8 batches")
        entry = {"workers": workers, "ours": ours["images_per_s"]}
        if plain_rates:
            plain = add(f"plain: ImageFolder + PIL transforms, num_workers={workers}", plain_rates,
                        "float batches (PIL transforms in the loader)")
            per_repeat = [o / p for o, p in zip(ours_rates, plain_rates)]
            entry.update(plain=plain["images_per_s"], ratio=statistics.median(per_repeat))
            ours["vs_plain"] = entry["ratio"]
        comparisons.append(entry)

    # 2. The pre-decoded cache.
    cache_dir = work / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)  # time a fresh build every run
    t = time.perf_counter()
    cache = DecodedCache.open(index, cache_dir)
    build_s = time.perf_counter() - t
    add("uint8 cache build (threads = CPUs)", [len(index) / build_s], f"{len(index)} images in {build_s:.1f}s")
    t = time.perf_counter()
    DecodedCache.open(index, cache_dir)
    reopen_s = time.perf_counter() - t
    add("uint8 cache reopen (hash of the file list)", [len(index) / reopen_s], f"{reopen_s:.3f}s for {len(index)} files")
    cached_ds = cache.dataset()
    for workers in sorted({0, max(args.workers)}):
        rates = [_time_batches(make_train_loader(cached_ds, args.batch_size, num_workers=workers,
                                                 generator=torch.Generator().manual_seed(r)), device, args.batches)[0]
                 for r in range(args.repeats)]
        add(f"uint8 cache read, num_workers={workers}", rates, "uint8 batches on the host")
    fast = add(f"uint8 cache read + DeviceAugment on {args.device}, one process",
               [_time_batches(make_train_loader(cached_ds, args.batch_size, num_workers=0, pin_memory=cuda,
                                                generator=torch.Generator().manual_seed(r)),
                              device, args.batches, ours_finish)[0] for r in range(args.repeats)],
               "the data.decoded_cache path")

    # 3. DeviceAugment alone, on a batch already on the device.
    batch = torch.from_numpy(np.array(cache.images[:args.batch_size])).permute(0, 3, 1, 2)
    batch = batch.contiguous().to(device)
    for name, module in (("train (crop+flip+standardize)", DeviceAugment(args.crop)),
                         ("eval (centre crop+standardize)", DeviceAugment(args.crop, train=False))):
        module(batch)
        reps = 2 if args.smoke else 10 if not cuda else 100
        rates = []
        for _ in range(args.repeats):
            _sync(device)
            t = time.perf_counter()
            for _ in range(reps):
                module(batch)
            _sync(device)
            rates.append(reps * batch.shape[0] / (time.perf_counter() - t))
        add(f"DeviceAugment on {args.device}, {name}", rates,
            f"batch {batch.shape[0]} x 3 x {batch.shape[2]} x {batch.shape[3]} uint8 -> {args.crop}")

    print()
    print(f"Machine: {facts.get('cpu')}, {facts.get('cpu_count')} CPUs, GPU {facts.get('gpu') or 'none'}, "
          f"torch {facts.get('torch')}, torchvision {facts.get('torchvision')} "
          f"({torch.get_num_threads()} threads here), load {facts.get('load_average')}")
    print(f"Data: {len(index)} images {side}x{side} ({source}), batch {args.batch_size}, crop {args.crop}, "
          f"device {args.device}\n")
    print("| Stage | images/s | ours / plain | Notes |")
    print("|---|---:|---:|---|")
    for row in rows:
        ratio = f"{row['vs_plain']:.2f}x" if row.get("vs_plain") else ""
        print(f"| {row['stage']} | {row['images_per_s']:,.0f} | {ratio} | {row['note']} |")

    summary = []
    best = comparisons[-1]  # the largest worker count given last is the one that matters on a card
    summary.append({"name": f"input pipeline, ours, {best['workers']} workers", "value": round(best["ours"]),
                    "unit": "images/s", "vs_plain": round(best["ratio"], 2) if "ratio" in best else None})
    if "plain" in best:
        summary.append({"name": f"input pipeline, plain port, {best['workers']} workers",
                        "value": round(best["plain"]), "unit": "images/s", "vs_plain": None})
    summary.append({"name": "input pipeline, decoded cache, 1 process", "value": round(fast["images_per_s"]),
                    "unit": "images/s", "vs_plain": None})
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": facts, "device": args.device, "source": source, "images": len(index), "image_size": side,
            "batch_size": args.batch_size, "crop": args.crop, "batches": args.batches, "repeats": args.repeats,
            "rows": rows, "comparisons": comparisons, "summary": summary}, indent=1, default=str))


if __name__ == "__main__":
    main()
