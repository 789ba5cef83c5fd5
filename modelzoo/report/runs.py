"""A run record read for the report: fields checked once, typed, with the facts every
table needs (card name, status, input-bound ratio, implausible values, notes).

:func:`read_run` turns a record dict into a :class:`Run` or raises :class:`RecordProblem`
with one line naming the run and the field: a record whose fields have the wrong types
is left out of the report rather than breaking it. Records written before a field
existed fall back: throughput unit ``images/s``, the ``metrics`` table layout, no curve
specs, no warnings, ``env.release`` for the release. A record read through the run index
(:class:`modelzoo.store.index.IndexedRecord`) comes without its curves: they are read from
its file when a chart asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Optional

from modelzoo.contract.api import ConfigColumn, CurveSpec, MetricColumn, UserError
from modelzoo.report.cells import finite, number
from modelzoo.store import plausible, records

# compute-only FPS at least this many times the end-to-end FPS: the input pipeline, not
# the card, sets the pace (the loader costs a third or more of each step).
INPUT_BOUND_RATIO = 1.5
DEFAULT_UNIT = "images/s"
LAYOUTS = ("metrics", "configs")
_MAX_UNIT_CHARS = 32


class RecordProblem(ValueError):
    """A record the report cannot use; the message is one line naming the run."""


@dataclass
class Run:
    """One usable run record, its fields typed (see the module docstring)."""

    record: dict
    run_id: str
    model: str
    title: str
    kind: str
    status: str                     # effective: "lost" for a running record whose process died
    profile: str
    cards: int
    device: str
    gpu: str                        # card name; "CPU" for a CPU run
    started: str
    duration_s: Optional[float]
    error: Optional[str]
    data: dict
    env: dict
    config: dict
    metrics: dict
    columns: list[MetricColumn]
    curve_specs: list[CurveSpec]
    layout: str
    config_columns: list[ConfigColumn]
    throughput_unit: str
    warnings: list[str]
    release: Optional[str]
    resources: dict
    target: Optional[dict]
    curves_read: Optional[dict]     # None: not read yet (a record from the index loads them on demand)
    members: list[dict] = field(default_factory=list)
    judged_by: Optional[tuple[MetricColumn, ...]] = None  # the installed declaration's columns

    @property
    def curves(self) -> dict:
        """The record's curves; an indexed record's are read from its file the first time."""
        if self.curves_read is None:
            loader = getattr(self.record, "load_curves", None)
            self.curves_read = loader() if callable(loader) else {}
        return self.curves_read

    # --- what the tables ask -------------------------------------------------------------

    @property
    def gpu_cell(self) -> str:
        return f"{self.gpu} x{self.cards}"

    @property
    def on_cpu(self) -> bool:
        return self.gpu == "CPU"

    @property
    def fps(self) -> Optional[float]:
        return finite(self.metrics.get("fps"))

    @property
    def compute_fps(self) -> Optional[float]:
        return finite(self.metrics.get("compute_fps"))

    @property
    def synthetic(self) -> bool:
        return self.data.get("kind") != "real"

    @property
    def protocol(self) -> Optional[str]:
        protocol = self.data.get("protocol")
        return str(protocol) if protocol else None

    @property
    def batch_size(self) -> Optional[int]:
        value = config_value(self.config, "train.batch_size")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def input_bound_ratio(self) -> Optional[float]:
        """compute-only FPS / FPS when at least INPUT_BOUND_RATIO (the loader sets the pace)."""
        ratio = finite(self.metrics.get("input_bound_ratio"))
        if ratio is None and self.fps and self.compute_fps:
            ratio = self.compute_fps / self.fps
        return ratio if ratio is not None and ratio >= INPUT_BOUND_RATIO else None

    @property
    def fps_stability(self) -> Optional[dict]:
        value = self.metrics.get("fps_stability")
        return value if isinstance(value, dict) else None

    @property
    def has_zoo_measurements(self) -> bool:
        """Does the record carry what the zoo's extended table needs (resources, repeats, target)?"""
        return bool(self.resources) or self.fps_stability is not None or self.target is not None

    def missing_metrics(self) -> list[MetricColumn]:
        """Declared columns the run has no value for."""
        return [c for c in self.columns if c.key not in self.metrics or self.metrics[c.key] is None]

    def implausible(self) -> list[str]:
        """Why this run's numbers must not be published (empty when they may be):
        :func:`modelzoo.store.plausible.implausible`, by the installed declaration's columns
        (``judged_by``, set by the report) or, for a model no plugin declares, the record's."""
        return plausible.implausible(self.record, self.columns if self.judged_by is None else self.judged_by)

    def notes(self) -> list[str]:
        """What a reader must know beside the run's row: the record's warnings, else the
        declared metrics it lacks (so an empty cell never reads as a result)."""
        found = list(self.warnings) if self.warnings else [f"no {c.title} in the record"
                                                           for c in self.missing_metrics()]
        return found + self.recipe_notes()

    def recipe_notes(self) -> list[str]:
        """A zoo recipe's run: which FPS is which, and whether it was cut short (no accuracy then)."""
        if not isinstance(self.record.get("recipe"), dict):
            return []
        own = self.metrics.get("recipe_fps")
        own_text = (f"the script's own figure {own:.2f} {self.throughput_unit}"
                    if isinstance(own, (int, float)) and not isinstance(own, bool) else "the script printed none")
        out = [f"zoo recipe: FPS is modelzoo's, timed from outside the script; {own_text}"]
        if isinstance(self.record.get("cut_short"), str):
            out.append(self.record["cut_short"])
        return out


# --- reading ----------------------------------------------------------------------------

def read_run(record: Any, memo: Optional[dict] = None) -> Run:
    """``record`` checked and typed; RecordProblem (one line) when a field has the wrong type.

    ``memo`` (a dict the caller keeps for one batch of records) reuses the typed metric
    columns, curve specs and result table of an object already read: records from the run
    index share them, and 18,000 records hold a few hundred distinct ones."""
    if not isinstance(record, dict):
        raise RecordProblem(f"a record is a {type(record).__name__}, not a mapping")
    run_id = record.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise RecordProblem(f"a record has no run_id (found {run_id!r})")
    read = _Reader(record, run_id, memo)
    model = read.string("model", required=True)
    read.string("status", required=True)
    try:
        status = records.effective_status(record)
    except (TypeError, ValueError, AttributeError) as exc:  # a malformed owner
        raise RecordProblem(f"run {run_id}: owner is malformed ({type(exc).__name__})") from None
    metrics = read.mapping("metrics")
    env = read.mapping("env")
    device = read.string("device") or ""
    cards = read.integer("cards") or read.integer("world_size") or 1
    layout, config_columns = read.result_table()
    unit = read.string("throughput_unit") or DEFAULT_UNIT
    if len(unit) > _MAX_UNIT_CHARS:
        raise RecordProblem(f"run {run_id}: throughput_unit is {len(unit)} characters long")
    release = read.string("release") or (str(env["release"]) if env.get("release") else None)
    target = read.mapping("target") or None
    if target is not None and not isinstance(target.get("metric"), (str, type(None))):
        raise RecordProblem(f"run {run_id}: target.metric is {_shown(target.get('metric'))}, expected a string")
    resources = read.mapping("resources")
    if "power" not in resources and isinstance(record.get("power"), dict):  # power written beside resources
        resources = dict(resources, power=record["power"])
    return Run(record=record, run_id=run_id, model=model, title=read.string("model_title") or model.capitalize(),
               kind=read.string("kind") or "train", status=str(status), profile=read.string("profile") or "-",
               cards=cards, device=device, gpu=card_name(device, env), started=read.string("started") or "",
               duration_s=finite(read.number("duration_s")), error=read.error(),
               data=read.mapping("data"), env=env, config=read.mapping("config"), metrics=metrics,
               columns=read.metric_columns(), curve_specs=read.curve_specs(), layout=layout,
               config_columns=config_columns, throughput_unit=unit, warnings=read.warnings(),
               release=release, resources=resources, target=target,
               curves_read=read.curves(), members=read.members())


def card_name(device: str, env: dict) -> str:
    """The card that ran: ``CPU`` for a CPU run (whatever cards the host has), else env.gpu."""
    if device.startswith("cpu"):
        return "CPU"
    return str(env.get("gpu") or ("GPU" if device else "unknown"))


def config_value(config: dict, dotted: str) -> Any:
    """``config["train"]["amp"]`` for ``"train.amp"``; a flat ``{"train.amp": ...}`` works too."""
    if dotted in config:
        return config[dotted]
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def config_column_of(config: dict, columns: list[ConfigColumn]) -> Optional[ConfigColumn]:
    """The first column whose every ``match`` key holds one of its accepted values."""
    for column in columns:
        if all(config_value(config, key) in list(accepted) for key, accepted in column.match.items()):
            return column
    return None


def _shown(value: Any) -> str:
    """A field's value for a one-line message: its type and a short repr."""
    shown = repr(value)
    return f"{type(value).__name__} {shown if len(shown) <= 40 else shown[:37] + '...'}"


class _Reader:
    """Typed field access that raises RecordProblem naming the run and the field."""

    def __init__(self, record: dict, run_id: str, memo: Optional[dict] = None):
        self.record, self.run_id, self.memo = record, run_id, memo

    def _shared(self, key: str, parse):
        """``parse()`` (a list) of the record's ``key`` list or mapping, once per object in the memo."""
        value = self.record.get(key)
        if self.memo is None or not isinstance(value, (list, dict)):
            return parse()
        hit = self.memo.get((key, id(value)))
        if hit is None or hit[0] is not value:  # the list itself is kept: its id cannot be reused meanwhile
            hit = self.memo[(key, id(value))] = (value, parse())
        return list(hit[1])

    def _wrong(self, key: str, wanted: str) -> RecordProblem:
        return RecordProblem(f"run {self.run_id}: {key} is {_shown(self.record.get(key))}, expected {wanted}")

    def string(self, key: str, required: bool = False) -> Optional[str]:
        value = self.record.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or (required and not value):
            raise self._wrong(key, "a string")
        return value

    def integer(self, key: str) -> Optional[int]:
        value = self.record.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RecordProblem(f"run {self.run_id}: {key} is {_shown(value)}, expected a positive integer")
        return value

    def number(self, key: str) -> Optional[float]:
        value = self.record.get(key)
        if value is not None and number(value) is None:
            raise self._wrong(key, "a number")
        return value

    def mapping(self, key: str) -> dict:
        value = self.record.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._wrong(key, "a mapping")
        return value

    def listing(self, key: str) -> list:
        value = self.record.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        return value

    def curves(self) -> Optional[dict]:
        """The curves when the record holds them; None when they are left to load later."""
        if "curves" not in self.record and callable(getattr(self.record, "load_curves", None)):
            return None
        return self.mapping("curves")

    def error(self) -> Optional[str]:
        value = self.record.get("error")
        return None if value in (None, "") else str(value)

    def warnings(self) -> list[str]:
        return [" ".join(str(w).split()) for w in self.listing("warnings") if str(w).strip()]

    def members(self) -> list[dict]:
        return [m for m in self.listing("members") if isinstance(m, dict)]

    def metric_columns(self) -> list[MetricColumn]:
        return self._shared("metric_columns", self._metric_columns)

    def _metric_columns(self) -> list[MetricColumn]:
        columns = []
        for spec in self.listing("metric_columns"):
            if isinstance(spec, dict) and isinstance(spec.get("key"), str) and "title" not in spec:
                spec = dict(spec, title=spec["key"])  # records from before titles were required
            try:
                column = MetricColumn.from_dict(spec)
            except (UserError, TypeError) as exc:
                raise RecordProblem(f"run {self.run_id}: metric column rejected: "
                                    f"{' '.join(str(exc).split())[:200]}") from None
            if not isinstance(column.title, str) or not isinstance(column.std_key, (str, type(None))):
                raise RecordProblem(f"run {self.run_id}: metric column {column.key!r} has a title or std_key "
                                    "that is not a string")
            columns.append(column)
        return columns

    def curve_specs(self) -> list[CurveSpec]:
        return self._shared("curve_specs", self._curve_specs)

    def _curve_specs(self) -> list[CurveSpec]:
        known = {f.name for f in fields(CurveSpec)}
        specs = []
        for spec in self.listing("curve_specs"):
            if not isinstance(spec, dict) or not all(isinstance(spec.get(k), str) and spec.get(k)
                                                     for k in ("name", "x", "y", "title")):
                raise RecordProblem(f"run {self.run_id}: a curve spec lacks name, x, y or title")
            curve = CurveSpec(**{k: v for k, v in spec.items() if k in known})
            if not all(isinstance(getattr(curve, k), (str, type(None))) for k in ("x_label", "y_label",
                                                                                  "caption_metric")):
                raise RecordProblem(f"run {self.run_id}: curve spec {curve.name!r} has a label or caption "
                                    "that is not a string")
            specs.append(curve)
        return specs

    def result_table(self) -> tuple[str, list[ConfigColumn]]:
        layout, columns = self._shared("result_table", lambda: list(self._result_table()))
        return layout, list(columns)

    def _result_table(self) -> tuple[str, list[ConfigColumn]]:
        table = self.mapping("result_table")
        layout = table.get("layout", "metrics")
        if not isinstance(layout, str) or layout not in LAYOUTS:
            raise RecordProblem(f"run {self.run_id}: result_table.layout {_shown(layout)} is not "
                                "'metrics' or 'configs'")
        specs = table.get("configs") or []
        if not isinstance(specs, list):
            raise RecordProblem(f"run {self.run_id}: result_table.configs is {_shown(specs)}, expected a list")
        columns = []
        for spec in specs:
            title = spec.get("title") if isinstance(spec, dict) else None
            match = spec.get("match") if isinstance(spec, dict) else None
            if (not isinstance(title, str) or not isinstance(match, dict)
                    or not all(isinstance(v, list) for v in match.values())):
                raise RecordProblem(f"run {self.run_id}: result_table.configs holds a column without "
                                    "a title or a match of lists")
            columns.append(ConfigColumn(title=title, match=dict(match)))
        if layout == "configs" and not columns:
            raise RecordProblem(f"run {self.run_id}: result_table layout 'configs' declares no configs")
        return layout, columns
