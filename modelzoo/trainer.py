"""The generic training loop, run by every worker (one per card).

Top to bottom: set up the process group and logging, ask the plugin for data, model and
loss, build optimizer and schedule, resume if asked, train with the FPS meter running,
checkpoint, evaluate through the plugin, time compute-only steps, write the record.

Determinism: every step re-seeds torch from (seed, rank, step) and the data order is a
pure function of (seed, pass), so a run resumed from a checkpoint ends with the same
weights as one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import random
import signal
import sys
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, Sampler

from modelzoo import env as envinfo
from modelzoo import records
from modelzoo.api import RunContext, TrainData, UserError
from modelzoo.meter import ThroughputMeter, compute_only_fps
from modelzoo.plugins import load_registry

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "train.log"
log = logging.getLogger("modelzoo.train")


@dataclass
class Job:
    """Everything a worker needs; plain data so it crosses process boundaries."""

    run_id: str
    model: str
    profile: str
    config: dict
    data_root: str
    cache_dir: str
    runs_dir: str
    device: str  # "cuda" or "cpu"
    seed: int
    resume: bool = False

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.run_id


class StopRun(Exception):
    """Raised inside the loop to end the run with a given status."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


# --- Distributed helpers ---------------------------------------------------------------

def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _barrier() -> None:
    if _distributed():
        dist.barrier()


def _init_process_group(device: str) -> tuple[int, int, int]:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cpu":
        _share_cpu_threads(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if world_size > 1 and not _distributed():
        backend = "nccl" if device == "cuda" else "gloo"
        if device == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, device_id=torch.device("cuda", local_rank)
                                if device == "cuda" else None)
    return rank, local_rank, world_size


def _share_cpu_threads(local_workers: int) -> None:
    """Give each CPU worker of this host its share of the cores.

    Every process would otherwise start one compute thread per core: N workers on N cores
    run N x N threads, and their barriers stall on each other. OMP_NUM_THREADS, when set,
    is the user's choice and wins.
    """
    if local_workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_workers))


def derive_seed(seed: int, *parts: int) -> int:
    """A seed for one (rank, step) or (rank, pass): independent streams from one --seed."""
    return int(np.random.SeedSequence([seed, *parts]).generate_state(1, dtype=np.uint64)[0] % (2**63))


# --- Data order ------------------------------------------------------------------------

class _EpochBatches:
    """A plain sampler cut into fixed-size batches, with ``set_epoch`` passed through."""

    def __init__(self, sampler: Sampler, batch_size: int):
        self.sampler = sampler
        self.batches = BatchSampler(sampler, batch_size, drop_last=True)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class BatchStream(Sampler):
    """Endless batches: pass after pass over the data, starting at a given global step.

    Pass ``p`` uses ``set_epoch(p)``, so the order depends only on the seed and the pass;
    resuming at step ``s`` skips to the same batch without loading the ones before it.
    """

    def __init__(self, batches, start_step: int):
        self.batches = batches
        self.start_step = start_step
        self.per_pass = len(batches)
        if self.per_pass == 0:
            raise UserError("the training set holds fewer images than one batch per card; "
                            "lower train.batch_size or add data")

    def __iter__(self):
        pass_index, offset = divmod(self.start_step, self.per_pass)
        while True:
            if hasattr(self.batches, "set_epoch"):
                self.batches.set_epoch(pass_index)
            yield from itertools.islice(iter(self.batches), offset, None)
            pass_index, offset = pass_index + 1, 0


# --- Optimizer and schedule ------------------------------------------------------------

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


def build_optimizer(settings: dict, module: nn.Module, device: Optional[torch.device] = None) -> torch.optim.Optimizer:
    """The profile's optimizer over ``module``'s parameters (on ``device``, default: theirs).

    ``optimizer.fused``: None (auto) uses the fused Adam/AdamW kernel where the device runs
    it (one kernel over all parameters instead of a dozen per tensor; on the development
    CPU, one thread, an Inception-ResNet-v1 step took 14 ms fused against 39 ms for the
    per-tensor loop), true insists on it, false uses torch's default.
    """
    decay, no_decay = [], []
    for param in module.parameters():
        if not param.requires_grad:
            continue
        # TF's recipe regularizes only conv/linear kernels; norm scales and biases are 1-d.
        (no_decay if param.ndim <= 1 and not settings.get("decay_norm_and_bias", False) else decay).append(param)
    groups = [{"params": decay, "weight_decay": settings.get("weight_decay", 0.0)},
              {"params": no_decay, "weight_decay": 0.0}]
    name = settings["name"].lower()
    lr = settings["lr"]
    fused = settings.get("fused")
    if fused not in (None, True, False):
        raise UserError(f"optimizer.fused {fused!r} is not supported; use true, false or null (auto)")
    if name in _FUSED_OPTIMIZERS:
        if fused is None:
            if device is None:
                device = next((p.device for p in decay + no_decay), torch.device("cpu"))
            fused = _fused_step_works(device)
        implementation = {"fused": True} if fused else {}
        optimizer_class = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return optimizer_class(groups, lr=lr, betas=tuple(settings.get("betas", (0.9, 0.999))),
                               eps=settings.get("eps", 1e-8), **implementation)
    if fused:
        raise UserError(f"optimizer.fused is for adam and adamw; set it to null for {settings['name']}")
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=settings.get("momentum", 0.9),
                               nesterov=settings.get("nesterov", False))
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, momentum=settings.get("momentum", 0.9),
                                   eps=settings.get("eps", 1.0), alpha=0.9)
    raise UserError(f"optimizer.name '{settings['name']}' is not supported; use adam, adamw, sgd or rmsprop")


def optimizer_implementation(optimizer: torch.optim.Optimizer) -> str:
    """``fused``, ``foreach`` or ``default`` (torch's choice), as recorded with a run."""
    defaults = optimizer.defaults
    if defaults.get("fused"):
        return "fused"
    if defaults.get("foreach"):
        return "foreach"
    return "default"


def learning_rate(schedule: dict, base_lr: float, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """The learning rate at a global step, from the profile's ``schedule`` section."""
    name = schedule.get("name", "constant")
    epoch = step // steps_per_epoch
    if name == "steps":
        # {epoch: lr}: the value of the last milestone reached (davidsandberg's schedule file).
        milestones = sorted((int(k), float(v)) for k, v in schedule["milestones"].items())
        lr = base_lr
        for start, value in milestones:
            if epoch >= start:
                lr = value
    elif name == "cosine":
        min_lr = schedule.get("min_lr", 0.0)
        lr = min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * step / max(1, total_steps)))
    elif name == "constant":
        lr = base_lr
    else:
        raise UserError(f"schedule.name '{name}' is not supported; use steps, cosine or constant")
    warmup_steps = int(schedule.get("warmup_epochs", 0.0) * steps_per_epoch)
    if step < warmup_steps:
        lr *= (step + 1) / warmup_steps
    return lr


# --- The step --------------------------------------------------------------------------

class TrainStep(nn.Module):
    """Network and loss as one module, so DDP synchronizes the loss's parameters too."""

    def __init__(self, network: nn.Module, loss: nn.Module):
        super().__init__()
        self.network = network
        self.loss = loss

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss(self.network(inputs), targets)


def _autocast(device: str, amp: str):
    if amp in ("", "none", None):
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    if dtype is None:
        raise UserError(f"train.amp '{amp}' is not supported; use none, bf16 or fp16")
    return torch.autocast(device_type=device, dtype=dtype)


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


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def configure_math(device: str, train_cfg: dict) -> dict:
    """Apply the CUDA math settings of ``train`` and return them for the record.

    ``cudnn_benchmark`` (default on): cuDNN times its convolution algorithms once per input
    shape; the training shapes never change, so the search pays for itself in a few steps.
    ``tf32`` (default off): TF32 tensor-core math for fp32 matmuls and convolutions. Both
    flags are set explicitly because torch's defaults differ (convolutions allow TF32,
    matmuls do not): with ``tf32`` off, a run recorded as fp32 computes in fp32.
    """
    if device != "cuda":
        return {}
    benchmark = bool(train_cfg.get("cudnn_benchmark", True))
    tf32 = bool(train_cfg.get("tf32", False))
    torch.backends.cudnn.benchmark = benchmark
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return {"cudnn_benchmark": benchmark, "tf32": tf32}


def _compiled(module: nn.Module, train_cfg: dict) -> nn.Module:
    mode = train_cfg.get("compile_mode", "default")
    if mode not in COMPILE_MODES:
        raise UserError(f"train.compile_mode '{mode}' is not supported; use one of {', '.join(COMPILE_MODES)}")
    return torch.compile(module, mode=None if mode == "default" else mode)


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


class _Signals:
    """SIGTERM/SIGINT set a flag; the loop checkpoints and stops at the next check."""

    def __init__(self):
        self.received: Optional[int] = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. embedded use): leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C aborts at once
        self.received = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Progress:
    """One live line on a terminal; periodic log lines otherwise."""

    def __init__(self, total_steps: int, enabled: bool):
        self.total = total_steps
        self.live = enabled and sys.stderr.isatty()
        self.started = time.perf_counter()

    def update(self, step: int, epoch: int, loss: float, fps: Optional[float], first_step: int) -> None:
        done = step - first_step
        elapsed = time.perf_counter() - self.started
        eta = elapsed / done * (self.total - step) if done else float("nan")
        text = (f"step {step}/{self.total} epoch {epoch} loss {loss:.4f} "
                f"{'%.1f img/s' % fps if fps else 'warming up'} ETA {_clock(eta)}")
        if self.live:
            sys.stderr.write("\r" + text.ljust(78))
            sys.stderr.flush()
        log.info(text)

    def finish(self) -> None:
        if self.live:
            sys.stderr.write("\n")


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# --- Checkpoints -----------------------------------------------------------------------

def save_checkpoint(path: Path, step_module: TrainStep, optimizer, scaler, step: int, job: Job) -> None:
    state = {
        "model": step_module.network.state_dict(),
        "loss": step_module.loss.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "step": step,
        "run_id": job.run_id,
        "config": job.config,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, step_module: TrainStep, optimizer, scaler) -> int:
    state = torch.load(path, map_location="cpu", weights_only=True)
    step_module.network.load_state_dict(state["model"])
    step_module.loss.load_state_dict(state["loss"])
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return int(state["step"])


# --- The worker ------------------------------------------------------------------------

def _setup_logging(run_dir: Path, is_main: bool) -> None:
    root = logging.getLogger("modelzoo")
    root.handlers.clear()
    root.propagate = False
    root.setLevel(logging.INFO if is_main else logging.WARNING)
    if is_main:
        handler = logging.FileHandler(run_dir / LOG_FILE)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        if not sys.stderr.isatty():
            stream = logging.StreamHandler(sys.stderr)
            stream.setFormatter(logging.Formatter("%(message)s"))
            root.addHandler(stream)
    else:
        root.addHandler(logging.StreamHandler(sys.stderr))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_worker(job: Job) -> Optional[dict]:
    """Train one worker's share of a run; rank 0 returns (and writes) the final record."""
    rank, local_rank, world_size = _init_process_group(job.device)
    is_main = rank == 0
    run_dir = job.run_dir
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    _barrier()
    _setup_logging(run_dir, is_main)
    record = records.load(run_dir) if is_main else None
    started = time.time()
    try:
        with _Signals() as signals:
            status, metrics, curves, data_identity, env = _train(job, rank, local_rank, world_size, signals)
        if is_main:
            record.update(status=status, metrics=metrics, curves=curves,
                          data=data_identity.as_dict() if data_identity else None, env=env,
                          checkpoint=str(run_dir / CHECKPOINT_FILE))
            if status == "diverged":
                record["error"] = metrics.pop("error", "loss became NaN or inf")
            elif status == "interrupted":
                record["error"] = (f"stopped by a signal; resume with 'modelzoo run {job.model} "
                                   f"--resume {job.run_id}'")
    except BaseException as exc:  # the record must say why, whatever happened
        if is_main:
            record.update(status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                          error=str(exc) if isinstance(exc, UserError)
                          else f"{type(exc).__name__}: {exc}")
            log.error("run failed: %s", record["error"])
            log.debug("".join(traceback.format_exception(exc)))
            with open(run_dir / LOG_FILE, "a") as handle:
                traceback.print_exception(exc, file=handle)
        raise
    finally:
        if is_main:
            record["finished"] = records.utc_now()
            record["duration_s"] = round(time.time() - started, 3)
            records.save(record, job.runs_dir)
        if _distributed():
            dist.destroy_process_group()
    return record


def _train(job: Job, rank: int, local_rank: int, world_size: int, signals: _Signals):
    config = job.config
    train_cfg = config["train"]
    device = torch.device("cuda", local_rank) if job.device == "cuda" else torch.device("cpu")
    registry = load_registry()
    hook = registry.hook
    context = RunContext(model=job.model, profile=job.profile, config=config,
                         data_root=Path(job.data_root), cache_dir=Path(job.cache_dir),
                         run_dir=job.run_dir, device=str(device), rank=rank, local_rank=local_rank,
                         world_size=world_size, seed=job.seed, log=log.info, barrier=_barrier)
    _seed_everything(job.seed)
    math_settings = configure_math(job.device, train_cfg)
    env = envinfo.capture(job.device, extra=registry.environment_facts()) if rank == 0 else None
    if rank == 0:
        log.info("run %s: model %s, profile %s, %d worker(s) on %s", job.run_id, job.model,
                 job.profile, world_size, env.get("gpu") or env["cpu"])

    # Data first (a plugin may generate it on rank 0), then model and loss.
    data: TrainData = _must(hook.modelzoo_train_data(context=context), "modelzoo_train_data", job.model)
    network = _must(hook.modelzoo_build_model(context=context, num_classes=data.num_classes),
                    "modelzoo_build_model", job.model)
    loss_module = _must(hook.modelzoo_build_loss(context=context, num_classes=data.num_classes),
                        "modelzoo_build_loss", job.model)
    step_module = TrainStep(network, loss_module).to(device)
    if train_cfg.get("channels_last"):
        step_module = step_module.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(config["optimizer"], step_module, device)
    scaler = torch.amp.GradScaler(job.device) if train_cfg.get("amp") == "fp16" else None
    if rank == 0:
        env.update(math_settings, optimizer_implementation=optimizer_implementation(optimizer),
                   compile=train_cfg.get("compile_mode", "default") if train_cfg.get("compile") else False)
        log.info("math: %s", ", ".join(f"{k} {v}" for k, v in {
            **math_settings, "amp": train_cfg.get("amp", "none"), "channels_last": train_cfg.get("channels_last"),
            "optimizer": env["optimizer_implementation"], "compile": env["compile"]}.items()))
        slow_amp = emulated_cpu_amp(job.device, train_cfg.get("amp", "none"))
        if slow_amp:
            log.warning("%s", slow_amp)

    batch_size = train_cfg["batch_size"]
    if data.batch_sampler is not None:
        batches = data.batch_sampler
    else:
        sampler = data.sampler or DistributedSampler(data.dataset, num_replicas=world_size, rank=rank,
                                                     shuffle=True, seed=job.seed, drop_last=True)
        batches = _EpochBatches(sampler, batch_size)
    steps_per_epoch = train_cfg.get("steps_per_epoch") or len(batches)
    total_steps = train_cfg["epochs"] * steps_per_epoch
    if train_cfg.get("max_steps"):
        total_steps = min(total_steps, train_cfg["max_steps"])

    checkpoint_path = job.run_dir / CHECKPOINT_FILE
    start_step = 0
    if job.resume:
        if not checkpoint_path.is_file():
            raise UserError(f"run {job.run_id} has no checkpoint to resume from ({checkpoint_path}); "
                            "start a new run instead")
        start_step = load_checkpoint(checkpoint_path, step_module, optimizer, scaler)
        log.info("resumed %s at step %d of %d", job.run_id, start_step, total_steps)

    model_for_step: nn.Module = step_module
    if world_size > 1:
        model_for_step = nn.parallel.DistributedDataParallel(
            step_module, device_ids=[local_rank] if job.device == "cuda" else None)
    if train_cfg.get("compile"):
        # The network and loss forward (and their backward) become one graph; the optimizer
        # step stays eager (its fused kernel is already one launch).
        model_for_step = _compiled(model_for_step, train_cfg)

    workers = train_cfg.get("num_workers", 0)
    loader = DataLoader(data.dataset, batch_sampler=BatchStream(batches, start_step),
                        num_workers=workers, pin_memory=job.device == "cuda" and train_cfg.get("pin_memory", True),
                        collate_fn=data.collate_fn, persistent_workers=False,
                        prefetch_factor=train_cfg.get("prefetch_factor", 2) if workers else None)
    meter = ThroughputMeter(world_size=world_size, batch_per_card=batch_size,
                            warmup_steps=max(1, train_cfg.get("fps_warmup_steps", 10)),
                            synchronize=(torch.cuda.synchronize if job.device == "cuda" else (lambda: None)),
                            barrier=_barrier, use_cuda_events=job.device == "cuda")
    amp = train_cfg.get("amp", "none")
    clip = train_cfg.get("grad_clip") or 0.0
    transform = data.device_transform

    def to_device(batch):
        inputs, targets = batch
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        return inputs, targets

    def train_step(inputs, targets) -> torch.Tensor:
        if transform is not None:
            inputs = transform(inputs)
        if train_cfg.get("channels_last"):
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with _autocast(job.device, amp):
            loss = model_for_step(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip:  # otherwise the step unscales (inside the fused kernel, without a sync)
                scaler.unscale_(optimizer)
        else:
            loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(step_module.parameters(), clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        return loss.detach()

    eval_every = train_cfg.get("eval_every_epochs") or 0
    checkpoint_every = train_cfg.get("checkpoint_every") or 0
    log_every = max(1, train_cfg.get("log_every", 20))
    progress = _Progress(total_steps, enabled=rank == 0)
    loss_sum = torch.zeros((), device=device)
    losses_seen = 0
    curves: dict[str, Any] = {"loss": {"step": [], "loss": []}}
    metrics: dict[str, Any] = {}
    status = "success"
    step = start_step
    last_inputs = None
    step_module.train()
    batch_iter = iter(loader)
    try:
        while step < total_steps:
            epoch = step // steps_per_epoch
            lr = learning_rate(config["schedule"], config["optimizer"]["lr"], step, steps_per_epoch, total_steps)
            if lr < 0:  # davidsandberg's schedule files end training with a negative rate
                break
            for group in optimizer.param_groups:
                group["lr"] = lr
            torch.manual_seed(derive_seed(job.seed, rank, step))
            inputs, targets = to_device(next(batch_iter))
            last_inputs = (inputs, targets)
            loss_sum += train_step(inputs, targets)
            losses_seen += 1
            step += 1
            meter.step_done(step)

            if step % log_every == 0 or step == total_steps:
                mean_loss = _check_health(loss_sum, losses_seen, signals, world_size, device)
                curves["loss"]["step"].append(step)
                curves["loss"]["loss"].append(mean_loss)
                progress.update(step, epoch, mean_loss, meter.current_fps(), start_step)
                loss_sum.zero_()
                losses_seen = 0
            if checkpoint_every and step % checkpoint_every == 0 and step < total_steps:
                with _paused(meter):
                    if rank == 0:
                        save_checkpoint(checkpoint_path, step_module, optimizer, scaler, step, job)
            if eval_every and step % steps_per_epoch == 0 and step < total_steps \
                    and (step // steps_per_epoch) % eval_every == 0:
                with _paused(meter):
                    result = _evaluate(hook, context, step_module)
                    if result is not None:
                        curves.setdefault("eval", []).append({"epoch": step // steps_per_epoch,
                                                              **result.metrics})
                        log.info("epoch %d: %s", step // steps_per_epoch, _short(result.metrics))
    except StopRun as stop:
        status = stop.status
        metrics["error"] = str(stop)
    except Exception as exc:
        failure = compile_failure(exc) if train_cfg.get("compile") else None
        if failure is None:
            raise
        raise failure from exc
    finally:
        progress.finish()
    meter.close()
    metrics.update(meter.metrics())
    metrics.update(steps=step, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
                   epochs_done=step / steps_per_epoch, images_seen=step * batch_size * world_size)
    curves["throughput"] = {"step": [s for s, _ in meter.history], "fps": [f for _, f in meter.history]}

    if status == "diverged":
        return status, metrics, curves, data.identity, env
    if rank == 0:
        save_checkpoint(checkpoint_path, step_module, optimizer, scaler, step, job)
    _barrier()
    if status == "interrupted":
        log.info("interrupted at step %d; checkpoint saved to %s", step, checkpoint_path)
        return status, metrics, curves, data.identity, env

    result = _evaluate(hook, context, step_module)
    if result is not None:
        metrics.update(result.metrics)
        curves.update(result.curves)
        log.info("evaluation: %s", _short(result.metrics))
    if last_inputs is not None and train_cfg.get("compute_fps_steps", 0) > 0:
        # Same model and step on one batch already on the device: the input pipeline's
        # share of the wall time is what separates this from the measured FPS.
        fixed_inputs, fixed_targets = last_inputs
        compute_fps = compute_only_fps(
            lambda: train_step(fixed_inputs, fixed_targets), steps=train_cfg["compute_fps_steps"],
            warmup=2, images_per_step=batch_size * world_size, synchronize=meter.synchronize,
            barrier=_barrier)
        metrics["compute_fps"] = compute_fps
        if metrics.get("fps") and compute_fps:
            metrics["input_bound_ratio"] = compute_fps / metrics["fps"]
    log.info("fps %s (per card %s, compute-only %s), step p50 %s ms",
             _num(metrics.get("fps")), _num(metrics.get("fps_per_card")), _num(metrics.get("compute_fps")),
             _num(metrics.get("step_ms_p50")))
    identity = data.identity
    if result is not None and result.identity is not None:
        identity = replace(identity, extra={**identity.extra, "evaluation": result.identity.as_dict()})
    return status, metrics, curves, identity, env


def _must(value, hook_name: str, model: str):
    if value is None:
        raise UserError(f"no plugin answered {hook_name} for model '{model}'; the model's plugin is "
                        "incomplete or not installed")
    return value


@contextlib.contextmanager
def _paused(meter: ThroughputMeter):
    """Keep checkpoint writes and mid-run evaluation out of the timed window."""
    meter.pause()
    try:
        yield
    finally:
        meter.resume()


def _check_health(loss_sum: torch.Tensor, count: int, signals: _Signals, world_size: int,
                  device: torch.device) -> float:
    """One small all-reduce every few steps: mean loss, any non-finite loss, any stop signal."""
    state = torch.stack([loss_sum.float() / max(1, count),
                         (~torch.isfinite(loss_sum)).float(),
                         torch.tensor(float(signals.received is not None), device=device)])
    if world_size > 1:
        dist.all_reduce(state)
    mean_loss, nonfinite, stop = (float(v) for v in state.tolist())
    if nonfinite:
        raise StopRun("diverged", "loss became NaN or inf; lower the learning rate or enable grad_clip")
    if stop:
        raise StopRun("interrupted", "stopped by a signal")
    return mean_loss / world_size


def _evaluate(hook, context: RunContext, step_module: TrainStep):
    network = step_module.network
    network.eval()
    try:
        with torch.no_grad():
            return hook.modelzoo_evaluate(context=context, network=network)
    finally:
        network.train()


def _short(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))


def _num(value) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "n/a"
