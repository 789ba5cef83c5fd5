"""CUDA graphs for the whole training step, without torch.compile (so without Triton).

Eagerly, a small network's step on a fast card is bound by the host launching kernels
(docs/BENCHMARKS.md, the H200: 2 % of the bf16 peak). :class:`GraphedStep` records one
step of a :class:`~modelzoo.train.step.StepRunner` (the plugin's device transform, forward,
backward, clipping and the Adam/AdamW update) as one ``torch.cuda.CUDAGraph`` and replays
it each step: one launch per step. It needs only the CUDA runtime, not a compiler, so it
also serves a card whose torch has no Triton backend.

The wrapper is called like the runner, ``graphed(inputs, targets) -> loss``, and every
call is one training step:

- the first :data:`WARMUP_STEPS` calls run the runner eagerly on a side stream (cuDNN
  picks its algorithms, the optimizer creates its state, autograd its streams);
- the next call copies its batch into static buffers, captures the step and replays it;
- every later call copies its batch into those buffers (``copy_``), writes the current
  learning rate into the optimizer's LR tensor and replays.

The optimizer is switched to ``capturable=True`` with a learning-rate tensor during the
capture, so the trainer's per-step ``group["lr"] = x`` still takes effect. Random draws
(crop, flip, dropout) stay random: the CUDA generator's seed and offset are read at each
replay, so the trainer's per-step ``torch.manual_seed`` still determines them.

When the step cannot be captured (a CPU run, no CUDA, several cards under DDP, fp16
gradient scaling, torch.compile, an optimizer without a capturable step, an operation
that synchronizes with the host, a batch whose shape changes), one log line says why and
the runner continues eagerly. :attr:`GraphedStep.outcome` is what the record's math
section keeps: ``captured``, ``off`` or ``fell back: <reason>``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Optional

import torch
from torch import nn
from torch.utils import _pytree as pytree

from modelzoo.train.step import StepRunner

WARMUP_STEPS = 3  # eager steps on a side stream before the capture (torch's documented recipe)
log = logging.getLogger("modelzoo.train")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200] if lines else ''}"


def capture_blocker(runner: StepRunner, device: torch.device | str) -> Optional[str]:
    """Why ``runner``'s step cannot be captured on ``device``, or None if it may be tried."""
    device = torch.device(device)
    model = runner.model
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return "several cards under DistributedDataParallel (its gradient all-reduce is not captured here)"
    if hasattr(model, "_orig_mod"):
        return "torch.compile is on (its mode reduce-overhead makes CUDA graphs itself)"
    if runner.scaler is not None:
        return "fp16 gradient scaling reads its overflow flag on the host every step"
    if not isinstance(runner.optimizer, (torch.optim.Adam, torch.optim.AdamW)):
        return (f"optimizer {type(runner.optimizer).__name__} has no capturable step "
                "(adam and adamw have one)")
    if device.type != "cuda":
        return f"the run is on the {device.type}, not a CUDA card"
    if not torch.cuda.is_available():
        return "CUDA is not available in this torch"
    return None


class GraphedStep:
    """A :class:`StepRunner` whose step is replayed from a CUDA graph once captured."""

    def __init__(self, runner: StepRunner, device: torch.device | str, *, enabled: bool = True,
                 warmup_steps: int = WARMUP_STEPS, log_line: Optional[Callable[[str], None]] = None):
        self.runner = runner
        self.device = torch.device(device)
        self.warmup_steps = max(1, warmup_steps)
        self._say = log_line or log.warning
        self.outcome = "off"
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        self._calls = 0
        self._static: list[torch.Tensor] = []
        self._spec = None
        self._loss: Optional[torch.Tensor] = None
        self._lr: list[torch.Tensor] = []
        self._lr_values: list[float] = []
        self._side: Optional[torch.cuda.Stream] = None
        if not enabled:
            return
        blocker = capture_blocker(runner, self.device)
        if blocker:
            self._fall_back(blocker)
            return
        self.outcome = "pending"
        self._make_capturable()

    @property
    def eager(self) -> bool:
        return self.outcome == "off" or self.outcome.startswith("fell back")

    def describe(self) -> str:
        """The record's ``cuda_graphs`` value (a run that ended before the capture says so)."""
        if self.outcome == "pending":
            return f"fell back: the run ended within the {self.warmup_steps} eager warm-up steps"
        return self.outcome

    def _fall_back(self, reason: str) -> None:
        self.outcome = f"fell back: {reason}"
        self.graph = None
        self._static, self._loss = [], None
        self._say(f"cuda graphs: not used, the step runs eagerly ({reason})")

    def _make_capturable(self) -> None:
        """Adam/AdamW with ``capturable``: step counts and bias corrections stay on the card."""
        optimizer = self.runner.optimizer
        for group in optimizer.param_groups:
            group["capturable"] = True
        for param, state in optimizer.state.items():  # a resumed state holds host step counts
            step = state.get("step")
            if step is not None and (not torch.is_tensor(step) or step.device != param.device):
                state["step"] = torch.as_tensor(float(step), dtype=torch.float32, device=param.device)

    # --- The step ----------------------------------------------------------------------

    def __call__(self, inputs: Any, targets: Any) -> torch.Tensor:
        if self.eager:
            return self.runner(inputs, targets)
        if self.graph is None and self._calls < self.warmup_steps:
            self._calls += 1
            return self._warm_up(inputs, targets)
        leaves, spec = pytree.tree_flatten((inputs, targets))
        if self.graph is None:
            return self._capture(inputs, targets, leaves, spec)
        changed = self._mismatch(leaves, spec)
        if changed:
            self._fall_back(changed)
            return self.runner(inputs, targets)
        for static, leaf in zip(self._static, leaves):
            static.copy_(leaf, non_blocking=True)
        self._write_lr()
        self.graph.replay()
        return self._loss.clone()  # the static output is overwritten by the next replay

    def _warm_up(self, inputs: Any, targets: Any) -> torch.Tensor:
        current = torch.cuda.current_stream(self.device)
        if self._side is None:
            self._side = torch.cuda.Stream(self.device)
        self._side.wait_stream(current)
        with torch.cuda.stream(self._side):
            loss = self.runner(inputs, targets)
        current.wait_stream(self._side)
        return loss

    def _mismatch(self, leaves: list, spec) -> Optional[str]:
        if spec != self._spec or len(leaves) != len(self._static):
            return "the batch's structure changed after the capture"
        for static, leaf in zip(self._static, leaves):
            if not torch.is_tensor(leaf) or leaf.shape != static.shape or leaf.dtype != static.dtype \
                    or leaf.device != static.device:
                what = tuple(leaf.shape) if torch.is_tensor(leaf) else type(leaf).__name__
                return f"dynamic shapes: a batch of {what} after capturing {tuple(static.shape)} {static.dtype}"
        return None

    def _capture(self, inputs: Any, targets: Any, leaves: list, spec) -> torch.Tensor:
        bad = [leaf for leaf in leaves if not torch.is_tensor(leaf) or leaf.device != self.device]
        if bad:
            what = type(bad[0]).__name__ if not torch.is_tensor(bad[0]) else f"a tensor on {bad[0].device}"
            self._fall_back(f"the batch holds {what}; a graph reads only tensors on {self.device}")
            return self.runner(inputs, targets)
        optimizer = self.runner.optimizer
        self._static = [torch.empty_like(leaf) for leaf in leaves]
        for static, leaf in zip(self._static, leaves):
            static.copy_(leaf)
        self._spec = spec
        self._lr = [torch.tensor(float(g["lr"]), dtype=torch.float32, device=self.device)
                    for g in optimizer.param_groups]
        self._lr_values = [float(g["lr"]) for g in optimizer.param_groups]
        graph = torch.cuda.CUDAGraph()
        saved_lr = [g["lr"] for g in optimizer.param_groups]
        stream = torch.cuda.current_stream(self.device)
        try:
            torch.cuda.synchronize(self.device)
            optimizer.zero_grad(set_to_none=True)  # backward then allocates .grad in the graph's pool
            for group, lr in zip(optimizer.param_groups, self._lr):
                group["lr"] = lr
            static_inputs, static_targets = pytree.tree_unflatten(self._static, spec)
            # thread_local: a prefetch thread (resident data's pinned path) may use CUDA meanwhile
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                loss = self.runner(static_inputs, static_targets)
        except Exception as exc:  # an op that syncs with the host, an unsupported kernel...
            for group, lr in zip(optimizer.param_groups, saved_lr):
                group["lr"] = lr
            torch.cuda.set_stream(stream)  # a failed capture_end leaves its capture stream current
            try:
                torch.cuda.synchronize(self.device)
            except Exception:
                pass
            self._fall_back(f"capture failed ({_first_line(exc)})")
            return self.runner(inputs, targets)  # nothing of this step ran during the capture
        for group, lr in zip(optimizer.param_groups, saved_lr):
            group["lr"] = lr  # the trainer keeps writing floats; _write_lr copies them in
        self.graph, self._loss = graph, loss
        self.outcome = "captured"
        self._say("cuda graphs: the training step is captured (one replay per step)")
        graph.replay()  # the capture only recorded: this step has yet to run
        return loss.clone()

    def _write_lr(self) -> None:
        for i, group in enumerate(self.runner.optimizer.param_groups):
            value = group["lr"]
            if torch.is_tensor(value):
                value = float(value)
            if value != self._lr_values[i]:
                self._lr[i].fill_(value)
                self._lr_values[i] = value

