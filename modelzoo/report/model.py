"""The report's model: which run reaches which table, and what each cell says.

Everything here is decided once and read by every writer (Markdown, HTML, JSON, CSV).

Rules (printed in the reports too):

- A record the report cannot read (wrong field types, a rejected metric format) is left
  out with one line naming it (``Report.skipped``), beside the loader's own list.
- Main table, one per model in its zoo README's layout (the newest record's
  ``result_table``): successful ``train`` runs on real data under the zoo's protocol whose
  numbers are plausible. One row per card x card count x profile (a short profile never
  replaces the full one's row): the latest such run by start time.

  - ``metrics`` layout (facenet README): ``Model | GPU | FPS | <metric columns> | Profile |
    FPS/ref | Scaling | Run``; FPS is titled by the throughput unit (``FPS`` for images/s,
    the zoo's word; else the unit, e.g. ``tokens/s``).
  - ``configs`` layout (ResNet-50 README): ``Model | GPU | <one column per ConfigColumn> |
    Profile | Run``; each cell ``Acc@1=76.02,FPS=330,Time=4d3h,BatchSize=280`` from
    the latest run whose config matches the column.

  Reference rows (zoo.yaml) follow the measured rows of the same card and count. A
  reference matches a card when its ``gpu`` is a word of the measured card name
  (``BI-V100`` matches ``Iluvatar BI-V100``; ``V100`` does not). FPS/ref = measured FPS /
  reference FPS. Scaling = FPS(N) / (N x FPS(1)) within one profile on one card (and one
  config column). A run with warnings, or without a declared metric, carries a note.
- Kept apart, each in its own table: synthetic (or unknown) data; another protocol (one
  table per protocol); evaluation-only runs; runs matching no config column; runs with
  implausible values (non-finite, zero or negative FPS; a metric that is NaN or not a
  number), with the reason; runs that did not succeed (failed, diverged, interrupted,
  lost, still running), with the error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from modelzoo.contract.api import ConfigColumn, MetricColumn
from modelzoo.report import extended
from modelzoo.report.cells import (
    MISSING,
    NOT_MEASURED,
    finite,
    fixed,
    metric_cell,
    number,
    one_line,
    percent,
    short_fps,
    text,
    zoo_duration,
)
from modelzoo.report.runs import RecordProblem, Run, config_column_of, read_run
from modelzoo.report.tables import Table, TableRow
from modelzoo.store.records import utc_now

SYNTHETIC_MARK = "synthetic data — not comparable"


def unit_header(unit: str) -> str:
    """The throughput column's title: the zoo's ``FPS`` for images/s, else the unit itself."""
    return "FPS" if unit == "images/s" else unit


@dataclass
class Apart:
    """A table kept apart from the main one, with why."""

    anchor: str                      # html id
    heading: str
    badge: str                       # css class of the heading's badge; "" for none
    badge_text: str
    explanation: str
    table: Table


@dataclass
class EnvTable:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class ModelSection:
    model: str
    title: str
    layout: str
    config_columns: list[ConfigColumn]  # configs layout: the newest record's columns
    columns: list[MetricColumn]
    unit: str
    results: Table
    main_runs: list[Run]             # the measured runs the results table shows
    older: int                       # main-table runs replaced by a newer one of the same row
    has_references: bool
    unplaced_references: list[str]   # configs layout: references matching no column
    input_bound: list[tuple[Run, float]]
    environments: list[EnvTable]
    apart: list[Apart]
    scaling: dict                    # run_id -> FPS(N) / (N x FPS(1)), same profile and card
    extended: Optional[extended.ExtendedTable] = None
    releases: Optional[extended.ReleaseTable] = None


@dataclass
class Report:
    generated: str
    runs: list[Run]                  # every usable record, oldest first
    skipped: list[str]               # one line per record left out (loader's and ours)
    sections: list[ModelSection]
    releases: Optional[tuple[str, str]] = None

    @property
    def records(self) -> list[dict]:
        """The usable records as read, oldest first (a sweep's members left out)."""
        return [run.record for run in self.runs]


# --- Building ---------------------------------------------------------------------------

def build_report(records: Iterable[Any], references: Optional[dict] = None,
                 generated: Optional[str] = None, releases: Optional[Sequence[str]] = None,
                 skipped: Sequence[str] = ()) -> Report:
    """Read the records and sort them into per-model sections (see the module docstring).

    ``skipped`` lists records the loader could not read (shown in the reports);
    ``releases`` (two release names) adds a side-by-side table to each model.
    """
    runs, problems = read_runs(records)
    runs.sort(key=lambda r: (r.started, r.run_id))
    # A sweep's summary record stands for its member runs (listed in its details).
    swept = {str(m.get("run_id")) for r in runs if r.kind == "sweep" for m in r.members}
    runs = [r for r in runs if r.run_id not in swept]
    pair = extended.release_pair(releases)
    by_model: dict[str, list[Run]] = {}
    for run in runs:
        by_model.setdefault(run.model, []).append(run)
    references = references or {}
    sections = []
    for model, model_runs in sorted(by_model.items()):
        section = build_section(model, model_runs, reference_list(references.get(model)))
        if pair:
            eligible = [r for r in model_runs if place_of(r, section.config_columns) == "main"]
            section.releases = extended.release_table(section, eligible, pair)
        sections.append(section)
    return Report(generated=generated or utc_now(), runs=runs, skipped=[*skipped, *problems],
                  sections=sections, releases=pair)


def read_runs(records: Iterable[Any]) -> tuple[list[Run], list[str]]:
    """The usable runs and one line per record left out."""
    runs, problems = [], []
    for index, record in enumerate(records):
        try:
            runs.append(read_run(record))
        except RecordProblem as exc:
            problems.append(f"record {index + 1} skipped: {exc}")
    return runs, problems


def classify(run: Run) -> str:
    """The table a run belongs to: main, implausible, synthetic, protocol, eval, not_succeeded."""
    if run.status != "success":
        return "not_succeeded"
    if run.implausible():
        return "implausible"
    if run.synthetic:
        return "synthetic"
    if run.protocol:
        return "protocol"
    if run.kind == "eval":
        return "eval"
    return "main"


def place_of(run: Run, config_columns: Sequence[ConfigColumn]) -> str:
    """:func:`classify`, plus ``unmatched`` for a run that fits none of the section's config columns."""
    place = classify(run)
    if place == "main" and config_columns and main_key(run, config_columns)[3] is None:
        return "unmatched"
    return place


def main_key(run: Run, config_columns: Sequence[ConfigColumn] = ()) -> tuple:
    """The main-table row a run competes for: card, count, profile (and config column)."""
    column = config_column_of(run.config, list(config_columns)) if config_columns else None
    return (run.gpu.lower(), run.cards, run.profile, column.title if column else None)


def build_section(model: str, runs: list[Run], refs: list[dict]) -> ModelSection:
    newest = runs[-1]
    columns = metric_columns_of(runs)
    layout, unit = newest.layout, newest.throughput_unit
    # the newest record's columns sort every run, so an older record's own layout cannot split a row
    config_columns = newest.config_columns if layout == "configs" else []
    latest: dict[tuple, Run] = {}
    main_count = 0
    places: dict[str, list[Run]] = {}
    for run in runs:  # oldest first, so later runs replace earlier ones
        place = place_of(run, config_columns)
        if place == "main":
            main_count += 1
            latest[main_key(run, config_columns)] = run
        else:
            places.setdefault(place, []).append(run)
    order = [c.title for c in config_columns]
    main_runs = [latest[k] for k in sorted(latest, key=lambda k: (k[:3], order.index(k[3]) if k[3] else 0))]
    scaling = _scaling(main_runs, config_columns)
    header = unit_header(unit)
    unplaced: list[str] = []
    if layout == "configs":
        results, ref_envs = _configs_table(newest.title, config_columns, columns, header, main_runs,
                                           refs, unplaced)
    else:
        results, ref_envs = _metrics_table(newest.title, columns, header, main_runs, refs, scaling)
    section = ModelSection(
        model=model, title=newest.title, layout=layout, config_columns=config_columns, columns=columns,
        unit=unit, results=results,
        main_runs=main_runs, older=main_count - len(main_runs), has_references=bool(refs),
        unplaced_references=unplaced,
        input_bound=[(r, r.input_bound_ratio) for r in main_runs if r.input_bound_ratio],
        environments=_env_tables([(r.gpu, r.env, False) for r in main_runs] + ref_envs),
        apart=_apart_tables(model, columns, header, places), scaling=scaling)
    section.extended = extended.extended_table(section)
    return section


# --- metrics layout ---------------------------------------------------------------------

def _metrics_table(title: str, columns: list[MetricColumn], header: str, main_runs: list[Run],
                   refs: list[dict], scaling: dict) -> tuple[Table, list]:
    ratio_header = "FPS/ref" if header == "FPS" else "vs ref"  # "tokens/s/ref" reads as a unit
    # the README's columns first (Model, GPU, FPS, metrics), then ours
    headers = ["Model", "GPU", header, *[c.title for c in columns], "Profile", ratio_header, "Scaling"]
    ref_fps = {id(r): finite(r.get("fps")) for r in refs}
    ref_scaling = _reference_scaling(refs)
    measured = []
    for run in main_runs:
        mine = [r for r in refs if _reference_cards(r) == run.cards and same_card(_reference_gpu(r), run.gpu)]
        base = next((ref_fps[id(r)] for r in mine if ref_fps[id(r)]), None)
        ratio = run.fps / base if run.fps and base else None
        cells = [run.title, run.gpu_cell, fixed(run.fps), *[metric_cell(c, run.metrics, measured=True) for c in columns],
                 run.profile, fixed(ratio), percent(scaling.get(run.run_id))]
        measured.append((run.gpu, run.cards, TableRow(
            cells=cells, run_ids=[run.run_id], notes=run.notes(),
            values={"fps": run.fps, "fps_ratio": ratio, "scaling_efficiency": scaling.get(run.run_id),
                    "metrics": _metric_values(columns, run.metrics)})))
    ref_rows = []
    for ref in refs:
        cells = [f"{title} (reference)", f"{_reference_gpu(ref)} x{_reference_cards(ref)}", fixed(ref_fps[id(ref)]),
                 *[metric_cell(c, _reference_metrics(ref), measured=False) for c in columns],
                 text(ref.get("profile")), MISSING, percent(ref_scaling.get(id(ref)))]
        ref_rows.append((_reference_gpu(ref), _reference_cards(ref), TableRow(
            cells=cells, reference=True, source=str(ref.get("source") or "reference"),
            remark=str(ref.get("note") or ""),
            values={"fps": ref_fps[id(ref)], "metrics": _metric_values(columns, _reference_metrics(ref))})))
    numeric = frozenset(range(2, len(headers))) - {headers.index("Profile")}
    rows = _interleave(measured, ref_rows)
    return Table(headers, rows, numeric), [(_reference_gpu(r), _reference_env(r), True) for r in refs]


def _metric_values(columns: list[MetricColumn], metrics: dict) -> dict:
    return {k: metrics.get(k) for c in columns for k in (c.key, c.std_key) if k}


# --- configs layout ---------------------------------------------------------------------

def _configs_table(title: str, config_columns: list[ConfigColumn], columns: list[MetricColumn],
                   header: str, main_runs: list[Run], refs: list[dict], unplaced: list[str]
                   ) -> tuple[Table, list]:
    titles = [c.title for c in config_columns]
    headers = ["Model", "GPU", *titles, "Profile"]
    first = columns[0] if columns else None
    groups: dict[tuple, dict[str, Run]] = {}
    for run in main_runs:
        gpu, cards, profile, column = main_key(run, config_columns)
        groups.setdefault((gpu, cards, profile), {})[column] = run
    measured = []
    for (_, cards, profile), cells_by_title in groups.items():
        any_run = next(iter(cells_by_title.values()))
        in_order = [cells_by_title[t] for t in titles if t in cells_by_title]
        cells = [any_run.title, any_run.gpu_cell,
                 *[_config_cell(first, header, cells_by_title[t]) if t in cells_by_title else MISSING
                   for t in titles], profile]
        notes = [f"{r.run_id}: {n}" if len(in_order) > 1 else n for r in in_order for n in r.notes()]
        measured.append((any_run.gpu, cards, TableRow(cells=cells, run_ids=[r.run_id for r in in_order],
                                                      notes=notes)))
    ref_groups: dict[tuple, dict[str, dict]] = {}
    for ref in refs:
        column = config_column_of(_reference_config(ref), config_columns)
        where = f"{_reference_gpu(ref)} x{_reference_cards(ref)}"
        if column is None:
            unplaced.append(f"{where} ({ref.get('source') or 'reference'}): its config matches no column")
            continue
        ref_groups.setdefault((_reference_gpu(ref), _reference_cards(ref)), {})[column.title] = ref
    ref_rows = []
    for (gpu, cards), by_title in ref_groups.items():
        sources = list(dict.fromkeys(str(r.get("source") or "reference") for r in by_title.values()))
        cells = [f"{title} (reference)", f"{gpu} x{cards}",
                 *[_reference_config_cell(first, header, by_title[t]) if t in by_title else MISSING
                   for t in titles], MISSING]
        remarks = [str(r["note"]) for r in by_title.values() if r.get("note")]
        ref_rows.append((gpu, cards, TableRow(cells=cells, reference=True, source="; ".join(sources),
                                              remark=" ".join(remarks))))
    envs = [(_reference_gpu(r), _reference_env(r), True) for r in refs]
    return Table(headers, _interleave(measured, ref_rows)), envs


def _config_cell(first: Optional[MetricColumn], header: str, run: Run) -> str:
    parts = []
    if first:
        parts.append(f"{first.title}={metric_cell(first, run.metrics, measured=True)}")
    parts += [f"{header}={short_fps(run.fps)}", f"Time={_or_na(zoo_duration(run.duration_s))}",
              f"BatchSize={_or_na(text(run.batch_size))}"]
    return ",".join(parts)


def _reference_config_cell(first: Optional[MetricColumn], header: str, ref: dict) -> str:
    parts = []
    if first:
        parts.append(f"{first.title}={metric_cell(first, _reference_metrics(ref), measured=False)}")
    parts += [f"{header}={short_fps(finite(ref.get('fps')))}", f"Time={text(ref.get('time'))}",
              f"BatchSize={text(ref.get('batch_size'))}"]
    return ",".join(parts)


def _or_na(cell: str) -> str:
    return NOT_MEASURED if cell == MISSING else cell


# --- rows shared by both layouts --------------------------------------------------------

def _interleave(measured: list[tuple], refs: list[tuple]) -> list[TableRow]:
    """Measured rows by card and count, each group followed by its matching references."""
    groups: dict[tuple, list[TableRow]] = {}
    names: dict[tuple, str] = {}
    for gpu, cards, row in measured:
        groups.setdefault((gpu.lower(), cards), []).append(row)
        names[(gpu.lower(), cards)] = gpu
    placed: dict[tuple, list[TableRow]] = {}
    for gpu, cards, row in refs:
        home = next((key for key, name in names.items() if key[1] == cards and same_card(gpu, name)),
                    (gpu.lower(), cards))
        placed.setdefault(home, []).append(row)
    keys = sorted(set(groups) | set(placed))
    return [row for key in keys for row in groups.get(key, []) + placed.get(key, [])]


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


def _scaling(main_runs: list[Run], config_columns: list[ConfigColumn]) -> dict:
    """run_id -> FPS(N) / (N x FPS(1)) against the 1-card run of the same card, profile, column."""
    keys = {r.run_id: main_key(r, config_columns) for r in main_runs}
    ones = {(k[0], k[2], k[3]): r.fps for r in main_runs for k in [keys[r.run_id]] if r.cards == 1 and r.fps}
    out = {}
    for run in main_runs:
        gpu, cards, profile, column = keys[run.run_id]
        base = ones.get((gpu, profile, column))
        if cards > 1 and base and run.fps:
            out[run.run_id] = run.fps / (cards * base)
    return out


def _reference_scaling(refs: list[dict]) -> dict:
    ones = {_reference_gpu(r).lower(): finite(r.get("fps")) for r in refs if _reference_cards(r) == 1}
    out = {}
    for ref in refs:
        base, fps, cards = ones.get(_reference_gpu(ref).lower()), finite(ref.get("fps")), _reference_cards(ref)
        if cards > 1 and base and fps:
            out[id(ref)] = fps / (cards * base)
    return out


def _apart_tables(model: str, columns: list[MetricColumn], header: str,
                  places: dict[str, list[Run]]) -> list[Apart]:
    data_headers = ["Model", "GPU", header, *[c.title for c in columns], "Profile"]
    numeric = frozenset(range(2, len(data_headers) - 1))

    def table(runs: list[Run], last: str, last_cell) -> Table:
        rows = [TableRow(cells=[r.title, r.gpu_cell, _raw_fps(r),
                                *[metric_cell(c, r.metrics, measured=True) for c in columns], r.profile,
                                last_cell(r)],
                         run_ids=[r.run_id], notes=r.notes() if last != "Why not published" else [])
                for r in runs]
        return Table(data_headers + [last], rows, numeric)

    out = []
    if places.get("synthetic"):
        out.append(Apart(f"synthetic-{model}", "Synthetic data — not comparable", "synthetic", "synthetic",
                         "Trained on generated data: these numbers exercise the software path only and "
                         "must not be compared with the reference.",
                         table(places["synthetic"], "Data", _data_kind_note)))
    by_protocol: dict[str, list[Run]] = {}
    for run in places.get("protocol", []):
        by_protocol.setdefault(run.protocol or "", []).append(run)
    for index, (protocol, runs) in enumerate(sorted(by_protocol.items())):
        out.append(Apart(f"protocol-{model}-{index + 1}", f"Other protocol: {protocol}", "protocol", "other protocol",
                         "Evaluated under a protocol other than the zoo's: not comparable with the reference.",
                         table(runs, "Data", lambda r: text(r.data.get("name")))))
    if places.get("eval"):
        out.append(Apart(f"eval-{model}", "Evaluation-only runs", "", "", "Scored checkpoints: no training, no FPS.",
                         table(places["eval"], "Data", lambda r: text(r.data.get("name")))))
    if places.get("unmatched"):
        out.append(Apart(f"unmatched-{model}", "Configurations without a column", "", "",
                         "Successful runs whose config matches none of the table's columns.",
                         table(places["unmatched"], "Data", lambda r: text(r.data.get("name")))))
    if places.get("implausible"):
        out.append(Apart(f"implausible-{model}", "Implausible values — not published", "implausible", "not published",
                         "These runs say they succeeded, but their numbers cannot be right; check the run's log.",
                         table(places["implausible"], "Why not published", lambda r: "; ".join(r.implausible()))))
    if places.get("not_succeeded"):
        rows = [TableRow(cells=[r.gpu_cell, r.profile, r.status,
                                _data_kind_note(r) if r.data else MISSING, _error_cell(r)],
                         run_ids=[r.run_id], notes=r.warnings) for r in places["not_succeeded"]]
        out.append(Apart(f"not-succeeded-{model}", "Runs that did not succeed", "", "", "",
                         Table(["GPU", "Profile", "Status", "Data", "Error"], rows, status_column=2)))
    return out


def _raw_fps(run: Run) -> str:
    """FPS as recorded, even when implausible (``nan``, ``-5.00``): the reason must be visible."""
    value = number(run.metrics.get("fps"))
    return MISSING if value is None else f"{value:.2f}"


def _error_cell(run: Run) -> str:
    if run.error:
        return one_line(run.error, 160)
    if run.status == "lost":
        return "its process ended without recording a result"
    return MISSING


def _data_kind_note(run: Run) -> str:
    kind = run.data.get("kind")
    if kind == "real":
        return "real"
    if kind == "synthetic":
        return SYNTHETIC_MARK
    return f"{kind or 'unknown'} data — not comparable"


# --- environments -----------------------------------------------------------------------

def torch_build(env: dict) -> str:
    """``2.14.1 (CUDA 13.0 build)``: the CUDA version belongs to torch's build, not to the run."""
    torch = text(env.get("torch"))
    return f"{torch} (CUDA {env['cuda']} build)" if env.get("cuda") and torch != MISSING else torch


def cpu_label(env: dict) -> str:
    """``AMD EPYC 7B13 (AVX2, 2 threads)``: the vector ISA and torch's thread count move a CPU
    figure as much as the model name does."""
    cpu = str(env.get("cpu") or "CPU")
    facts = [str(env["cpu_capability"])] if env.get("cpu_capability") else []
    if isinstance(env.get("cpu_threads"), int):
        facts.append(f"{env['cpu_threads']} thread{'s' if env['cpu_threads'] != 1 else ''}")
    return f"{cpu} ({', '.join(facts)})" if facts else cpu


def _env_tables(entries: list[tuple[str, dict, bool]]) -> list[EnvTable]:
    tables: dict[tuple, EnvTable] = {}
    for gpu, env, reference in entries:
        headers, cells = _env_cells(gpu, env, reference)
        table = tables.setdefault(tuple(headers), EnvTable(list(headers), []))
        if cells not in table.rows:
            table.rows.append(cells)
    return list(tables.values())


def _env_cells(gpu: str, env: dict, reference: bool) -> tuple[list[str], list[str]]:
    mark = " (reference)" if reference else ""
    if gpu.lower() == "cpu":  # first: a CPU run on a BI-V100 host still ran on the CPU
        return (["CPU", "torch", "Python"], [cpu_label(env) + mark, torch_build(env), text(env.get("python"))])
    if env.get("sdk"):
        name, version = split_sdk(str(env["sdk"]))
        return ["GPU", name, "Release"], [gpu + mark, version, text(env.get("release"))]
    return (["GPU", "CUDA", "Driver", "torch"],
            [gpu + mark, text(env.get("cuda")), text(env.get("driver")), text(env.get("torch"))])


def split_sdk(sdk: str) -> tuple[str, str]:
    """``"IXUCA SDK 3.1.0"`` -> ``("IXUCA SDK", "3.1.0")``; no trailing version -> ``"-"``."""
    head, _, tail = sdk.strip().rpartition(" ")
    if head and tail[:1].isdigit():
        return head, tail
    return sdk.strip(), MISSING


# --- references and columns -------------------------------------------------------------

def reference_list(value: Any) -> list[dict]:
    if not value:
        return []
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)]


def _reference_gpu(ref: dict) -> str:
    return str(ref.get("gpu") or MISSING)


def _reference_cards(ref: dict) -> int:
    cards = ref.get("cards")
    return cards if isinstance(cards, int) and not isinstance(cards, bool) and cards > 0 else 1


def _reference_metrics(ref: dict) -> dict:
    metrics = ref.get("metrics")
    return metrics if isinstance(metrics, dict) else {}


def _reference_config(ref: dict) -> dict:
    config = ref.get("config")
    return config if isinstance(config, dict) else {}


def _reference_env(ref: dict) -> dict:
    env = {k: ref.get(k) for k in ("sdk", "release", "cuda", "driver", "torch", "python", "cpu")}
    if not env["sdk"] and ref.get("sdk_name"):  # tolerate the split spelling
        env["sdk"] = f"{ref['sdk_name']} {ref.get('sdk_version') or ''}".strip()
    return env


def metric_columns_of(runs: list[Run]) -> list[MetricColumn]:
    """The newest record's columns, then any older-only ones (a plugin may have changed)."""
    columns: dict[str, MetricColumn] = {}
    for run in reversed(runs):
        for column in run.columns:
            columns.setdefault(column.key, column)
    return list(columns.values())
