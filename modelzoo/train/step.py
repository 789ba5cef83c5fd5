"""One training step, as every run (and bench/cpu_step.py) executes it.

:class:`TrainStep` joins network and loss in one module (so DDP synchronizes the loss's
parameters too); :class:`StepRunner` is the whole step: the plugin's device transform,
memory format, autocast, backward (with fp16 gradient scaling), clipping and the
optimizer. The math settings a run records (cuDNN autotuning, TF32, compile, emulated
half precision on a CPU) are chosen here too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from modelzoo.contract.api import UserError
from modelzoo.contract.settings import TrainSettings


class TrainStep(nn.Module):
    """Network and loss as one module: ``forward(inputs, targets) -> loss``."""

    def __init__(self, network: nn.Module, loss: nn.Module):
        super().__init__()
        self.network = network
        self.loss = loss

    def forward(self, inputs: Any, targets: Any) -> torch.Tensor:
        return self.loss(self.network(inputs), targets)


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` (any nesting of tuples, lists and dicts of tensors) on ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [to_device(value, device) for value in batch]
        return type(batch)(moved) if not hasattr(batch, "_fields") else type(batch)(*moved)
    return batch


def autocast(device_type: str, amp: str):
    if amp == "none":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    if dtype is None:
        raise UserError(f"train.amp '{amp}' is not supported; use none, bf16 or fp16")
    return torch.autocast(device_type=device_type, dtype=dtype)


@dataclass
class StepRunner:
    """The product's training step: ``runner(inputs, targets) -> detached loss``.

    ``model`` is what runs forward (the TrainStep, or its DDP/compiled wrapper);
    ``parameters`` is the plain TrainStep (for gradient clipping).
    """

    model: nn.Module
    parameters: nn.Module
    optimizer: torch.optim.Optimizer
    device_type: str
    amp: str = "none"
    grad_clip: float = 0.0
    channels_last: bool = False
    transform: Optional[Callable[[Any], Any]] = None
    scaler: Optional[torch.amp.GradScaler] = None

    def __call__(self, inputs: Any, targets: Any) -> torch.Tensor:
        if self.transform is not None:
            inputs = self.transform(inputs)
        if self.channels_last and isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast(self.device_type, self.amp):
            loss = self.model(inputs, targets)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.grad_clip:  # otherwise the step unscales (inside the fused kernel, without a sync)
                self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.grad_clip:
            nn.utils.clip_grad_norm_(self.parameters.parameters(), self.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return loss.detach()


def emulated_cpu_amp(device: str, amp: str) -> Optional[str]:
    """A warning when ``amp`` asks a CPU for a half type it has no instructions for.

    oneDNN then emulates bf16/fp16 in software: on an AVX2-only EPYC a bf16 matmul ran at
    0.0014 TFLOP/s against 0.122 in fp32, about 100x slower, and nothing else says so.
    """
    if device != "cpu" or amp not in ("bf16", "fp16"):
        return None
    probe = getattr(torch.ops.mkldnn, f"_is_mkldnn_{amp}_supported", None)
    if probe is None or probe():
        return None
    return (f"train.amp={amp} on a CPU without native {amp} ({torch.backends.cpu.get_cpu_capability()}): "
            "it is emulated and far slower than fp32; use --set train.amp=none")


def configure_math(device: str, train: TrainSettings) -> dict:
    """Apply the CUDA math settings of ``train`` and return them for the record.

    ``cudnn_benchmark`` (default on): cuDNN times its convolution algorithms once per input
    shape; the training shapes never change, so the search pays for itself in a few steps.
    ``tf32`` (default off): TF32 tensor-core math for fp32 matmuls and convolutions. Both
    flags are set explicitly because torch's defaults differ (convolutions allow TF32,
    matmuls do not): with ``tf32`` off, a run recorded as fp32 computes in fp32.
    """
    if device != "cuda":
        return {}
    torch.backends.cudnn.benchmark = train.cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = train.tf32
    torch.backends.cudnn.allow_tf32 = train.tf32
    return {"cudnn_benchmark": train.cudnn_benchmark, "tf32": train.tf32}


def compiled(module: nn.Module, train: TrainSettings) -> nn.Module:
    """torch.compile of the forward+backward graph; the optimizer step stays eager
    (its fused kernel is already one launch)."""
    return torch.compile(module, mode=None if train.compile_mode == "default" else train.compile_mode)


def compile_failure(exc: BaseException) -> Optional[UserError]:
    """A torch.compile failure (no Triton for this card, no C++ compiler on a CPU host...)
    as a one-line error naming the way round it; None for any other exception."""
    dynamo = sys.modules.get("torch._dynamo.exc")  # imported by torch.compile's first call
    if dynamo is None or not isinstance(exc, dynamo.TorchDynamoException):
        return None
    lines = str(exc).strip().splitlines()
    cause = lines[0][:200] if lines else ""
    return UserError(f"torch.compile failed on this machine ({type(exc).__name__}: {cause}); "
                     "run without it: --set train.compile=false")
