"""The plain port: the FaceNet recipe as a user would write it in plain PyTorch.

The baseline bench/train_bench.py measures modelzoo against. Nothing from modelzoo's
trainer or input pipeline: the same Inception-ResNet-v1 and softmax + prelogits-norm loss
module as the facenet plugin (so the work per image is identical), fp32, NCHW, a
torchvision ImageFolder with PIL transforms (random crop, flip, ToTensor, fixed
standardization), a standard DataLoader, Adam with the recipe's settings, and
``loss.item()`` every step.

FPS is measured as modelzoo measures it: ``batch x timed steps / wall time`` of the window
that opens after ``warmup`` steps, with the device synchronized at both ends. Compute-only
FPS repeats the step on one batch already on the device.

    PYTHONPATH=.:plugins/facenet python bench/plain_port.py IMAGE_DIR [--device cpu|cuda]
        [--batch 90] [--crop 160] [--steps 20] [--warmup 5] [--workers 4] [--json FILE]

IMAGE_DIR holds one folder of images per identity (e.g. 182 px aligned faces).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

import benchpath  # noqa: F401  (puts the checkout and plugins/facenet on sys.path)
import torch

from modelzoo_facenet.inception_resnet_v1 import InceptionResnetV1
from modelzoo_facenet.losses import SoftmaxLoss
from modelzoo_facenet.profiles import CASIA

COMPUTE_WARMUP_AFTER_TRAINING = 2  # as modelzoo's compute-only measurement after its training loop


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_loader(image_dir: str, batch_size: int, crop: int, num_workers: int, pin_memory: bool):
    """torchvision ImageFolder + PIL transforms + a standard shuffling DataLoader."""
    from torchvision import datasets, transforms

    standardize = transforms.Normalize(mean=[127.5 / 255] * 3, std=[128 / 255] * 3)  # (x - 127.5) / 128
    dataset = datasets.ImageFolder(image_dir, transforms.Compose([
        transforms.RandomCrop(crop), transforms.RandomHorizontalFlip(), transforms.ToTensor(), standardize]))
    if len(dataset) < batch_size:
        raise ValueError(f"{image_dir} holds {len(dataset)} images, fewer than one batch of {batch_size}")
    # persistent_workers: a benchmark set is passed over many times in a short run; restarting
    # the workers every pass would charge the baseline a cost it does not pay on CASIA-WebFace
    # (5,000 batches per pass).
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                                         pin_memory=pin_memory, drop_last=True,
                                         persistent_workers=num_workers > 0)
    return dataset, loader


def build_model(num_classes: int, device: torch.device):
    """Network, loss (owning the classifier) and optimizer, with the CASIA profile's settings."""
    model_cfg, loss_cfg, opt_cfg = CASIA["model"], CASIA["loss"], CASIA["optimizer"]
    network = InceptionResnetV1(embedding_size=model_cfg["embedding_size"], dropout_keep=model_cfg["dropout_keep"],
                                bn_momentum=model_cfg["bn_momentum"], bn_eps=model_cfg["bn_eps"]).to(device)
    loss_fn = SoftmaxLoss(model_cfg["embedding_size"], num_classes,
                          prelogits_norm_factor=loss_cfg["prelogits_norm_factor"],
                          prelogits_norm_p=loss_cfg["prelogits_norm_p"]).to(device)
    params = list(network.parameters()) + list(loss_fn.parameters())
    optimizer = torch.optim.Adam(params, lr=opt_cfg["lr"], eps=opt_cfg["eps"], weight_decay=opt_cfg["weight_decay"])
    return network, loss_fn, optimizer


def run_plain(image_dir: str, device: str, batch_size: int, crop: int, steps: int, warmup: int,
              num_workers: int, compute_only: bool = False, compute_steps: Optional[int] = None) -> dict:
    """Train the plain port and time it.

    End to end (default): ``warmup`` steps, then ``steps`` timed steps from the image files;
    afterwards ``compute_steps`` (default ``steps``; 0 skips) timed steps on the last batch,
    already on the device. ``compute_only=True``: only the latter, after ``warmup`` steps
    on that batch. Returns images/s as ``fps`` and ``compute_fps`` (None where not measured).
    """
    if steps < 1 or warmup < 1:
        raise ValueError(f"steps and warmup must be at least 1, got {steps} and {warmup}")
    compute_steps = steps if compute_steps is None else compute_steps
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda but no CUDA card is visible")
    dataset, loader = build_loader(image_dir, batch_size, crop, num_workers, pin_memory=dev.type == "cuda")
    network, loss_fn, optimizer = build_model(len(dataset.classes), dev)
    network.train()
    loss_fn.train()

    def train_step(images: torch.Tensor, labels: torch.Tensor) -> float:
        loss = loss_fn(network(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    def batches():
        while True:  # pass after pass, as `for epoch in ...: for batch in loader`
            for images, labels in loader:
                yield images.to(dev, non_blocking=True), labels.to(dev, non_blocking=True)

    result = {"device": str(dev), "batch": batch_size, "crop": crop, "workers": num_workers,
              "images": len(dataset), "identities": len(dataset.classes), "warmup_steps": warmup,
              "timed_steps": steps, "fps": None, "compute_fps": None, "last_loss": None,
              "matmul_tf32": torch.backends.cuda.matmul.allow_tf32, "cudnn_tf32": torch.backends.cudnn.allow_tf32,
              "cudnn_benchmark": torch.backends.cudnn.benchmark}
    stream = batches()
    images, labels = next(stream)
    if not compute_only:
        loss = train_step(images, labels)
        for _ in range(warmup - 1):
            images, labels = next(stream)
            loss = train_step(images, labels)
        _synchronize(dev)
        start = time.perf_counter()
        for _ in range(steps):
            images, labels = next(stream)
            loss = train_step(images, labels)
        _synchronize(dev)
        result["fps"] = batch_size * steps / (time.perf_counter() - start)
        result["seconds"] = time.perf_counter() - start
        result["last_loss"] = loss
    if compute_steps > 0:
        for _ in range(warmup if compute_only else COMPUTE_WARMUP_AFTER_TRAINING):
            result["last_loss"] = train_step(images, labels)
        _synchronize(dev)
        start = time.perf_counter()
        for _ in range(compute_steps):
            result["last_loss"] = train_step(images, labels)
        _synchronize(dev)
        result["compute_fps"] = batch_size * compute_steps / (time.perf_counter() - start)
        result["compute_steps"] = compute_steps
    return result


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image_dir", help="one folder of images per identity (e.g. 182 px aligned faces)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--batch", type=int, default=90)
    parser.add_argument("--crop", type=int, default=160)
    parser.add_argument("--steps", type=int, default=20, help="timed steps after the warm-up")
    parser.add_argument("--warmup", type=int, default=5, help="steps before the timed window opens")
    parser.add_argument("--compute-steps", type=int, default=None,
                        help="timed compute-only steps on a device-resident batch (default: --steps; 0: skip)")
    parser.add_argument("--compute-only", action="store_true", help="skip the end-to-end measurement")
    parser.add_argument("--workers", type=int, default=4, help="DataLoader worker processes")
    parser.add_argument("--json", help="write the result to this file")
    args = parser.parse_args(argv)
    if not Path(args.image_dir).is_dir():
        parser.exit(2, f"plain_port.py: error: {args.image_dir} is not a directory\n")
    if min(args.batch, args.crop, args.steps, args.warmup) < 1 or args.workers < 0 or (args.compute_steps or 0) < 0:
        parser.exit(2, "plain_port.py: error: --batch, --crop, --steps and --warmup must be positive, "
                       "--workers and --compute-steps not negative\n")
    try:
        result = run_plain(args.image_dir, args.device, args.batch, args.crop, args.steps, args.warmup,
                           args.workers, compute_only=args.compute_only, compute_steps=args.compute_steps)
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"plain_port.py: error: {exc}\n")
    fps = f"{result['fps']:.2f}" if result["fps"] else "n/a"
    compute = f"{result['compute_fps']:.2f}" if result["compute_fps"] else "n/a"
    print(f"plain port on {result['device']}: {fps} img/s end to end, {compute} img/s compute-only "
          f"(batch {args.batch}, crop {args.crop}, {result['images']} images, loss {result['last_loss']:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
