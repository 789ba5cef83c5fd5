"""The core's settings: the ``train``, ``optimizer`` and ``schedule`` sections of a profile.

One home for every core default. A plugin's profiles name only what they change; the
core merges these defaults under every profile when it resolves one (``zoo.resolve_profile``),
and the trainer reads typed values (:class:`CoreSettings`) rather than ``dict.get`` with
a fallback of its own. :func:`CoreSettings.from_config` checks each value's range, so a
bad ``--set`` fails in the CLI before a run folder exists.

No torch import: the CLI validates configs without it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields

from modelzoo.contract.api import UserError

AMP_MODES = ("none", "bf16", "fp16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "steps", "cosine")
RESIDENT_MODES = ("auto", "on", "off")  # train.resident: modelzoo/train/resident.py
# YAML reads on/off as booleans (--set train.resident=off gives False), and a null default
# lets the config check accept them: both spellings mean the same mode.
_RESIDENT_SPELLINGS = {None: "auto", True: "on", False: "off"}
SEED_MAX = 2**32 - 1  # numpy's seed range: every random source derives from --seed


@dataclass
class TrainSettings:
    seed: int = 0
    epochs: int = 1
    steps_per_epoch: int = 0        # 0: one pass over the data; the facenet recipe fixes 1000 batches
    max_steps: int = 0              # 0: no cap (``--max-steps``)
    batch_size: int = 32            # per card
    num_workers: int = 2
    pin_memory: bool = True
    prefetch_factor: int = 2
    amp: str = "none"               # none | bf16 | fp16 (fp16 uses gradient scaling)
    channels_last: bool = False
    compile: bool = False           # torch.compile the network + loss step
    compile_mode: str = "default"   # one of COMPILE_MODES
    cudnn_benchmark: bool = True    # CUDA: cuDNN picks convolution algorithms by timing them
    tf32: bool = False              # CUDA: TF32 math for fp32 matmuls/convolutions (off: fp32 stays fp32)
    grad_clip: float = 0.0          # 0: off
    checkpoint_every: int = 0       # steps; 0: only at the end and on a signal
    eval_every_epochs: int = 0      # 0: only at the end
    log_every: int = 20             # steps between progress lines and health checks
    fps_warmup_steps: int = 10      # steps before the FPS window opens
    compute_fps_steps: int = 10     # steps timed on a device-resident batch; 0: skip
    repeat: int = 1                 # timed windows in one job (``--repeat``): FPS mean/std/CV
    resident: object = None         # decoded set in the training device's memory: auto (null) | on | off
    cuda_graphs: bool = False       # capture the whole step in a CUDA graph (no torch.compile)


@dataclass
class OptimizerSettings:
    name: str = "adam"              # one of OPTIMIZERS
    lr: float = 0.001
    eps: float = 1e-8
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    decay_norm_and_bias: bool = False
    fused: object = None            # adam/adamw: None = fused kernel where the device has it; True; False


@dataclass
class ScheduleSettings:
    name: str = "constant"          # one of SCHEDULES
    milestones: dict = field(default_factory=dict)  # steps: {epoch: lr}
    warmup_epochs: float = 0.0
    min_lr: float = 0.0             # cosine


SECTIONS = {"train": TrainSettings, "optimizer": OptimizerSettings, "schedule": ScheduleSettings}
CORE_DEFAULTS: dict = {name: asdict(kind()) for name, kind in SECTIONS.items()}


def with_core_defaults(profile: dict) -> dict:
    """``profile`` deep-merged over :data:`CORE_DEFAULTS` (a new dict; idempotent)."""
    def merge(base: dict, extra: dict) -> dict:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict) and value and \
                    all(isinstance(k, str) for k in value):
                merge(base[key], value)
            else:
                base[key] = copy.deepcopy(value)
        return base

    return merge(copy.deepcopy(CORE_DEFAULTS), profile)


@dataclass
class CoreSettings:
    train: TrainSettings
    optimizer: OptimizerSettings
    schedule: ScheduleSettings

    @classmethod
    def from_config(cls, config: dict) -> CoreSettings:
        """Typed, range-checked core sections of a resolved config (UserError on a bad value)."""
        sections = {}
        for name, kind in SECTIONS.items():
            given = config.get(name) or {}
            known = {f.name for f in fields(kind)}
            sections[name] = kind(**{k: v for k, v in given.items() if k in known})
        settings = cls(**sections)
        settings.validate()
        return settings

    def validate(self) -> None:
        t, o, s = self.train, self.optimizer, self.schedule
        _at_least("train.epochs", t.epochs, 1)
        _at_least("train.batch_size", t.batch_size, 1)
        for name in ("steps_per_epoch", "max_steps", "num_workers", "checkpoint_every",
                     "eval_every_epochs", "compute_fps_steps"):
            _at_least(f"train.{name}", getattr(t, name), 0)
        _at_least("train.log_every", t.log_every, 1)
        _at_least("train.fps_warmup_steps", t.fps_warmup_steps, 1)
        _at_least("train.prefetch_factor", t.prefetch_factor, 1)
        _at_least("train.repeat", t.repeat, 1)
        if not 0 <= t.seed <= SEED_MAX:
            raise UserError(f"--seed / train.seed {t.seed} is out of range; use 0..{SEED_MAX}")
        _one_of("train.amp", t.amp, AMP_MODES)
        _one_of("train.compile_mode", t.compile_mode, COMPILE_MODES)
        if t.resident is None or isinstance(t.resident, bool):
            t.resident = _RESIDENT_SPELLINGS[t.resident]  # the trainer reads auto | on | off
        _one_of("train.resident", t.resident, RESIDENT_MODES)
        if not isinstance(t.cuda_graphs, bool):
            raise UserError(f"train.cuda_graphs {t.cuda_graphs!r} is not supported; use true or false")
        _finite("train.grad_clip", t.grad_clip, minimum=0.0)
        _one_of("optimizer.name", o.name.lower(), OPTIMIZERS)
        _finite("optimizer.lr", o.lr, minimum=0.0, strict=True)
        _finite("optimizer.eps", o.eps, minimum=0.0)
        _finite("optimizer.momentum", o.momentum, minimum=0.0)
        _finite("optimizer.weight_decay", o.weight_decay, minimum=0.0)
        if o.fused not in (None, True, False):
            raise UserError(f"optimizer.fused {o.fused!r} is not supported; use true, false or null (auto)")
        _one_of("schedule.name", s.name, SCHEDULES)
        _finite("schedule.warmup_epochs", s.warmup_epochs, minimum=0.0)


def _at_least(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{name} {value!r} is out of range; use an integer >= {minimum}")


def _finite(name: str, value, minimum: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise UserError(f"{name} {value!r} is out of range; use a finite number {bound}")


def _one_of(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise UserError(f"{name} {value!r} is not supported; use one of {', '.join(allowed)}")
