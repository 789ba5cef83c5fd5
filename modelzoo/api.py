"""The values that cross the plugin boundary.

Plugins return these from their hooks; the core consumes them. This module imports no
torch so that the CLI (``modelzoo list``, ``modelzoo report``) stays instant; torch types
appear only in annotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import torch
    from torch.utils.data import Dataset, Sampler


class UserError(Exception):
    """A problem the user can fix: printed as one line by the CLI, no traceback.

    The message names the cause and the remedy, e.g.
    ``"data not found: /data/webface_182_44; run 'modelzoo prepare facenet' or use --profile demo"``.
    """


@dataclass(frozen=True)
class MetricColumn:
    """One column of a model's result table.

    ``key`` names the value in a record's ``metrics``; ``std_key`` (optional) names its
    standard deviation, rendered as ``mean+-std`` (``0.98900+-0.00642``).
    ``higher_is_better`` tells ``modelzoo compare`` which direction is a regression.
    """

    key: str
    title: str
    format: str = "{:.5f}"
    std_key: Optional[str] = None
    higher_is_better: bool = True

    def render(self, metrics: dict) -> str:
        value = metrics.get(self.key)
        if value is None:
            return "-"
        text = self.format.format(value)
        if self.std_key and metrics.get(self.std_key) is not None:
            text += "+-" + self.format.format(metrics[self.std_key])
        return text


@dataclass(frozen=True)
class ModelSpec:
    """A model a plugin provides.

    ``profiles`` are the plugin's built-in profiles, each a complete nested config dict
    (``data``, ``model``, ``loss``, ``train``, ``optimizer``, ``schedule``, ``eval``...).
    The first-listed profile's keys are the schema: zoo.yaml profiles and ``--set`` may
    only override keys that exist there, with values of the same type.
    ``default_profile`` is used when ``--profile`` is not given.
    """

    name: str
    description: str
    metric_columns: tuple[MetricColumn, ...]
    profiles: dict[str, dict]
    default_profile: str
    display_name: str = ""

    @property
    def title(self) -> str:
        return self.display_name or self.name.capitalize()


@dataclass(frozen=True)
class DataIdentity:
    """What a run trained or evaluated on, as written into its record.

    ``kind`` is ``"real"`` or ``"synthetic"``; synthetic results are never shown in a
    report's main table. ``protocol`` names the evaluation protocol when it differs from
    the zoo's own (e.g. ``"LFW unrestricted, fold 10"``); such results are kept apart too.
    """

    name: str
    kind: str
    path: str
    images: int
    identities: int
    protocol: Optional[str] = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {
            "name": self.name,
            "kind": self.kind,
            "path": self.path,
            "images": self.images,
            "identities": self.identities,
        }
        if self.protocol:
            out["protocol"] = self.protocol
        out.update(self.extra)
        return out


@dataclass
class RunContext:
    """Where and how a worker runs; handed to every per-run hook.

    ``config`` is the fully resolved profile. ``device`` is a ``torch.device`` string
    such as ``"cuda:3"`` or ``"cpu"``. ``cache_dir`` is where a plugin may put generated
    or pre-decoded data (never inside the repository).
    """

    model: str
    profile: str
    config: dict
    data_root: Path
    cache_dir: Path
    run_dir: Path
    device: str
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    seed: int = 0
    log: Callable[[str], None] = print
    # Waits for every worker (a no-op with one). Lets rank 0 write shared files (generated
    # data, caches) while the others wait before reading them.
    barrier: Callable[[], None] = lambda: None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass
class TrainData:
    """The training input a plugin provides.

    The loader yields ``(inputs, targets)``. Give either ``sampler`` or
    ``batch_sampler`` (e.g. P identities x K images for the triplet loss); both must
    already be sharded by ``RunContext.rank``/``world_size`` and expose
    ``set_epoch(int)``. With neither, the core uses a ``DistributedSampler``.
    ``device_transform`` runs on the card after the host-to-device copy (e.g. uint8 to
    float, crop, flip, standardization), so augmentation need not be on the CPU.
    ``steps_per_epoch`` overrides ``len(loader)`` (the recipe's epoch is 1000 batches).
    """

    dataset: "Dataset"
    identity: DataIdentity
    sampler: Optional["Sampler"] = None
    batch_sampler: Optional["Sampler"] = None
    collate_fn: Optional[Callable] = None
    device_transform: Optional[Callable[["torch.Tensor"], "torch.Tensor"]] = None
    num_classes: int = 0


@dataclass
class EvalResult:
    """What a plugin's evaluation returns.

    ``metrics`` holds plain numbers keyed as the model's ``MetricColumn`` keys (plus any
    extra); ``curves`` holds plottable series for the report, e.g.
    ``{"roc": {"fpr": [...], "tpr": [...]}}``.
    """

    metrics: dict[str, float]
    curves: dict[str, dict[str, list]] = field(default_factory=dict)
    identity: Optional[DataIdentity] = None


@dataclass
class PrepareResult:
    """Summary of a ``modelzoo prepare`` job."""

    outputs: dict[str, str]
    processed: int
    skipped: int
    failed: int
    failures_file: Optional[str] = None
    seconds: float = 0.0

    def summary(self) -> str:
        where = ", ".join(f"{k}: {v}" for k, v in self.outputs.items())
        line = (f"prepared {self.processed} images, skipped {self.skipped} already done, "
                f"{self.failed} failures in {self.seconds:.1f}s ({where})")
        if self.failures_file and self.failed:
            line += f"; failures listed in {self.failures_file}"
        return line


# The sections the generic trainer reads. A plugin's profiles start from these (see
# ``with_core_defaults``) and add their own ``data``, ``model``, ``loss`` and ``eval``.
CORE_DEFAULTS: dict = {
    "train": {
        "seed": 0,
        "epochs": 1,
        "steps_per_epoch": 0,       # 0: one pass over the data; the recipe fixes 1000 batches
        "max_steps": 0,             # 0: no cap (``--max-steps``)
        "batch_size": 32,           # per card
        "num_workers": 2,
        "pin_memory": True,
        "prefetch_factor": 2,
        "amp": "none",              # none | bf16 | fp16 (fp16 uses gradient scaling)
        "channels_last": False,
        "compile": False,           # torch.compile the network + loss step
        "compile_mode": "default",  # default | reduce-overhead | max-autotune | max-autotune-no-cudagraphs
        "cudnn_benchmark": True,    # CUDA: cuDNN picks convolution algorithms by timing them
        "tf32": False,              # CUDA: TF32 math for fp32 matmuls/convolutions (off: fp32 stays fp32)
        "grad_clip": 0.0,           # 0: off
        "checkpoint_every": 0,      # steps; 0: only at the end and on a signal
        "eval_every_epochs": 0,     # 0: only at the end
        "log_every": 20,            # steps between progress lines and health checks
        "fps_warmup_steps": 10,     # steps before the FPS window opens
        "compute_fps_steps": 10,    # steps timed on a device-resident batch; 0: skip
    },
    "optimizer": {
        "name": "adam",             # adam | adamw | sgd | rmsprop
        "lr": 0.001,
        "eps": 1e-8,
        "betas": [0.9, 0.999],
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 0.0,
        "decay_norm_and_bias": False,
        "fused": None,              # adam/adamw: null = fused kernel where the device has it; true; false
    },
    "schedule": {
        "name": "constant",         # constant | steps | cosine
        "milestones": {},           # steps: {epoch: lr}
        "warmup_epochs": 0.0,
        "min_lr": 0.0,              # cosine
    },
}


def with_core_defaults(profile: dict) -> dict:
    """``profile`` deep-merged over :data:`CORE_DEFAULTS` (a new dict)."""
    import copy

    def merge(base: dict, extra: dict) -> dict:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict) and value and \
                    all(isinstance(k, str) for k in value):
                merge(base[key], value)
            else:
                base[key] = copy.deepcopy(value)
        return base

    return merge(copy.deepcopy(CORE_DEFAULTS), profile)


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers >= ``minimum`` (for the CLI and plugins' options)."""
    import argparse

    wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got '{text}'") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {value}")
        return value

    parse.__name__ = f"int_at_least_{minimum}"
    return parse
