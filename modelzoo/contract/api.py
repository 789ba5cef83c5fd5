"""The values that cross the plugin boundary.

Plugins return these from their hooks; the core consumes them. This module imports no
torch so that the CLI (``modelzoo list``, ``modelzoo report``) stays instant; torch types
appear only in annotations.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from torch.utils.data import Dataset, Sampler


class UserError(Exception):
    """A problem the user can fix: printed as one line by the CLI, no traceback.

    The message names the cause and the remedy, e.g.
    ``"data not found: /data/webface_182_44; run 'modelzoo prepare facenet' or use --profile demo"``.
    """


# A metric's format must stay a small number format: a record's format string reaches the
# report, and ``{:>20000000}`` would write a 20 MB cell.
_FORMAT = re.compile(r"^\{:[+ ]?,?(\.[0-9])?[fegd%]\}$")
THROUGHPUT_UNITS = ("images/s", "samples/s", "tokens/s")


def check_format(fmt: str) -> str:
    """``fmt`` if it is a plain number format such as ``{:.5f}``; else UserError."""
    if not isinstance(fmt, str) or not _FORMAT.match(fmt):
        raise UserError(f"metric format {fmt!r} is not allowed; use a number format such as '{{:.5f}}' "
                        "or '{:.2f}'")
    return fmt


def format_mean_std(value: float, std: Optional[float], fmt: str = "{:.5f}") -> str:
    """``0.98900+-0.00642`` (the zoo's LFW cell), or the value alone without a std."""
    text = fmt.format(value)
    return text if std is None else text + "+-" + fmt.format(std)


@dataclass(frozen=True)
class MetricColumn:
    """One column of a model's result table.

    ``key`` names the value in a record's ``metrics``; ``std_key`` (optional) names its
    standard deviation, rendered as ``mean+-std`` (``0.98900+-0.00642``).
    ``higher_is_better`` tells ``compare``, ``--sweep`` and the release gate which
    direction is a regression. ``max_drop`` (absolute) or ``max_drop_pct`` (relative)
    is the model's own tolerance for ``modelzoo compare``; None: compare's default.
    """

    key: str
    title: str
    format: str = "{:.5f}"
    std_key: Optional[str] = None
    higher_is_better: bool = True
    max_drop: Optional[float] = None
    max_drop_pct: Optional[float] = None

    def render(self, metrics: dict) -> str:
        value = metrics.get(self.key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return "-"
        std = metrics.get(self.std_key) if self.std_key else None
        return format_mean_std(value, std if isinstance(std, (int, float)) else None, self.format)

    def as_dict(self) -> dict:
        """The column as a record stores it (reports need no plugin to read it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MetricColumn:
        """A column read back from a record; UserError when it is malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("key"), str):
            raise UserError(f"metric column {data!r} is malformed; expected a mapping with a 'key'")
        known = {f.name for f in fields(cls)}
        column = cls(**{k: v for k, v in data.items() if k in known})
        check_format(column.format)
        return column


@dataclass(frozen=True)
class CurveSpec:
    """A curve the model's evaluation returns and the report draws.

    ``EvalResult.curves[name]`` holds ``{x: [...], y: [...]}``; ``caption_metric`` names a
    metric shown in the chart's title (e.g. the AUC beside a ROC curve).
    """

    name: str
    x: str
    y: str
    title: str
    x_label: str = ""
    y_label: str = ""
    caption_metric: Optional[str] = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConfigColumn:
    """One column of a ``configs`` result table: the runs whose config matches.

    ``match`` maps a dotted config key to the accepted values, e.g. AMP+NHWC is
    ``{"train.amp": ("bf16", "fp16"), "train.channels_last": (True,)}``.
    """

    title: str
    match: dict


@dataclass(frozen=True)
class ResultTable:
    """How the model's zoo README lays out its results.

    - ``metrics`` (default): ``Model | FPS | <one column per metric>`` (the facenet README).
    - ``configs``: ``Model | GPU | <one column per ConfigColumn>``, each cell
      ``<first metric title>=..,FPS=..,Time=..,BatchSize=..`` (the ResNet-50 README).
    """

    layout: str = "metrics"
    configs: tuple = ()

    def as_dict(self) -> dict:
        return {"layout": self.layout,
                "configs": [{"title": c.title, "match": {k: list(v) for k, v in c.match.items()}}
                            for c in self.configs]}


@dataclass(frozen=True)
class ModelSpec:
    """A model a plugin provides.

    ``profiles`` are the plugin's built-in profiles, each a nested config dict (``data``,
    ``model``, ``loss``, ``eval``... plus any of the core's ``train``, ``optimizer``,
    ``schedule`` values it changes: the core fills in the rest from
    :data:`modelzoo.contract.settings.CORE_DEFAULTS`). The first-listed profile's keys are the
    schema: zoo.yaml profiles and ``--set`` may only override keys that exist there, with
    values of the same type. ``default_profile`` is used when ``--profile`` is not given.
    ``throughput_unit`` names what FPS counts (``TrainData.samples_of`` counts it per batch).
    ``recipe`` marks a model that is an external command (the zoo's own training script)
    rather than the data/model/loss/evaluate hooks: each of its profiles holds a ``recipe``
    section (see :mod:`modelzoo.recipe.schema`), and it needs none of the required hooks.
    """

    name: str
    description: str
    metric_columns: tuple[MetricColumn, ...]
    profiles: dict[str, dict]
    default_profile: str
    display_name: str = ""
    throughput_unit: str = "images/s"
    curves: tuple[CurveSpec, ...] = ()
    table: ResultTable = ResultTable()
    recipe: bool = False

    @property
    def title(self) -> str:
        return self.display_name or self.name.capitalize()

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when it is usable)."""
        found = []
        if not isinstance(self.name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", self.name or ""):
            found.append(f"model name {self.name!r} must be lower-case letters, digits, '_', '.' or '-'")
        if not isinstance(self.profiles, dict) or not self.profiles:
            found.append("it declares no profiles")
        elif self.default_profile not in self.profiles:
            found.append(f"default_profile {self.default_profile!r} is not one of its profiles")
        if self.throughput_unit not in THROUGHPUT_UNITS:
            found.append(f"throughput_unit {self.throughput_unit!r} is not one of {', '.join(THROUGHPUT_UNITS)}")
        for column in self.metric_columns or ():
            if not isinstance(column, MetricColumn):
                found.append(f"metric column {column!r} is not a MetricColumn")
                continue
            try:
                check_format(column.format)
            except UserError as exc:
                found.append(str(exc))
        if self.table.layout not in ("metrics", "configs"):
            found.append(f"table.layout {self.table.layout!r} is not 'metrics' or 'configs'")
        return found


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


def first_item(batch: Any) -> Any:
    """``batch[0]``: the inputs of an ``(inputs, targets)`` batch (the default ``inputs_of``)."""
    return batch[0]


def second_item(batch: Any) -> Any:
    """``batch[1]``: the targets of an ``(inputs, targets)`` batch (the default ``targets_of``)."""
    return batch[1]


def leading_dim(inputs: Any) -> int:
    """Samples in ``inputs``: the first dimension of its first tensor (the default count)."""
    while isinstance(inputs, (list, tuple, dict)):
        inputs = next(iter(inputs.values() if isinstance(inputs, dict) else inputs))
    return int(inputs.shape[0])


@dataclass
class TrainData:
    """The training input a plugin provides.

    The loader yields batches of any nested structure of tensors (a tuple, a dict...);
    the core moves a batch to the device as it is. ``inputs_of(batch)`` is what the
    network takes, ``targets_of(batch)`` what the loss takes beside the network's output
    (defaults: ``batch[0]`` and ``batch[1]``), and ``samples_of(inputs)`` counts the
    throughput unit the model declares (default: the inputs' first dimension; a language
    model counts tokens). The count must come from shapes, not values: it runs every step.

    Give either ``sampler`` or ``batch_sampler`` (e.g. P identities x K images for the
    triplet loss); both must already be sharded by ``RunContext.rank``/``world_size``
    and expose ``set_epoch(int)``. With neither, the core uses a ``DistributedSampler``.
    ``device_transform`` runs on the card on ``inputs`` after the host-to-device copy
    (uint8 to float, crop, flip, standardization), so augmentation need not be on the CPU.
    ``info`` holds what the plugin's own hooks need from the data (e.g. ``num_classes``
    for :func:`~modelzoo.contract.hookspecs.modelzoo_build_model`); the core does not read it.
    """

    dataset: Dataset
    identity: DataIdentity
    sampler: Optional[Sampler] = None
    batch_sampler: Optional[Sampler] = None
    collate_fn: Optional[Callable] = None
    device_transform: Optional[Callable[[Any], Any]] = None
    inputs_of: Callable[[Any], Any] = first_item
    targets_of: Callable[[Any], Any] = second_item
    samples_of: Callable[[Any], int] = leading_dim
    info: dict = field(default_factory=dict)


@dataclass
class EvalResult:
    """What a plugin's evaluation returns.

    ``metrics`` holds plain numbers keyed as the model's ``MetricColumn`` keys (plus any
    extra); ``curves`` holds the series of the model's declared :class:`CurveSpec` s,
    ``{name: {x: [...], y: [...]}}``.
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
