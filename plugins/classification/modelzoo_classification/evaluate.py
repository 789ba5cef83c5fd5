"""Top-1 / top-5 accuracy of a classifier over batches of uint8 images.

The caller hands over batches ``(uint8 N x 3 x H x W, labels)``; each batch is moved to the
device, normalized there by the same :class:`~modelzoo.toolkit.imagedata.DeviceAugment` as in
training (in eval mode: centre crop, no jitter) and scored. Accuracies are percentages,
as the zoo README prints them (Acc@1=76.02).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Optional

import torch
from torch import nn


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> torch.Tensor:
    """How many rows have their target among the ``k`` highest logits, for each ``k`` (a tensor
    on the logits' device: no host sync per batch; ``k`` above the class count counts every row)."""
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hits = top == targets[:, None]
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])


def _autocast(device: torch.device, amp: str):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    if dtype is None or device.type != "cuda":  # CPUs: fp32 (half types are emulated on many)
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


@torch.no_grad()
def accuracy(network: nn.Module, batches: Iterable, device: str, transform: Callable[[torch.Tensor], torch.Tensor],
             *, amp: str = "none", channels_last: bool = False,
             log: Optional[Callable[[str], None]] = None) -> dict[str, float]:
    """``{"acc1", "acc5" (percent), "eval_images"}`` of ``network`` on ``batches``."""
    device = torch.device(device)
    correct = torch.zeros(2, dtype=torch.int64, device=device)  # top-1, top-5
    seen = 0
    for number, (images, labels) in enumerate(batches, 1):
        images = transform(images.to(device, non_blocking=True))
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        with _autocast(device, amp):
            logits = network(images)
        correct += topk_correct(logits.float(), labels)
        seen += len(labels)
        if log and number % 50 == 0:
            log(f"evaluated {seen} images, acc1 so far {100.0 * int(correct[0]) / seen:.2f}")
    if seen == 0:
        raise ValueError("no images to evaluate")
    top1, top5 = correct.tolist()
    return {"acc1": 100.0 * top1 / seen, "acc5": 100.0 * top5 / seen, "eval_images": seen}


def array_batches(images, labels, batch_size: int):
    """``(uint8 N x 3 x H x W, int64 labels)`` batches from an ``(N, H, W, 3)`` array
    (a :class:`~modelzoo.toolkit.imagedata.DecodedCache` memmap) and its labels, in order."""
    import numpy as np

    labels = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    for start in range(0, len(labels), batch_size):
        block = np.array(images[start:start + batch_size])  # a writable copy of the memmap rows
        yield torch.from_numpy(block).permute(0, 3, 1, 2), labels[start:start + batch_size]
