"""The optimizer and the learning-rate schedule of a profile (``optimizer``, ``schedule``)."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from modelzoo.contract.api import UserError
from modelzoo.contract.settings import OptimizerSettings, ScheduleSettings

_FUSED_OPTIMIZERS = ("adam", "adamw")


def _fused_step_works(device: torch.device) -> bool:
    """Whether a fused Adam step runs on this device (a one-element probe).

    torch has fused Adam/AdamW kernels for CUDA and the CPU, but a vendor build of torch
    (an SDK's CUDA-compatible one) may lack them; there torch's default (foreach on CUDA) serves.
    """
    try:
        probe = torch.zeros(1, device=device, requires_grad=True)
        probe.grad = torch.ones_like(probe)
        torch.optim.Adam([probe], fused=True).step()
        return True
    except (RuntimeError, NotImplementedError):
        return False


def build_optimizer(settings: OptimizerSettings, module: nn.Module,
                    device: Optional[torch.device] = None) -> torch.optim.Optimizer:
    """The profile's optimizer over ``module``'s parameters (on ``device``, default: theirs).

    ``fused``: None (auto) uses the fused Adam/AdamW kernel where the device runs it (one
    kernel over all parameters instead of a dozen per tensor; on the development CPU, one
    thread, an Inception-ResNet-v1 step took 14 ms fused against 39 ms for the per-tensor
    loop), True insists on it, False uses torch's default.
    """
    decay, no_decay = [], []
    for param in module.parameters():
        if not param.requires_grad:
            continue
        # TF's recipe regularizes only conv/linear kernels; norm scales and biases are 1-d.
        (no_decay if param.ndim <= 1 and not settings.decay_norm_and_bias else decay).append(param)
    groups = [{"params": decay, "weight_decay": settings.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    name = settings.name.lower()
    fused = settings.fused
    if name in _FUSED_OPTIMIZERS:
        if fused is None:
            if device is None:
                device = next((p.device for p in decay + no_decay), torch.device("cpu"))
            fused = _fused_step_works(device)
        implementation = {"fused": True} if fused else {}
        optimizer_class = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return optimizer_class(groups, lr=settings.lr, betas=tuple(settings.betas), eps=settings.eps,
                               **implementation)
    if fused:
        raise UserError(f"optimizer.fused is for adam and adamw; set it to null for {settings.name}")
    if name == "sgd":
        return torch.optim.SGD(groups, lr=settings.lr, momentum=settings.momentum, nesterov=settings.nesterov)
    if name == "rmsprop":
        # davidsandberg's RMSProp: decay 0.9, epsilon 1.0 (the profile's eps when it sets one)
        return torch.optim.RMSprop(groups, lr=settings.lr, momentum=settings.momentum,
                                   eps=settings.eps, alpha=0.9)
    raise UserError(f"optimizer.name '{settings.name}' is not supported; use adam, adamw, sgd or rmsprop")


def optimizer_implementation(optimizer: torch.optim.Optimizer) -> str:
    """``fused``, ``foreach`` or ``default`` (torch's choice), as recorded with a run."""
    defaults = optimizer.defaults
    if defaults.get("fused"):
        return "fused"
    if defaults.get("foreach"):
        return "foreach"
    return "default"


def learning_rate(schedule: ScheduleSettings, base_lr: float, step: int, steps_per_epoch: int,
                  total_steps: int) -> float:
    """The learning rate at a global step."""
    epoch = step // steps_per_epoch
    if schedule.name == "steps":
        # {epoch: lr}: the value of the last milestone reached (davidsandberg's schedule file).
        lr = base_lr
        for start, value in sorted((int(k), float(v)) for k, v in schedule.milestones.items()):
            if epoch >= start:
                lr = value
    elif schedule.name == "cosine":
        lr = schedule.min_lr + 0.5 * (base_lr - schedule.min_lr) * (1 + math.cos(math.pi * step / max(1, total_steps)))
    elif schedule.name == "constant":
        lr = base_lr
    else:
        raise UserError(f"schedule.name '{schedule.name}' is not supported; use steps, cosine or constant")
    warmup_steps = int(schedule.warmup_epochs * steps_per_epoch)
    if step < warmup_steps:
        lr *= (step + 1) / warmup_steps
    return lr
