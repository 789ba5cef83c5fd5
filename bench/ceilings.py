"""The device's measured ceilings, and the training FPS they allow for Inception-ResNet-v1.

- Matrix product: a large square matmul in fp32, TF32 (CUDA), bf16 and fp16 where the
  device runs them; TFLOP/s (2 n^3 per product), median over repeats, timed with CUDA
  events on a card and the host clock on the CPU.
- Memory copy: device to device (GB/s of traffic, read + write) and, on CUDA, host to
  device from pinned memory (GB/s copied).
- FLOPs per training image: torch's FlopCounterMode over one forward pass of the
  recipe's Inception-ResNet-v1 at the crop size (on the meta device: counted, not run),
  then 3x forward for forward + backward; the counted forward + backward step (with the
  CASIA classifier, 10,575 classes) is printed beside it as a check. The counter sees
  convolutions and matrix products only (batch norm and element-wise work are extra).
- FPS ceiling = matmul FLOP/s / FLOP per training image, per precision: what the card
  would train at if every FLOP ran at the peak of a large matmul.

    PYTHONPATH=.:plugins/facenet python bench/ceilings.py [--device cpu|cuda] [--crop 160]
        [--repeats 10] [--json FILE] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import benchpath  # noqa: F401  (puts the checkout and plugins/facenet on sys.path)
import torch

CASIA_CLASSES = 10575  # CASIA-WebFace identities: the classifier of the recipe's training step
# (matmul size, copy bytes, seconds per timed repeat): large enough to reach the peak,
# small enough for seconds per measurement on 2 CPU cores.
SIZES = {
    ("cuda", False): (8192, 1 << 30, 0.05),
    ("cuda", True): (4096, 1 << 28, 0.02),
    ("cpu", False): (2048, 1 << 28, 0.3),
    ("cpu", True): (512, 1 << 25, 0.05),
}


def _timer(device: torch.device) -> Callable[[Callable[[], None], int], float]:
    """A function timing ``inner`` calls of ``work`` in seconds: CUDA events on a card."""
    if device.type == "cuda":
        def timed(work, inner: int) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                work()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
    else:
        def timed(work, inner: int) -> float:
            start = time.perf_counter()
            for _ in range(inner):
                work()
            return time.perf_counter() - start
    return timed


def _measure(device: torch.device, work: Callable[[], None], repeats: int, seconds_per_repeat: float) -> list[float]:
    """Seconds per call of ``work``, one value per repeat (each repeat ~``seconds_per_repeat``)."""
    timed = _timer(device)
    work()  # warm-up, untimed: library handles, kernel selection, allocation
    one = timed(work, 1)
    if one > 10 * seconds_per_repeat:
        return [one]  # a slow fallback path (e.g. fp16 on a CPU): one call says enough
    inner = max(1, min(1000, math.ceil(seconds_per_repeat / max(one, 1e-9))))
    return [timed(work, inner) / inner for _ in range(repeats)]


@contextlib.contextmanager
def _tf32(enabled: bool):
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def matmul_ceilings(device: torch.device, n: int, repeats: int, seconds_per_repeat: float) -> list[dict]:
    """TFLOP/s of an n x n x n matmul per precision; a precision the device lacks is skipped with a note."""
    precisions = [("fp32", torch.float32, False)]
    if device.type == "cuda":
        precisions.append(("tf32", torch.float32, True))
    precisions += [("bf16", torch.bfloat16, False), ("fp16", torch.float16, False)]
    rows = []
    for name, dtype, tf32 in precisions:
        if device.type == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            rows.append({"precision": name, "n": n, "tflops": None, "note": "not supported by this card"})
            continue
        try:
            with _tf32(tf32) if device.type == "cuda" else contextlib.nullcontext():
                size = n if device.type == "cuda" else _affordable_size(dtype, n, seconds_per_repeat)
                seconds = _measure(device, _matmul(device, dtype, size), repeats, seconds_per_repeat)
        except (RuntimeError, NotImplementedError) as exc:
            rows.append({"precision": name, "n": n, "tflops": None, "note": str(exc).splitlines()[0][:120]})
            continue
        values = [2.0 * size ** 3 / s / 1e12 for s in seconds]
        rows.append({"precision": name, "n": size, "tflops": statistics.median(values), "tflops_all": values})
    return rows


def _matmul(device: torch.device, dtype: torch.dtype, n: int) -> Callable[[], None]:
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return lambda: torch.mm(a, b, out=out)


def _affordable_size(dtype: torch.dtype, n: int, seconds: float, probe: int = 256) -> int:
    """The largest power-of-two size up to ``n`` whose CPU matmul takes about ``seconds``.

    A CPU may run a precision through a slow fallback (fp16 without native kernels runs
    ~1000x below fp32): probe small first rather than wait minutes on one product.
    """
    work = _matmul(torch.device("cpu"), dtype, probe)
    work()
    start = time.perf_counter()
    work()
    per_flop = (time.perf_counter() - start) / (2.0 * probe ** 3)
    size = probe
    while size * 2 <= n and per_flop * 2.0 * (size * 2) ** 3 <= seconds:
        size *= 2
    return size


def copy_ceilings(device: torch.device, nbytes: int, repeats: int, seconds_per_repeat: float) -> list[dict]:
    """Device-to-device copy (GB/s of read + write traffic) and, on CUDA, pinned host-to-device (GB/s)."""
    rows = []
    src = torch.empty(nbytes, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    seconds = _measure(device, lambda: dst.copy_(src), repeats, seconds_per_repeat)
    values = [2 * nbytes / s / 1e9 for s in seconds]
    rows.append({"copy": "device to device (read + write)", "bytes": nbytes, "gbps": statistics.median(values),
                 "gbps_all": values})
    src = dst = None
    if device.type == "cuda":
        host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True).fill_(1)
        card = torch.empty(nbytes, dtype=torch.uint8, device=device)
        seconds = _measure(device, lambda: card.copy_(host, non_blocking=True), repeats, seconds_per_repeat)
        values = [nbytes / s / 1e9 for s in seconds]
        rows.append({"copy": "host to device, pinned", "bytes": nbytes, "gbps": statistics.median(values),
                     "gbps_all": values})
        host = card = None
        torch.cuda.empty_cache()
    return rows


def training_flops(crop: int = 160, num_classes: int = CASIA_CLASSES) -> dict:
    """FLOPs of Inception-ResNet-v1 (the CASIA profile's settings) per image at ``crop`` px.

    Counted on the meta device (shapes only, nothing computed): the forward pass of one
    image in eval mode, and one training step (forward, softmax + prelogits-norm loss with
    ``num_classes`` classes, backward) on two images, halved.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from modelzoo_facenet.inception_resnet_v1 import InceptionResnetV1
    from modelzoo_facenet.losses import SoftmaxLoss
    from modelzoo_facenet.profiles import CASIA

    model_cfg = CASIA["model"]
    with torch.device("meta"):
        network = InceptionResnetV1(embedding_size=model_cfg["embedding_size"], dropout_keep=model_cfg["dropout_keep"],
                                    bn_momentum=model_cfg["bn_momentum"], bn_eps=model_cfg["bn_eps"])
        loss = SoftmaxLoss(model_cfg["embedding_size"], num_classes)
    network.eval()
    with FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, 3, crop, crop, device="meta"))
    forward = counter.get_total_flops()
    network.train()  # two images: training-mode batch norm needs more than one value per channel
    images = torch.zeros(2, 3, crop, crop, device="meta")
    labels = torch.zeros(2, dtype=torch.long, device="meta")
    with FlopCounterMode(display=False) as counter:
        loss(network(images), labels).backward()
    step = counter.get_total_flops() / 2
    return {"crop": crop, "forward_gflop": forward / 1e9, "train_3x_forward_gflop": 3 * forward / 1e9,
            "train_counted_gflop": step / 1e9, "classifier_classes": num_classes}


def fps_ceilings(matmul_rows: list[dict], gflop_per_image: float) -> dict:
    return {row["precision"]: row["tflops"] * 1e12 / (gflop_per_image * 1e9)
            for row in matmul_rows if row.get("tflops")}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="default: cuda when a card is visible")
    parser.add_argument("--crop", type=int, default=160, help="training image size for the FLOP count (default 160)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per figure (default 10, --quick 3)")
    parser.add_argument("--json", help="write every value to this file")
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 repeats: seconds")
    args = parser.parse_args(argv)
    device_name = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device_name == "cuda" and not torch.cuda.is_available():
        parser.exit(2, "ceilings.py: error: --device cuda but no CUDA card is visible\n")
    if args.crop < 75:
        parser.exit(2, "ceilings.py: error: Inception-ResNet-v1 needs --crop 75 or more\n")
    repeats = args.repeats or (3 if args.quick else 10)
    if repeats < 1:
        parser.exit(2, "ceilings.py: error: --repeats must be positive\n")
    device = torch.device(device_name)
    n, nbytes, seconds_per_repeat = SIZES[(device_name, args.quick)]

    from machine import describe, facts

    machine = facts(device_name)
    print(describe(machine), flush=True)
    matmul = matmul_ceilings(device, n, repeats, seconds_per_repeat)
    copies = copy_ceilings(device, nbytes, repeats, seconds_per_repeat)
    flops = training_flops(args.crop)
    ceilings = fps_ceilings(matmul, flops["train_3x_forward_gflop"])

    print(f"\nInception-ResNet-v1 at {args.crop} px: {flops['forward_gflop']:.3f} GFLOP forward per image "
          f"(FlopCounterMode), {flops['train_3x_forward_gflop']:.2f} GFLOP per training image (3x forward); "
          f"counted forward + backward step with a {flops['classifier_classes']}-class classifier: "
          f"{flops['train_counted_gflop']:.2f} GFLOP per image\n")
    print(f"| precision | matmul size | TFLOP/s (median of {repeats}) | training FPS ceiling (images/s) |")
    print("|---|---:|---:|---:|")
    for row in matmul:
        if row.get("tflops"):
            digits = 2 if row["tflops"] >= 1 else 4
            print(f"| {row['precision']} | {row['n']} | {row['tflops']:,.{digits}f} | "
                  f"{ceilings[row['precision']]:,.1f} |")
        else:
            print(f"| {row['precision']} | {row['n']} | n/a ({row['note']}) | - |")
    print(f"\n| copy | size | GB/s (median of {repeats}) |")
    print("|---|---:|---:|")
    for row in copies:
        print(f"| {row['copy']} | {row['bytes'] / 2**20:,.0f} MiB | {row['gbps']:,.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": machine, "device": device_name, "repeats": repeats, "quick": args.quick,
            "matmul": matmul, "copy": copies, "flops": flops, "fps_ceiling": ceilings,
            "fps_ceiling_basis": "matmul TFLOP/s / (3 x counted forward FLOP per image)"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
