"""CUDA graphs without torch.compile (modelzoo/train/graphs.py): a clean eager fallback with one
line naming the reason, the eager result unchanged; on a card, the captured step trains
as the eager one does (bench/gpu.sh runs those tests there)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelzoo.contract.settings import OptimizerSettings
from modelzoo.toolkit.imagedata import DeviceAugment
from modelzoo.train.graphs import GraphedStep, capture_blocker
from modelzoo.train.optim import build_optimizer
from modelzoo.train.step import StepRunner, TrainStep

CLASSES, BATCH, SIZE, CROP = 5, 8, 14, 12
LRS = [2e-3, 2e-3, 1e-3, 3e-3, 3e-3, 0.0, 0.0, 1e-3, 5e-4, 2e-3]  # two zero-LR steps after the capture


class Net(nn.Module):
    def __init__(self, sync: bool = False):
        super().__init__()
        self.sync = sync
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, CLASSES))

    def forward(self, x):
        if self.sync and x.sum().item() > 1e30:  # reads a value on the host: not capturable
            x = x * 0
        return self.body(x)


def _runner(device, optimizer: str = "adamw", sync: bool = False, scaler=None) -> StepRunner:
    torch.manual_seed(0)
    step = TrainStep(Net(sync), nn.CrossEntropyLoss()).to(device)
    opt = build_optimizer(OptimizerSettings(name=optimizer, lr=LRS[0], weight_decay=0.01), step, torch.device(device))
    return StepRunner(model=step, parameters=step, optimizer=opt, device_type=torch.device(device).type,
                      transform=DeviceAugment(CROP, brightness=0.1), scaler=scaler)


def _batches(device, count: int = len(LRS), batch: int = BATCH) -> list:
    generator = torch.Generator().manual_seed(1)
    return [(torch.randint(0, 256, (batch, 3, SIZE, SIZE), dtype=torch.uint8, generator=generator).to(device),
             torch.randint(0, CLASSES, (batch,), generator=generator).to(device)) for _ in range(count)]


def _train(step, runner: StepRunner, batches: list) -> tuple[list, list]:
    """The trainer's loop around a step: LR written as a float, torch re-seeded each step."""
    losses, after = [], []
    for i, (inputs, targets) in enumerate(batches):
        for group in runner.optimizer.param_groups:
            group["lr"] = LRS[i % len(LRS)]
        torch.manual_seed(100 + i)
        losses.append(step(inputs, targets).clone())
        after.append([p.detach().clone() for p in runner.parameters.parameters()])
    return losses, after


def test_cpu_falls_back_with_one_line_and_the_eager_result_unchanged():
    eager = _runner("cpu")
    wrapped = _runner("cpu")
    lines = []
    graphed = GraphedStep(wrapped, "cpu", log_line=lines.append)
    assert graphed.outcome == "fell back: the run is on the cpu, not a CUDA card" == graphed.describe()
    assert lines == ["cuda graphs: not used, the step runs eagerly (the run is on the cpu, not a CUDA card)"]
    expected_losses, expected_params = _train(eager, eager, _batches("cpu"))
    losses, params = _train(graphed, wrapped, _batches("cpu"))
    for want, have in zip(expected_losses, losses):
        assert torch.equal(want, have)
    for want, have in zip(expected_params[-1], params[-1]):
        assert torch.equal(want, have)
    assert not any(g.get("capturable") for g in wrapped.optimizer.param_groups)  # optimizer untouched
    assert len(lines) == 1  # one line for the whole run, not one per step


def test_off_changes_nothing_and_says_off():
    lines = []
    graphed = GraphedStep(_runner("cpu"), "cpu", enabled=False, log_line=lines.append)
    assert graphed.outcome == "off" == graphed.describe() and lines == []
    loss = graphed(*_batches("cpu", 1)[0])
    assert loss.shape == () and torch.isfinite(loss)


def test_reasons_for_setups_that_cannot_be_captured(monkeypatch):
    assert "optimizer SGD has no capturable step" in capture_blocker(_runner("cpu", "sgd"), "cuda")
    scaled = _runner("cpu", scaler=torch.amp.GradScaler("cpu"))
    assert "fp16 gradient scaling" in capture_blocker(scaled, "cuda")
    compiled = _runner("cpu")
    compiled.model = torch.compile(compiled.model)  # wrapping only; nothing compiles until a call
    assert "torch.compile is on" in capture_blocker(compiled, "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    lines = []
    graphed = GraphedStep(_runner("cpu"), "cuda", log_line=lines.append)
    assert graphed.outcome == "fell back: CUDA is not available in this torch" and len(lines) == 1


# --- On a card (bench/gpu.sh runs these) ----------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _capturable_reference(device) -> StepRunner:
    """The eager step with the optimizer the graph uses (capturable keeps step counts on the
    card: the same update, rounded a little differently from the host-side counts)."""
    runner = _runner(device)
    for group in runner.optimizer.param_groups:
        group["capturable"] = True
    return runner


@needs_cuda
def test_captured_step_trains_as_the_eager_step_with_the_schedule():
    device = torch.device("cuda", torch.cuda.current_device())
    reference = _capturable_reference(device)
    wrapped = _runner(device)
    lines = []
    graphed = GraphedStep(wrapped, device, log_line=lines.append)
    assert graphed.outcome == "pending"
    expected_losses, expected_params = _train(reference, reference, _batches(device))
    losses, params = _train(graphed, wrapped, _batches(device))
    assert graphed.outcome == "captured" == graphed.describe() and graphed.graph is not None
    assert lines == ["cuda graphs: the training step is captured (one replay per step)"]
    torch.testing.assert_close(torch.stack(losses), torch.stack(expected_losses), rtol=1e-4, atol=1e-5)
    for want, have in zip(expected_params[-1], params[-1]):
        torch.testing.assert_close(have, want, rtol=1e-4, atol=1e-5)
    # LR 0 at steps 5 and 6 (after the capture at step 3): replays must read the new rate
    zero = LRS.index(0.0)
    for before, after in zip(params[zero - 1], params[zero]):
        if before.dtype.is_floating_point and before.dim() > 1:
            assert torch.equal(before, after)
    assert not torch.equal(params[zero][0], params[zero + 2][0])


@needs_cuda
def test_host_sync_in_the_step_falls_back_and_still_trains():
    device = torch.device("cuda", torch.cuda.current_device())
    reference = _capturable_reference(device)
    reference.model.network.sync = True
    wrapped = _runner(device, sync=True)
    lines = []
    graphed = GraphedStep(wrapped, device, log_line=lines.append)
    expected_losses, expected_params = _train(reference, reference, _batches(device))
    losses, params = _train(graphed, wrapped, _batches(device))
    assert graphed.outcome.startswith("fell back: capture failed (") and len(lines) == 1, lines
    torch.testing.assert_close(torch.stack(losses), torch.stack(expected_losses), rtol=1e-4, atol=1e-5)
    for want, have in zip(expected_params[-1], params[-1]):
        torch.testing.assert_close(have, want, rtol=1e-4, atol=1e-5)


@needs_cuda
def test_a_batch_of_another_shape_after_the_capture_falls_back():
    device = torch.device("cuda", torch.cuda.current_device())
    wrapped = _runner(device)
    lines = []
    graphed = GraphedStep(wrapped, device, log_line=lines.append)
    _train(graphed, wrapped, _batches(device, 5))
    assert graphed.outcome == "captured"
    loss = graphed(*_batches(device, 1, batch=BATCH - 2)[0])
    assert graphed.outcome.startswith("fell back: dynamic shapes: a batch of (6, 3, 14, 14)"), graphed.outcome
    assert torch.isfinite(loss) and len(lines) == 2
