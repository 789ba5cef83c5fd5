"""``modelzoo report``: result tables in the zoo's README format, from run records only.

Entry point::

    render_reports(records, references, output_dir, formats=("md", "html", "json", "csv"))
        -> list[Path]   # results.md, index.html, results.json, results.csv (in that order)

``records`` are run-record dicts (``modelzoo.records``); ``references`` maps a model name
to the published values of zoo.yaml, each a dict::

    {"gpu": "BI-V100", "cards": 1, "fps": 216.96,
     "metrics": {"lfw_accuracy": 0.989, "lfw_accuracy_std": 0.00642},
     "sdk": "IXUCA SDK 3.1.0",          # vendor SDK as "<name> <version>", like env.sdk
     "release": "23.09",                # zoo release
     "cuda": "12.4", "driver": "550.54", "torch": "2.4.0",   # CUDA stack, optional
     "source": "DeepSpark zoo README", "note": "optional remark, shown in the HTML"}

Rules (also printed in the reports):

- Main table: successful ``train`` runs on real data with the zoo's own protocol
  (``data.kind == "real"``, no ``data.protocol``). One row per model x card type x card
  count: the latest such run by start time. Columns: the README's (Model, FPS, the
  model's metric columns) plus GPU (``BI-V100 x1``; ``CPU x2`` for CPU runs), FPS/ref,
  Scaling and Run. Reference rows (``Facenet (reference)``) follow the measured row with
  the same card and count; a reference matches a card when its ``gpu`` appears as a word
  in the measured card name (``BI-V100`` matches ``Iluvatar BI-V100``; ``A100`` matches
  ``NVIDIA A100-SXM4-80GB``; ``V100`` does not match ``BI-V100``).
  FPS/ref = measured FPS / reference FPS.
  Scaling = FPS(N cards) / (N x FPS(1 card)) for the same model and card.
- Environment tables, one per software stack of the main-table rows: a run whose
  ``env.sdk`` is set (a vendor SDK such as ``IXUCA SDK 3.1.0``) goes in
  ``| GPU | IXUCA SDK | Release |`` (the SDK name is the column title, the zoo release
  comes from ``env.release``); other CUDA runs in ``| GPU | CUDA | Driver | torch |``;
  CPU runs (whatever the host's SDK) in ``| CPU | torch | Python |``.
- Kept apart, each in its own section: runs on synthetic (or unknown) data, marked
  "synthetic data — not comparable" in the heading and each row; runs under another
  protocol (one section per ``data.protocol``); successful ``eval``-only runs; runs that
  did not succeed (failed, diverged, interrupted, still running), with the error.

results.json holds the table rows of every section and the records used (without their
``curves``, which stay in each run's record.json); results.csv one row per run.

Markdown cells are not HTML-escaped (pipes are escaped); the HTML page is rendered with
autoescaping and is self-contained (inline CSS and SVG, no scripts, no network).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import jinja2
from markupsafe import Markup

from modelzoo import __version__
from modelzoo.api import MetricColumn, UserError
from modelzoo.records import utc_now, write_atomic
from modelzoo.report import svg

FORMATS = ("md", "html", "json", "csv")
OUTPUT_NAMES = {"md": "results.md", "html": "index.html", "json": "results.json",
                "csv": "results.csv"}
REPORT_SCHEMA_VERSION = 1

SYNTHETIC_MARK = "synthetic data — not comparable"
# compute-only FPS at least this many times the end-to-end FPS: the input pipeline, not
# the card, sets the pace (the loader costs a third or more of each step).
INPUT_BOUND_RATIO = 1.5
FPS_DEFINITION = ("FPS = training images per second over the whole job: all cards, data "
                  "loading included, timed after warm-up with the devices synchronized. "
                  "Scaling = FPS(N cards) / (N x FPS(1 card)) on the same card. "
                  "FPS/ref = measured FPS / reference FPS.")
THROUGHPUT_KEYS = ("fps", "fps_per_card", "compute_fps", "step_ms_p50", "step_ms_p90")
TEMPLATES = Path(__file__).parent / "templates"


# --- Report model -----------------------------------------------------------------------

@dataclass
class Row:
    """One table row: a measured run (``record`` set) or a reference (``reference`` True)."""

    model: str
    title: str
    gpu: str                      # card name, or "CPU"
    cards: int
    fps: Optional[float]
    metrics: dict
    run_id: Optional[str] = None
    record: Optional[dict] = None
    reference: bool = False
    source: str = ""              # reference: where the values were published
    note: str = ""                # reference: zoo.yaml's note, shown in the HTML
    env: dict = field(default_factory=dict)
    ratio: Optional[float] = None   # FPS / reference FPS
    scaling: Optional[float] = None
    data_note: str = ""             # data cell of the sections kept apart

    @property
    def gpu_cell(self) -> str:
        return f"{self.gpu} x{self.cards}"

    @property
    def label(self) -> str:
        return f"{self.title} (reference)" if self.reference else self.title

    @property
    def synthetic(self) -> bool:
        return bool(self.record) and _data(self.record).get("kind") != "real"

    def metric_cells(self, columns: Sequence[MetricColumn]) -> list[str]:
        return [_metric_cell(col, self.metrics) for col in columns]

    def as_dict(self, columns: Sequence[MetricColumn]) -> dict:
        out = {
            "reference": self.reference,
            "run_id": self.run_id,
            "source": self.source or None,
            "model": self.model,
            "title": self.label,
            "gpu": self.gpu,
            "cards": self.cards,
            "gpu_cell": self.gpu_cell,
            "fps": self.fps,
            "fps_ratio": self.ratio,
            "scaling_efficiency": self.scaling,
            "metrics": {k: self.metrics.get(k) for col in columns
                        for k in (col.key, col.std_key) if k},
            "cells": dict(zip([c.title for c in columns], self.metric_cells(columns))),
        }
        if self.data_note:
            out["data"] = self.data_note
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class EnvTable:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class ModelSection:
    model: str
    title: str
    columns: list[MetricColumn]
    main: list[Row]
    older: int                                  # successful main-table runs not shown
    environments: list[EnvTable]
    synthetic: list[Row]
    protocols: dict[str, list[Row]]
    evals: list[Row]
    not_succeeded: list[dict]                   # records
    input_bound: list[tuple[Row, float]]        # main rows, compute_fps / fps

    def main_headers(self) -> list[str]:
        return ["Model", "GPU", "FPS", *[c.title for c in self.columns], "FPS/ref", "Scaling",
                "Run"]

    def main_cells(self, row: Row) -> list[str]:
        return [row.label, row.gpu_cell, _fmt(row.fps), *row.metric_cells(self.columns),
                _fmt(row.ratio), _pct(row.scaling), row.run_id or row.source or "-"]

    def apart_headers(self) -> list[str]:
        return ["Model", "GPU", "FPS", *[c.title for c in self.columns], "Data", "Run"]

    def apart_cells(self, row: Row) -> list[str]:
        return [row.label, row.gpu_cell, _fmt(row.fps), *row.metric_cells(self.columns),
                row.data_note, row.run_id or "-"]

    def main_rows(self) -> list[list[str]]:
        return [self.main_cells(r) for r in self.main]

    def apart_rows(self, rows: Sequence[Row]) -> list[list[str]]:
        return [self.apart_cells(r) for r in rows]

    def status_rows(self) -> list[list[str]]:
        return [self.status_cells(r) for r in self.not_succeeded]

    @property
    def measured(self) -> list[Row]:
        return [r for r in self.main if not r.reference]

    @staticmethod
    def status_headers() -> list[str]:
        return ["Run", "GPU", "Status", "Data", "Error"]

    @staticmethod
    def status_cells(record: dict) -> list[str]:
        data = _data_kind_note(record) if _data(record) else "-"  # died before loading data
        return [record.get("run_id", "-"), _gpu_cell(record), str(record.get("status") or "-"),
                data, _short_error(record.get("error"))]


@dataclass
class Report:
    generated: str
    records: list[dict]
    sections: list[ModelSection]

    def as_dict(self) -> dict:
        models = []
        for s in self.sections:
            models.append({
                "model": s.model,
                "title": s.title,
                "metric_columns": [_column_dict(c) for c in s.columns],
                "main": [r.as_dict(s.columns) for r in s.main],
                "older_runs_not_shown": s.older,
                "environments": [{"headers": e.headers, "rows": e.rows} for e in s.environments],
                "synthetic": [r.as_dict(s.columns) for r in s.synthetic],
                "protocols": {p: [r.as_dict(s.columns) for r in rows]
                              for p, rows in s.protocols.items()},
                "eval": [r.as_dict(s.columns) for r in s.evals],
                "not_succeeded": [{"run_id": r.get("run_id"), "status": r.get("status"),
                                   "gpu_cell": _gpu_cell(r), "error": r.get("error")}
                                  for r in s.not_succeeded],
            })
        return {
            "report_schema_version": REPORT_SCHEMA_VERSION,
            "generated": self.generated,
            "modelzoo_version": __version__,
            "fps_definition": FPS_DEFINITION,
            "models": models,
            # curves (thousands of points per run) stay in each run's record.json
            "records": [{k: v for k, v in r.items() if k != "curves"} for r in self.records],
        }


# --- Building ---------------------------------------------------------------------------

def build_report(records: Iterable[dict], references: Optional[dict] = None,
                 generated: Optional[str] = None) -> Report:
    """Sort records into per-model sections (see the module docstring for the rules).

    A model gets a section when it has at least one record; its references (zoo.yaml)
    are shown even when no comparable run exists yet.
    """
    records = sorted(records, key=_start_key)
    # A sweep's summary record stands for its member runs (listed in its details).
    swept = {m["run_id"] for r in records if r.get("kind") == "sweep" for m in r.get("members") or []}
    records = [r for r in records if r.get("run_id") not in swept]
    references = references or {}
    by_model: dict[str, list[dict]] = {}
    for record in records:
        by_model.setdefault(str(record.get("model") or "unknown"), []).append(record)
    sections = [_build_section(model, recs, _reference_list(references.get(model)))
                for model, recs in sorted(by_model.items())]
    return Report(generated=generated or utc_now(), records=records, sections=sections)


def _build_section(model: str, records: list[dict], refs: list[dict]) -> ModelSection:
    title = next((r.get("model_title") for r in reversed(records) if r.get("model_title")),
                 model.capitalize())
    columns = _metric_columns(records)
    latest: dict[tuple[str, int], dict] = {}
    main_runs = 0
    synthetic, evals, not_succeeded = [], [], []
    protocols: dict[str, list[Row]] = {}
    for record in records:  # oldest first, so later runs replace earlier ones
        place = classify(record)
        if place == "main":
            main_runs += 1
            latest[(_card_name(record), _card_count(record))] = record
        elif place == "synthetic":
            synthetic.append(_measured_row(record, title, _data_kind_note(record)))
        elif place == "protocol":
            row = _measured_row(record, title, _data(record).get("name") or "-")
            protocols.setdefault(str(_data(record)["protocol"]), []).append(row)
        elif place == "eval":
            evals.append(_measured_row(record, title, _data(record).get("name") or "-"))
        else:
            not_succeeded.append(record)

    measured = [_measured_row(r, title) for r in latest.values()]
    _add_scaling(measured)
    ref_rows = [_reference_row(model, title, ref) for ref in refs]
    _add_scaling(ref_rows)
    main = _interleave(measured, ref_rows)
    input_bound = []
    for row in measured:
        compute = _num(_metrics(row.record).get("compute_fps"))
        if compute and row.fps and compute >= INPUT_BOUND_RATIO * row.fps:
            input_bound.append((row, compute / row.fps))
    return ModelSection(model=model, title=title, columns=columns, main=main,
                        older=main_runs - len(measured), environments=_env_tables(main),
                        synthetic=synthetic, protocols=dict(sorted(protocols.items())),
                        evals=evals, not_succeeded=not_succeeded, input_bound=input_bound)


def classify(record: dict) -> str:
    """Which section a record belongs to: main, synthetic, protocol, eval or not_succeeded."""
    if record.get("status") != "success":
        return "not_succeeded"
    data = _data(record)
    if data.get("kind") != "real":
        return "synthetic"
    if data.get("protocol"):
        return "protocol"
    if record.get("kind") == "eval":
        return "eval"
    return "main"


def _measured_row(record: dict, title: str, data_note: str = "") -> Row:
    metrics = _metrics(record)
    return Row(model=str(record.get("model")), title=title, gpu=_card_name(record),
               cards=_card_count(record), fps=_num(metrics.get("fps")), metrics=metrics,
               run_id=record.get("run_id"), record=record, env=record.get("env") or {},
               data_note=data_note)


def _reference_row(model: str, title: str, ref: dict) -> Row:
    env = {k: ref.get(k) for k in ("sdk", "release", "cuda", "driver", "torch", "python", "cpu")}
    if not env["sdk"] and ref.get("sdk_name"):  # tolerate the split spelling
        env["sdk"] = f"{ref['sdk_name']} {ref.get('sdk_version') or ''}".strip()
    return Row(model=model, title=title, gpu=str(ref.get("gpu") or "-"),
               cards=int(ref.get("cards") or 1), fps=_num(ref.get("fps")),
               metrics=dict(ref.get("metrics") or {}), reference=True,
               source=str(ref.get("source") or "reference"), note=str(ref.get("note") or ""),
               env=env)


def _interleave(measured: list[Row], refs: list[Row]) -> list[Row]:
    """Measured rows by card and count, each followed by its matching references."""
    groups: list[tuple[tuple, list[Row]]] = []
    used: set[int] = set()
    for row in measured:
        mine = [r for i, r in enumerate(refs) if i not in used and r.cards == row.cards
                and same_card(r.gpu, row.gpu)]
        used.update(i for i, r in enumerate(refs) if any(r is m for m in mine))
        reference_fps = next((r.fps for r in mine if r.fps), None)
        if row.fps is not None and reference_fps:
            row.ratio = row.fps / reference_fps
        groups.append(((row.gpu.lower(), row.cards), [row, *mine]))
    for i, ref in enumerate(refs):
        if i not in used:
            groups.append(((ref.gpu.lower(), ref.cards), [ref]))
    groups.sort(key=lambda g: g[0])
    return [row for _, rows in groups for row in rows]


def same_card(reference_gpu: str, measured_gpu: str) -> bool:
    """True when the reference card name is a word of the measured card name."""
    ref = reference_gpu.strip().lower()
    if not ref:
        return False
    if ref == measured_gpu.strip().lower():
        return True
    # Not after a letter, digit or hyphen ("V100" is not "BI-V100"); a suffix after a
    # hyphen is a variant of the same card ("A100" matches "A100-SXM4-80GB").
    return re.search(rf"(?<![\w-]){re.escape(ref)}(?!\w)", measured_gpu.lower()) is not None


def _add_scaling(rows: list[Row]) -> None:
    ones = {r.gpu.lower(): r.fps for r in rows if r.cards == 1 and r.fps}
    for row in rows:
        base = ones.get(row.gpu.lower())
        if row.cards > 1 and base and row.fps is not None:
            row.scaling = row.fps / (row.cards * base)


def _env_tables(rows: list[Row]) -> list[EnvTable]:
    tables: dict[tuple, EnvTable] = {}
    for row in rows:
        headers, cells = _env_cells(row)
        table = tables.setdefault(tuple(headers), EnvTable(list(headers), []))
        if cells not in table.rows:
            table.rows.append(cells)
    return list(tables.values())


def _env_cells(row: Row) -> tuple[list[str], list[str]]:
    env = row.env
    gpu = f"{row.gpu} (reference)" if row.reference else row.gpu
    if row.gpu.lower() == "cpu":  # first: a CPU run on a BI-V100 host still ran on the CPU
        cpu = env.get("cpu") or "CPU"
        if env.get("cpu_capability"):
            cpu = f"{cpu} ({env['cpu_capability']})"
        return (["CPU", "torch", "Python"],
                [f"{cpu} (reference)" if row.reference else str(cpu), _text(env.get("torch")),
                 _text(env.get("python"))])
    if env.get("sdk"):
        name, version = split_sdk(str(env["sdk"]))
        return ["GPU", name, "Release"], [gpu, version, _text(env.get("release"))]
    return (["GPU", "CUDA", "Driver", "torch"],
            [gpu, _text(env.get("cuda")), _text(env.get("driver")), _text(env.get("torch"))])


def split_sdk(sdk: str) -> tuple[str, str]:
    """``"IXUCA SDK 3.1.0"`` -> ``("IXUCA SDK", "3.1.0")``; no trailing version -> ``"-"``."""
    head, _, tail = sdk.strip().rpartition(" ")
    if head and tail[:1].isdigit():
        return head, tail
    return sdk.strip(), "-"


def _metric_columns(records: list[dict]) -> list[MetricColumn]:
    """The newest record's columns, then any older-only ones (a plugin may have changed)."""
    known = {f.name for f in fields(MetricColumn)}
    columns: dict[str, MetricColumn] = {}
    for record in reversed(records):
        for spec in record.get("metric_columns") or []:
            if not isinstance(spec, dict) or not spec.get("key") or spec["key"] in columns:
                continue
            spec = {k: v for k, v in spec.items() if k in known}
            spec.setdefault("title", spec["key"])
            columns[spec["key"]] = MetricColumn(**spec)
    return list(columns.values())


def _reference_list(value: Any) -> list[dict]:
    if not value:
        return []
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)]


# --- Small helpers ----------------------------------------------------------------------

def _data(record: dict) -> dict:
    return record.get("data") or {}


def _metrics(record: Optional[dict]) -> dict:
    return (record or {}).get("metrics") or {}


def _start_key(record: dict) -> tuple[str, str]:
    return (str(record.get("started") or ""), str(record.get("run_id") or ""))


def _card_name(record: dict) -> str:
    env = record.get("env") or {}
    if str(record.get("device") or "").startswith("cpu"):
        return "CPU"
    return str(env.get("gpu") or ("GPU" if record.get("device") else "unknown"))


def _card_count(record: dict) -> int:
    try:
        return int(record.get("cards") or record.get("world_size") or 1)
    except (TypeError, ValueError):
        return 1


def _gpu_cell(record: dict) -> str:
    return f"{_card_name(record)} x{_card_count(record)}"


def _data_kind_note(record: dict) -> str:
    kind = _data(record).get("kind")
    if kind == "real":
        return "real"
    if kind == "synthetic":
        return SYNTHETIC_MARK
    return f"{kind or 'unknown'} data — not comparable"


def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _metric_cell(column: MetricColumn, metrics: dict) -> str:
    try:
        return column.render(metrics)
    except (TypeError, ValueError):  # a value the format cannot take: show it as it is
        value = metrics.get(column.key)
        return "-" if value is None else str(value)


def _short_error(error: Any, limit: int = 160) -> str:
    if not error:
        return "-"
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _column_dict(column: MetricColumn) -> dict:
    return {f.name: getattr(column, f.name) for f in fields(MetricColumn)}


def _json_safe(value: Any) -> Any:
    """NaN/inf (a diverged loss) become null: strict JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# --- Markdown ---------------------------------------------------------------------------

def md_cell(value: Any) -> str:
    """A Markdown table cell: one line, pipes escaped, no HTML escaping."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table padded like the zoo's READMEs: cells left-aligned, dashes to the column width."""
    grid = [[md_cell(c) for c in headers]] + [[md_cell(c) for c in row] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in grid]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    return _environment(autoescape=False).get_template("results.md.j2").render(
        report=report, fps_definition=FPS_DEFINITION, synthetic_mark=SYNTHETIC_MARK,
        table=markdown_table, md=md_cell, fmt=_fmt, version=__version__)


# --- HTML -------------------------------------------------------------------------------

def render_html(report: Report) -> str:
    runs = [_run_view(r) for r in reversed(report.records)]  # newest first
    overviews = {s.model: _overview_charts(s) for s in report.sections}
    return _environment(autoescape=True).get_template("index.html.j2").render(
        report=report, runs=runs, overviews=overviews, fps_definition=FPS_DEFINITION,
        synthetic_mark=SYNTHETIC_MARK, fmt=_fmt, version=__version__)


def _overview_charts(section: ModelSection) -> list[Markup]:
    """Throughput and ROC of the main-table runs, overlaid, for the model's section."""
    rows = [r for r in section.main if r.record]
    charts = []
    tput = [svg.Series(f"{r.gpu_cell} · {r.run_id}", *_xy(r.record, "throughput", "step", "fps"))
            for r in rows if _has_curve(r.record, "throughput", "step", "fps")]
    if tput:
        charts.append(Markup(svg.line_chart(tput, title=f"{section.title}: throughput",
                                            x_label="step", y_label="images/s",
                                            y_from_zero=True)))
    roc = [svg.Series(f"{r.gpu_cell} · {r.run_id}", *_xy(r.record, "roc", "fpr", "tpr"))
           for r in rows if _has_curve(r.record, "roc", "fpr", "tpr")]
    if roc:
        charts.append(Markup(svg.line_chart(roc, title=f"{section.title}: ROC",
                                            x_label="false positive rate",
                                            y_label="true positive rate", x_range=(0, 1),
                                            y_range=(0, 1), diagonal=True)))
    return charts


def _has_curve(record: dict, name: str, x: str, y: str) -> bool:
    curve = (record.get("curves") or {}).get(name)
    return isinstance(curve, dict) and bool(curve.get(x)) and bool(curve.get(y))


def _xy(record: dict, name: str, x: str, y: str) -> tuple[list, list]:
    curve = record["curves"][name]
    return list(curve[x]), list(curve[y])


def _run_charts(record: dict) -> list[Markup]:
    charts = []
    metrics = _metrics(record)
    curves = record.get("curves") or {}
    if _has_curve(record, "throughput", "step", "fps"):
        hlines = []
        if _num(metrics.get("fps")) is not None:
            hlines.append(svg.HLine(metrics["fps"], f"whole-job FPS {metrics['fps']:.2f}",
                                    "#d55e00"))
        if _num(metrics.get("compute_fps")) is not None:
            hlines.append(svg.HLine(metrics["compute_fps"],
                                    f"compute-only FPS {metrics['compute_fps']:.2f}", "#009e73"))
        per_step = svg.Series("per-step FPS", *_xy(record, "throughput", "step", "fps"))
        charts.append(svg.line_chart([per_step], title="Throughput over the run", x_label="step",
                                     y_label="images/s", y_from_zero=True, hlines=hlines))
    if _has_curve(record, "loss", "step", "loss"):
        charts.append(svg.line_chart([svg.Series("", *_xy(record, "loss", "step", "loss"))],
                                     title="Training loss", x_label="step", y_label="loss"))
    if _has_curve(record, "roc", "fpr", "tpr"):
        auc = _num(metrics.get("auc"))
        title = "ROC" + (f" (AUC {auc:.4f})" if auc is not None else "")
        charts.append(svg.line_chart([svg.Series("", *_xy(record, "roc", "fpr", "tpr"))],
                                     title=title, x_label="false positive rate",
                                     y_label="true positive rate", x_range=(0, 1),
                                     y_range=(0, 1), diagonal=True))
    for name, curve in curves.items():  # any other curve: first series is x, the rest y
        if name in ("throughput", "loss", "roc") or not isinstance(curve, dict):
            continue
        keys = [k for k, v in curve.items() if isinstance(v, list) and v]
        if len(keys) >= 2:
            series = [svg.Series(k, curve[keys[0]], curve[k]) for k in keys[1:]]
            charts.append(svg.line_chart(series, title=str(name), x_label=keys[0],
                                         y_label=str(name)))
    return [Markup(c) for c in charts]


def _run_view(record: dict) -> dict:
    """What the run's <details> shows, as label/value pairs grouped by topic."""
    metrics = _metrics(record)
    env = record.get("env") or {}
    data = _data(record)
    fps, compute = _num(metrics.get("fps")), _num(metrics.get("compute_fps"))
    note = ""
    if fps and compute and compute >= INPUT_BOUND_RATIO * fps:
        note = (f"Compute-only FPS is {compute / fps:.1f}x the end-to-end FPS: the input "
                "pipeline (loading, decoding, augmentation), not the card, is the bottleneck.")
    throughput = [("FPS (whole job)", _fmt(fps)),
                  ("FPS per card", _fmt(_num(metrics.get("fps_per_card")))),
                  ("compute-only FPS", _fmt(compute)),
                  ("step time p50", _ms(metrics.get("step_ms_p50"))),
                  ("step time p90", _ms(metrics.get("step_ms_p90")))]
    model_metrics = [(k, _value(v)) for k, v in metrics.items() if k not in THROUGHPUT_KEYS]
    git = env.get("git_commit")
    run = [("status", _text(record.get("status"))), ("kind", _text(record.get("kind"))),
           ("model", _text(record.get("model"))), ("profile", _text(record.get("profile"))),
           ("plugin", _plugin(record.get("plugin"))),
           ("cards / world size",
            f"{_text(record.get('cards'))} / {_text(record.get('world_size'))}"),
           ("device", _text(record.get("device"))), ("seed", _text(record.get("seed"))),
           ("git commit", f"{git}{' (dirty)' if env.get('git_dirty') else ''}" if git else "-"),
           ("started", _text(record.get("started"))), ("finished", _text(record.get("finished"))),
           ("duration", "-" if _num(record.get("duration_s")) is None
            else f"{record['duration_s']:.1f} s"),
           ("log", _text(record.get("log"))), ("checkpoint", _text(record.get("checkpoint")))]
    if record.get("resumed_from"):
        run.append(("resumed from", str(record["resumed_from"])))
    return {
        "run_id": str(record.get("run_id") or "-"),
        "title": record.get("model_title") or str(record.get("model") or "-"),
        "gpu_cell": _gpu_cell(record),
        "status": str(record.get("status") or "-"),
        "synthetic": classify(record) == "synthetic" or (bool(data) and data.get("kind") != "real"),
        "protocol": data.get("protocol"),
        "fps": _fmt(fps),
        "started": _text(record.get("started")),
        "error": record.get("error"),
        "note": note,
        "throughput": throughput,
        "metrics": model_metrics,
        "run": run,
        "data": [(k, _value(v)) for k, v in data.items()],
        "env": [(k, _value(v)) for k, v in env.items()],
        "overrides": [(k, _value(v)) for k, v in _flatten(record.get("overrides") or {})],
        "members": [(f"{(record.get('sweep') or {}).get('key', 'value')}={m.get('value')}",
                     f"{m.get('run_id')} ({m.get('status')}): "
                     + ", ".join(f"{k} {_value(v)}" for k, v in (m.get("metrics") or {}).items()))
                    for m in record.get("members") or []],
        "config": [(k, _value(v)) for k, v in _flatten(record.get("config") or {})],
        "charts": _run_charts(record),
    }


def _flatten(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if not isinstance(tree, dict):
        return [(prefix, tree)]
    out = []
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.extend(_flatten(value, name))
        else:
            out.append((name, value))
    return out


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return _text(value)


def _ms(value: Any) -> str:
    return "-" if _num(value) is None else f"{value:.1f} ms"


def _plugin(plugin: Any) -> str:
    if isinstance(plugin, dict):
        return f"{plugin.get('name', '-')} {plugin.get('version', '')}".strip()
    return _text(plugin)


def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=autoescape, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


# --- JSON and CSV -----------------------------------------------------------------------

def render_json(report: Report) -> str:
    return json.dumps(_json_safe(report.as_dict()), indent=2, default=str) + "\n"


CSV_HEAD = ["run_id", "model", "kind", "status", "data_kind", "data_name", "protocol", "gpu",
            "cards", "device", "fps", "fps_per_card", "compute_fps", "step_ms_p50", "step_ms_p90"]
CSV_TAIL = ["sdk", "release", "cuda", "driver", "torch", "git_commit", "git_dirty", "started",
            "finished", "duration_s", "error"]


def csv_columns(records: Sequence[dict]) -> list[str]:
    """Fixed columns plus every metric column (and its std) of the records, in order."""
    metric_keys: list[str] = []
    for column in _metric_columns(list(records)):
        for key in (column.key, column.std_key):
            if key and key not in metric_keys and key not in CSV_HEAD:
                metric_keys.append(key)
    return CSV_HEAD + metric_keys + CSV_TAIL


def render_csv(records: Sequence[dict]) -> str:
    """One row per run, oldest first; empty cells for values a run does not have."""
    records = sorted(records, key=_start_key)
    columns = csv_columns(records)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for record in records:
        metrics, env, data = _metrics(record), record.get("env") or {}, _data(record)
        row = {key: metrics.get(key) for key in columns if key in metrics}
        row.update({
            "run_id": record.get("run_id"), "model": record.get("model"),
            "kind": record.get("kind"), "status": record.get("status"),
            "data_kind": data.get("kind"), "data_name": data.get("name"),
            "protocol": data.get("protocol"), "gpu": _card_name(record),
            "cards": _card_count(record), "device": record.get("device"),
            "sdk": env.get("sdk"), "release": env.get("release"), "cuda": env.get("cuda"),
            "driver": env.get("driver"), "torch": env.get("torch"),
            "git_commit": env.get("git_commit"), "git_dirty": env.get("git_dirty"),
            "started": record.get("started"), "finished": record.get("finished"),
            "duration_s": record.get("duration_s"),
            "error": " ".join(str(record["error"]).split()) if record.get("error") else None,
        })
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})
    return buffer.getvalue()


# --- Entry point ------------------------------------------------------------------------

def render_reports(records: list[dict], references: Optional[dict], output_dir: Path,
                   formats: Sequence[str] = FORMATS, generated: Optional[str] = None) -> list[Path]:
    """Write the requested reports into ``output_dir`` (created if needed), each atomically.

    Returns the written paths in ``formats`` order: ``md`` -> results.md, ``html`` ->
    index.html, ``json`` -> results.json, ``csv`` -> results.csv. ``generated`` fixes the
    timestamp printed in the reports (default: now, UTC). An empty ``records`` list gives
    reports that say there are no runs.
    """
    unknown = [f for f in formats if f not in OUTPUT_NAMES]
    if unknown:
        raise UserError(f"unknown report format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    output_dir = Path(output_dir)
    report = build_report(records, references, generated)
    renderers = {"md": render_markdown, "html": render_html, "json": render_json,
                 "csv": lambda r: render_csv(r.records)}
    # Render everything before writing anything: a crash leaves the previous reports whole.
    texts = {fmt: renderers[fmt](report) for fmt in dict.fromkeys(formats)}
    output_dir.mkdir(parents=True, exist_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    written = []
    for fmt, text in texts.items():
        path = output_dir / OUTPUT_NAMES[fmt]
        write_atomic(path, text)
        os.chmod(path, 0o666 & ~umask)  # mkstemp makes 0600; reports are meant to be shared
        written.append(path)
    return written
