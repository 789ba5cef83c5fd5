"""The generic training loop, run by every worker (one per card).

Top to bottom (:func:`run_worker`): join the job, :func:`build` (ask the plugin for data,
model and loss; optimizer, schedule, checkpoint to resume from), :func:`train` (the loop,
with the FPS meter running), :func:`finish` (final checkpoint, evaluation, compute-only
timing, resources), then rank 0 writes the record.

Determinism: every step re-seeds torch from (seed, rank, step) and the data order is a
pure function of (seed, pass), so a run resumed from a checkpoint ends with the same
weights as one that was never interrupted.

Signals: inside the loop SIGTERM/SIGINT set a flag that every worker reads at the next
logged step (they must agree to stop, then checkpoint); in every other phase (data,
build, evaluation, compute-only timing) a signal stops the worker at once. Either way
the record says ``interrupted`` and the CLI exits 130 (Ctrl-C) or 143 (SIGTERM).
"""

from __future__ import annotations

import contextlib
import logging
import random
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from modelzoo.contract.api import DataIdentity, RunContext, TrainData, UserError
from modelzoo.contract.plugins import ModelHooks, load_registry
from modelzoo.contract.settings import CoreSettings
from modelzoo.measure import env as envinfo
from modelzoo.store import records
from modelzoo.toolkit.runtime import ProgressLine
from modelzoo.train import checkpoint as ckpt
from modelzoo.train import cputhreads, distributed
from modelzoo.train import resident as resident_data
from modelzoo.train.batches import BatchStream, EpochBatches
from modelzoo.train.cputhreads import ThreadWatch
from modelzoo.train.graphs import GraphedStep
from modelzoo.train.loglines import metrics_text, progress_text, short_unit, two_decimals
from modelzoo.train.loopsignals import LoopSignals
from modelzoo.train.meter import ThroughputMeter, compute_only_fps
from modelzoo.train.optim import build_optimizer, learning_rate, optimizer_implementation
from modelzoo.train.step import (
    StepRunner,
    TrainStep,
    compile_failure,
    compiled,
    configure_math,
    emulated_cpu_amp,
    to_device,
)
from modelzoo.train.window import WindowResources, fps_stability, target_reached

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
    debug: bool = False
    target: Optional[dict] = None  # zoo.yaml's convergence target: {metric, value, higher_is_better}

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.run_id


class StopRun(Exception):
    """Raised inside the loop to end the run with a given status."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


def derive_seed(seed: int, *parts: int) -> int:
    """A seed for one (rank, step) or (rank, pass): independent streams from one --seed."""
    return int(np.random.SeedSequence([seed, *parts]).generate_state(1, dtype=np.uint64)[0] % (2**63))


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --- Build -----------------------------------------------------------------------------

@dataclass
class Setup:
    """What :func:`build` made: everything the loop and the finish need."""

    context: RunContext
    hooks: ModelHooks
    settings: CoreSettings
    data: TrainData
    step_module: TrainStep
    runner: StepRunner  # or its GraphedStep (train.cuda_graphs): the same call
    optimizer: torch.optim.Optimizer
    scaler: Optional[torch.amp.GradScaler]
    loader: Any  # a DataLoader, or ResidentBatches.loader(...) (train.resident)
    steps_per_epoch: int
    total_steps: int
    start_step: int
    env: Optional[dict]
    warnings: list = field(default_factory=list)  # the registry's, for the record (rank 0)


def _plugin_answer(value, hook_name: str, hooks: ModelHooks):
    if value is None:
        raise UserError(f"plugin '{hooks.owner.name}' does not implement {hook_name}; "
                        "the model's plugin is incomplete")
    return value


def build(job: Job, place: distributed.Topology, device: torch.device) -> Setup:
    settings = CoreSettings.from_config(job.config)
    train = settings.train
    registry = load_registry()
    hooks = registry.hooks_for(job.model)
    context = RunContext(model=job.model, profile=job.profile, config=job.config,
                         data_root=Path(job.data_root), cache_dir=Path(job.cache_dir), run_dir=job.run_dir,
                         device=str(device), rank=place.rank, local_rank=place.local_rank,
                         world_size=place.world_size, seed=job.seed, log=log.info, barrier=distributed.barrier)
    _seed_everything(job.seed)
    math_settings = configure_math(job.device, train)
    env = None
    if place.is_main:
        env = envinfo.capture(job.device, extra=registry.environment_facts(job.model))
        for warning in registry.warnings:  # e.g. the plugin's environment hook raised
            log.warning("warning: %s", warning)
        log.info("run %s: model %s, profile %s, %d worker(s) on %s", job.run_id, job.model, job.profile, place.world_size,
                 env.get("gpu") or f"{env['cpu']}, {env['cpu_threads']} threads each ({env['cpu_threads_chosen_by']})")

    # Data first (a plugin may generate it on rank 0), then model and loss.
    data = _plugin_answer(hooks.modelzoo_train_data(context=context), "modelzoo_train_data", hooks)
    network = _plugin_answer(hooks.modelzoo_build_model(context=context, data=data), "modelzoo_build_model", hooks)
    loss = _plugin_answer(hooks.modelzoo_build_loss(context=context, data=data), "modelzoo_build_loss", hooks)
    step_module = TrainStep(network, loss).to(device)
    if train.channels_last:
        step_module = step_module.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(settings.optimizer, step_module, device)
    scaler = torch.amp.GradScaler(job.device) if train.amp == "fp16" else None
    if place.is_main:
        env.update(math_settings, optimizer_implementation=optimizer_implementation(optimizer),
                   compile=train.compile_mode if train.compile else False, cuda_graphs="off")
        log.info("math: %s", ", ".join(f"{k} {v}" for k, v in {
            **math_settings, "amp": train.amp, "channels_last": train.channels_last,
            "optimizer": env["optimizer_implementation"], "compile": env["compile"],
            "cuda_graphs": train.cuda_graphs}.items()))
        slow_amp = emulated_cpu_amp(job.device, train.amp)
        if slow_amp:
            log.warning("%s", slow_amp)

    if data.batch_sampler is not None:
        batches = data.batch_sampler
    else:
        sampler = data.sampler or DistributedSampler(data.dataset, num_replicas=place.world_size, rank=place.rank,
                                                     shuffle=True, seed=job.seed, drop_last=True)
        batches = EpochBatches(sampler, train.batch_size)
    steps_per_epoch = train.steps_per_epoch or len(batches)
    if steps_per_epoch == 0:
        raise UserError("the training set holds fewer samples than one batch per card; "
                        "lower train.batch_size or add data")
    total_steps = train.epochs * steps_per_epoch
    if train.max_steps:
        total_steps = min(total_steps, train.max_steps)
    if total_steps <= train.fps_warmup_steps and not job.resume:
        raise UserError(f"the run has {total_steps} steps and FPS is timed after "
                        f"{train.fps_warmup_steps} warm-up steps, so no step would be timed; raise "
                        "train.epochs or --max-steps, or lower train.fps_warmup_steps")

    start_step = 0
    checkpoint_path = job.run_dir / ckpt.CHECKPOINT_FILE
    if job.resume:
        state = ckpt.load_training_state(checkpoint_path, job.run_id)
        step_module.network.load_state_dict(state["model"])
        step_module.loss.load_state_dict(state["loss"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_step = int(state["step"])
        log.info("resumed %s at step %d of %d", job.run_id, start_step, total_steps)

    model_for_step: nn.Module = step_module
    if place.world_size > 1:
        model_for_step = nn.parallel.DistributedDataParallel(
            step_module, device_ids=[place.local_rank] if job.device == "cuda" else None)
        if job.device == "cpu" and place.world_size > 2:
            distributed.sum_gradients_in_rank_order(model_for_step)
    if train.compile:
        model_for_step = compiled(model_for_step, train)
    runner = StepRunner(model=model_for_step, parameters=step_module, optimizer=optimizer,
                        device_type=job.device, amp=train.amp, grad_clip=train.grad_clip,
                        channels_last=train.channels_last, transform=data.device_transform, scaler=scaler)
    if train.cuda_graphs:
        runner = GraphedStep(runner, device, log_line=log.warning if place.is_main else (lambda line: None))
    stream = BatchStream(batches, start_step)
    # After the model and optimizer: the card budget is a share of the memory they leave free.
    resident, residency = resident_data.choose(train.resident, data, device, workers_on_host=place.local_world_size,
                                               log=log.info if place.is_main else None)
    if place.is_main:
        env["resident_data"] = residency
    if resident is not None:
        loader = resident.loader(stream)
    else:
        loader = DataLoader(data.dataset, batch_sampler=stream, num_workers=train.num_workers,
                            pin_memory=job.device == "cuda" and train.pin_memory,
                            collate_fn=data.collate_fn, persistent_workers=False,
                            prefetch_factor=train.prefetch_factor if train.num_workers else None)
    return Setup(context=context, hooks=hooks, settings=settings, data=data, step_module=step_module,
                 runner=runner, optimizer=optimizer, scaler=scaler, loader=loader,
                 steps_per_epoch=steps_per_epoch, total_steps=total_steps, start_step=start_step, env=env,
                 warnings=list(registry.warnings) if place.is_main else [])


def _checkpoint_state(setup: Setup, step: int, job: Job) -> dict:
    return {
        "model": setup.step_module.network.state_dict(),
        "loss": setup.step_module.loss.state_dict(),
        "optimizer": setup.optimizer.state_dict(),
        "scaler": setup.scaler.state_dict() if setup.scaler is not None else None,
        "step": step,
        "run_id": job.run_id,
        "config": job.config,
    }


# --- Train -----------------------------------------------------------------------------

@dataclass
class LoopOutcome:
    status: str = "success"
    error: Optional[str] = None
    step: int = 0
    last_batch: Any = None  # (inputs, targets) of the last step, for compute-only timing
    samples_per_step: float = 0.0
    meter: Optional[ThroughputMeter] = None
    resources: Optional[WindowResources] = None
    curves: dict = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    threads: Optional[ThreadWatch] = None


def train(setup: Setup, job: Job, place: distributed.Topology, device: torch.device,
          signals: LoopSignals, record: Optional[dict]) -> LoopOutcome:
    train_cfg = setup.settings.train
    data, runner = setup.data, setup.runner
    timed_total = max(0, setup.total_steps - setup.start_step - train_cfg.fps_warmup_steps)
    resources = WindowResources(job.device, place)
    meter = ThroughputMeter(world_size=place.world_size, batch_per_card=train_cfg.batch_size,
                            warmup_steps=train_cfg.fps_warmup_steps,
                            synchronize=(torch.cuda.synchronize if job.device == "cuda" else (lambda: None)),
                            barrier=distributed.barrier, use_cuda_events=job.device == "cuda",
                            sum_over_ranks=distributed.sum_over_ranks if place.world_size > 1 else None,
                            repeat=train_cfg.repeat, repeat_steps=timed_total // max(1, train_cfg.repeat),
                            on_window=resources)
    outcome = LoopOutcome(step=setup.start_step, meter=meter, resources=resources,
                          curves={"loss": {"step": [], "loss": []}},
                          threads=cputhreads.watch_for(job.device, place.local_world_size))
    # Every logged step goes to train.log (tests and people read it); the live line is the terminal's.
    progress = ProgressLine(log.info, live=place.is_main, log_every_s=0, log_when_live=True)
    unit = short_unit(record)
    loss_sum = torch.zeros((), device=device)
    losses_seen = 0
    step = setup.start_step
    setup.step_module.train()
    batch_iter = iter(setup.loader)
    try:
        with signals.defer():
            while step < setup.total_steps:
                epoch = step // setup.steps_per_epoch
                lr = learning_rate(setup.settings.schedule, setup.settings.optimizer.lr, step,
                                   setup.steps_per_epoch, setup.total_steps)
                if lr < 0:  # davidsandberg's schedule files end training with a negative rate
                    break
                for group in setup.optimizer.param_groups:
                    group["lr"] = lr
                torch.manual_seed(derive_seed(job.seed, place.rank, step))
                batch = to_device(next(batch_iter), device)
                inputs, targets = data.inputs_of(batch), data.targets_of(batch)
                outcome.last_batch = (inputs, targets)
                samples = data.samples_of(inputs)
                loss_sum += runner(inputs, targets)
                losses_seen += 1
                step += 1
                outcome.step = step
                meter.step_done(step, samples)
                outcome.samples_per_step = samples
                if place.world_size == 1 and signals.received is not None:
                    raise StopRun("interrupted", "stopped by a signal")  # alone: no one to agree with

                if step % train_cfg.log_every == 0 or step == setup.total_steps:
                    mean_loss = _check_health(loss_sum, losses_seen, signals, place.world_size, device)
                    outcome.curves["loss"]["step"].append(step)
                    outcome.curves["loss"]["loss"].append(mean_loss)
                    progress.show(progress_text(step, setup.start_step, setup.total_steps, epoch, mean_loss,
                                                meter.current_fps(), unit, progress.elapsed_s))
                    loss_sum.zero_()
                    losses_seen = 0
                    change = outcome.threads.check(step)
                    if change:
                        log.info("cpu threads: %d -> %d (other processes used %.1f cores)", change["from"],
                                 change["threads"], change["others_used_cores"])
                    if record is not None and records.heartbeat_due(record):
                        records.save(records.heartbeat(record), job.runs_dir)
                if train_cfg.checkpoint_every and step % train_cfg.checkpoint_every == 0 \
                        and step < setup.total_steps:
                    with _paused(meter):
                        if place.is_main:
                            ckpt.save_checkpoint(job.run_dir / ckpt.CHECKPOINT_FILE,
                                                 _checkpoint_state(setup, step, job))
                if train_cfg.eval_every_epochs and step % setup.steps_per_epoch == 0 \
                        and step < setup.total_steps and (step // setup.steps_per_epoch) % train_cfg.eval_every_epochs == 0:
                    with _paused(meter):
                        _evaluate_into_curves(setup, outcome, step, place)
    except StopRun as stop:
        outcome.status, outcome.error = stop.status, str(stop)
    except Exception as exc:
        failure = compile_failure(exc) if train_cfg.compile else None
        if failure is None:
            raise
        raise failure from exc
    finally:
        progress.close()
        resources.end()  # also when the loop raised: no sampler thread or power tool outlives it
    meter.close()
    return outcome


@contextlib.contextmanager
def _paused(meter: ThroughputMeter):
    """Keep checkpoint writes and mid-run evaluation out of the timed window."""
    meter.pause()
    try:
        yield
    finally:
        meter.resume()


def _check_health(loss_sum: torch.Tensor, count: int, signals: LoopSignals, world_size: int,
                  device: torch.device) -> float:
    """One small all-reduce every few steps: mean loss, any non-finite loss, any stop signal."""
    state = torch.stack([loss_sum.float() / max(1, count),
                         (~torch.isfinite(loss_sum)).float(),
                         torch.tensor(float(signals.received is not None), device=device)])
    if world_size > 1:
        torch.distributed.all_reduce(state)
    mean_loss, nonfinite, stop = (float(v) for v in state.tolist())
    if nonfinite:
        raise StopRun("diverged", "loss became NaN or inf; lower the learning rate or enable grad_clip")
    if stop:
        raise StopRun("interrupted", "stopped by a signal")
    return mean_loss / world_size


def evaluate(setup: Setup, place: distributed.Topology):
    """The plugin's evaluation on rank 0 (eval mode, no_grad); every rank waits for it."""
    result = None
    if place.is_main:
        network = setup.step_module.network
        network.eval()
        try:
            with torch.no_grad():
                result = setup.hooks.modelzoo_evaluate(context=setup.context, network=network)
        finally:
            network.train()
    distributed.barrier()
    return result


def _evaluate_into_curves(setup: Setup, outcome: LoopOutcome, step: int, place: distributed.Topology):
    """Evaluate and add the point (epoch, wall time, images so far, metrics) to the eval curve."""
    result = evaluate(setup, place)
    if result is not None:
        epoch = step / setup.steps_per_epoch
        point = {"epoch": round(epoch, 3), "wall_s": round(time.perf_counter() - outcome.started, 3),
                 "images": step * outcome.samples_per_step * place.world_size,
                 **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))}}
        outcome.curves.setdefault("eval", []).append(point)
        log.info("epoch %g: %s", epoch, metrics_text(result.metrics))
    return result


# --- Finish ----------------------------------------------------------------------------

@dataclass
class TrainResult:
    """What one worker's run produced; rank 0's becomes the record."""

    status: str
    error: Optional[str] = None
    metrics: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    identity: Optional[DataIdentity] = None
    env: Optional[dict] = None
    warnings: list = field(default_factory=list)
    resources: Optional[dict] = None
    target: Optional[dict] = None


def finish(setup: Setup, outcome: LoopOutcome, job: Job, place: distributed.Topology,
           declared_metrics: list[str], record: Optional[dict] = None) -> TrainResult:
    meter = outcome.meter
    metrics = dict(meter.metrics())
    metrics["fps_stability"] = fps_stability(metrics.pop("repeat_fps", None))
    step = outcome.step
    metrics.update(steps=step, total_steps=setup.total_steps, steps_per_epoch=setup.steps_per_epoch,
                   epochs_done=step / setup.steps_per_epoch)
    curves = dict(outcome.curves)
    curves["throughput"] = {"step": [s for s, _ in meter.history], "fps": [f for _, f in meter.history]}
    result = TrainResult(status=outcome.status, error=outcome.error, metrics=metrics, curves=curves,
                         identity=setup.data.identity, env=setup.env, warnings=list(setup.warnings))
    if outcome.threads and outcome.threads.changes and result.env is not None:  # the FPS spans several counts
        result.env["cpu_threads_changes"] = outcome.threads.changes
        result.warnings.append(outcome.threads.note())
    if outcome.status == "diverged":
        return result
    if place.is_main:
        ckpt.save_checkpoint(job.run_dir / ckpt.CHECKPOINT_FILE, _checkpoint_state(setup, step, job))
    distributed.barrier()
    if outcome.status == "interrupted":
        log.info("interrupted at step %d; checkpoint saved", step)
        return result
    if record is not None and metrics.get("fps"):
        # Rank 0: the timing is on disk before evaluation starts, so that a run stopped there
        # and resumed (nothing left to train) keeps the FPS of the steps it timed.
        record["metrics"] = {k: v for k, v in metrics.items() if v is not None}
        records.save(record, job.runs_dir)

    evaluation = _evaluate_into_curves(setup, outcome, step, place)
    curves["eval"] = outcome.curves.get("eval", [])
    if evaluation is not None:
        metrics.update(evaluation.metrics)
        curves.update(evaluation.curves)
        log.info("evaluation: %s", metrics_text(evaluation.metrics))
        if evaluation.identity is not None:
            result.identity = replace(result.identity, extra={**result.identity.extra,
                                                              "evaluation": evaluation.identity.as_dict()})
    if place.is_main:
        returned = evaluation.metrics if evaluation is not None else {}
        result.warnings += [f"evaluation did not return metric '{key}'" for key in declared_metrics
                            if not isinstance(returned.get(key), (int, float))]
    train_cfg = setup.settings.train
    if outcome.last_batch is not None and train_cfg.compute_fps_steps > 0:
        # Same model and step on one batch already on the device: the input pipeline's
        # share of the wall time is what separates this from the measured FPS.
        inputs, targets = outcome.last_batch
        compute_fps = compute_only_fps(
            lambda: setup.runner(inputs, targets), steps=train_cfg.compute_fps_steps, warmup=2,
            images_per_step=outcome.samples_per_step * place.world_size, synchronize=meter.synchronize,
            barrier=distributed.barrier)
        metrics["compute_fps"] = compute_fps
        if metrics.get("fps") and compute_fps:
            metrics["input_bound_ratio"] = compute_fps / metrics["fps"]
    metrics["images_seen"] = step * outcome.samples_per_step * place.world_size
    if isinstance(setup.runner, GraphedStep) and result.env is not None:
        result.env["cuda_graphs"] = setup.runner.describe()  # known once the loop has run
    timed = metrics["fps"] * metrics["timed_seconds"] if metrics.get("fps") else None
    result.resources = outcome.resources.collect(timed, curves)  # rank 0: curves gains "power"
    result.target = target_reached(curves["eval"], job.target)
    if not metrics.get("fps"):
        result.status = "failed"
        result.error = f"no training step was timed ({metrics.get('fps_note', 'too few steps')}); " \
                       "raise train.epochs or --max-steps"
    log.info("fps %s (per card %s, compute-only %s), step p50 %s ms",
             two_decimals(metrics.get("fps")), two_decimals(metrics.get("fps_per_card")),
             two_decimals(metrics.get("compute_fps")), two_decimals(metrics.get("step_ms_p50")))
    return result


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


def run_worker(job: Job) -> Optional[dict]:
    """Train one worker's share of a run; rank 0 returns (and writes) the final record."""
    place = distributed.init_process_group(job.device)
    device = torch.device("cuda", place.local_rank) if job.device == "cuda" else torch.device("cpu")
    run_dir = job.run_dir
    if place.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
    distributed.barrier()
    _setup_logging(run_dir, place.is_main)
    record = None
    if place.is_main:  # this process owns the run now: its pid is what liveness checks read
        record = records.mark_running(records.load(run_dir))
        records.save(record, job.runs_dir)
    previous_metrics = dict(record.get("metrics") or {}) if record else {}
    try:
        with LoopSignals() as signals:
            setup = build(job, place, device)
            outcome = train(setup, job, place, device, signals, record)
            declared = [c["key"] for c in (record or {}).get("metric_columns", [])]
            result = finish(setup, outcome, job, place, declared, record)
        if place.is_main:
            _fill_record(record, result, job, previous_metrics)
    except BaseException as exc:  # the record must say why, whatever happened
        if place.is_main:
            records.mark_failed(record, exc)
            if isinstance(exc, KeyboardInterrupt) and (run_dir / ckpt.CHECKPOINT_FILE).is_file():
                record["error"] = (f"stopped by a signal; resume with 'modelzoo run {job.model} "
                                   f"--resume {job.run_id}'")
            with open(run_dir / LOG_FILE, "a") as handle:  # the terminal gets the CLI's one line
                handle.write(f"run {record['status']}: {record['error']}\n")
                traceback.print_exception(exc, file=handle)
        raise
    finally:
        if place.is_main:
            records.save(record, job.runs_dir)
        distributed.shutdown()
    return record


def _fill_record(record: dict, result: TrainResult, job: Job, previous_metrics: dict) -> None:
    metrics = result.metrics
    if job.resume and not metrics.get("fps") and previous_metrics.get("fps") and result.status == "failed":
        # Resumed after training had ended (stopped during evaluation): the timing of the
        # attempt that trained stands, all of it (FPS with its timed steps); this attempt only evaluated.
        timing = (*ThroughputMeter.TIMING_KEYS, "fps_stability")
        metrics.update({k: v for k, v in previous_metrics.items() if k in timing or metrics.get(k) is None})
        metrics["fps_note"] = "timed in an earlier attempt of this run (resumed after training had ended)"
        result.status, result.error = "success", None
    record.update(metrics=metrics, curves=result.curves, env=result.env, resources=result.resources,
                  target=result.target,
                  data=result.identity.as_dict() if result.identity else None,
                  checkpoint=str(job.run_dir / ckpt.CHECKPOINT_FILE),
                  warnings=list(record.get("warnings") or []) + result.warnings)
    error = result.error
    if result.status == "interrupted":
        error = f"stopped by a signal; resume with 'modelzoo run {job.model} --resume {job.run_id}'"
    records.mark_finished(record, result.status, error)

