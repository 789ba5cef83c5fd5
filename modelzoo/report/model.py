"""The report's model: which run reaches which table, and what each cell says.

Everything here is decided once and read by every writer (Markdown, HTML, JSON, CSV).

Rules (printed in the reports too):

- A record the report cannot read (wrong field types, a rejected metric format) is left
  out with one line naming it (``Report.skipped``), beside the loader's own list.
- Layout: the model's declaration (its plugin's ``ModelSpec``: title, metric columns,
  result table, unit), else its newest record's (:func:`modelzoo.report.rules.layout_of`).
  A model gets a section when it has records, or a declaration and zoo.yaml references.
- Zoo README table, first: exactly the README's columns, to paste unchanged (see
  :mod:`modelzoo.report.readme`). Models whose READMEs share one table get it together too.
- Results table, one per model in its README's layout plus our columns: successful
  ``train`` runs on real data under the zoo's protocol whose numbers are plausible. One
  row per card x card count x profile (a short profile never replaces the full one's
  row): the latest such run by start time.

  - ``metrics`` layout (facenet README): ``Model | GPU | FPS | <metric columns> | Profile |
    FPS/ref | Scaling | Run``; FPS is titled by the throughput unit (``FPS`` for images/s,
    the zoo's word; else the unit, e.g. ``tokens/s``).
  - ``configs`` layout (ResNet-50 README): ``Model | GPU | <one column per ConfigColumn> |
    Profile | Run``; each cell ``Acc@1=76.02,FPS=330,Time=4d3h,BatchSize=280`` from
    the latest run whose config matches the column. A reference names its column by
    title (zoo.yaml ``config: FP32``) or by config values.

  Reference rows (zoo.yaml) follow the measured rows of the same card and count. A
  reference matches a card when its ``gpu`` is a word of the measured card name
  (``BI-V100`` matches ``Iluvatar BI-V100``; ``V100`` does not). FPS/ref = measured FPS /
  reference FPS. Scaling = FPS(N) / (N x FPS(1)) within one profile on one card (and one
  config column). A run with warnings, or without a declared metric, carries a note.
- Kept apart, each in its own table: synthetic (or unknown) data; another protocol (one
  table per protocol); evaluation-only runs; runs matching no config column; runs whose
  record cannot be true (:func:`modelzoo.store.plausible.implausible` by the installed
  declaration: a non-finite, zero, negative or absurd FPS, an FPS with no timed step or
  that disagrees with its window, a metric that is not a number or outside its column's
  range), with the reason; runs that did not succeed (failed, diverged, interrupted, lost,
  still running), with the error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from modelzoo.contract.api import ConfigColumn, MetricColumn
from modelzoo.report import extended, readme
from modelzoo.report.cells import (
    MISSING,
    NOT_MEASURED,
    finite,
    fixed,
    fixed_published,
    metric_cell,
    number,
    one_line,
    percent,
    short_fps,
    text,
    zoo_duration,
)
from modelzoo.report.readme import ReadmeRow
from modelzoo.report.rules import (
    SYNTHETIC_MARK,
    Layout,
    layout_of,
    main_key,
    place_of,
    reference_cards,
    reference_column,
    reference_env,
    reference_gpu,
    reference_list,
    reference_metrics,
    same_card,
    unit_header,
)
from modelzoo.report.runs import RecordProblem, Run, read_run
from modelzoo.report.sections import Apart, EnvTable, ModelSection, Report
from modelzoo.report.tables import Table, TableRow
from modelzoo.store.records import utc_now

__all__ = ["build_report", "build_section", "cpu_label", "read_runs", "same_card", "split_sdk", "torch_build"]


# --- Building ---------------------------------------------------------------------------

def build_report(records: Iterable[Any], references: Optional[dict] = None,
                 generated: Optional[str] = None, releases: Optional[Sequence[str]] = None,
                 skipped: Sequence[str] = (), declarations: Optional[Mapping[str, Any]] = None) -> Report:
    """Read the records and sort them into per-model sections (see the module docstring).

    ``declarations`` maps a model name to its plugin's ``ModelSpec`` (the registry's
    ``models``): the tables' layout comes from there. ``skipped`` lists records the
    loader could not read (shown in the reports); ``releases`` (two release names) adds a
    side-by-side table to each model.
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
    references, declarations = references or {}, declarations or {}
    # a declared model with published values gets its section (and its README rows) before its first run
    models = set(by_model) | {m for m in declarations if reference_list(references.get(m))}
    sections = []
    for model in sorted(models):
        model_runs = by_model.get(model, [])
        layout = layout_of(declarations.get(model), model_runs)
        if model in declarations:  # judged by the installed plugin's columns, not the records' own
            for run in model_runs:
                run.judged_by = tuple(declarations[model].metric_columns)
        section = build_section(model, model_runs, reference_list(references.get(model)), layout)
        if pair:
            eligible = [r for r in model_runs if place_of(r, section.config_columns) == "main"]
            section.releases = extended.release_table(section.layout, section.config_columns, section.columns,
                                                      section.unit, eligible, pair)
        sections.append(section)
    return Report(generated=generated or utc_now(), runs=runs, skipped=[*skipped, *problems],
                  sections=sections, releases=pair, groups=readme.readme_groups(sections),
                  declarations=declarations)


def read_runs(records: Iterable[Any]) -> tuple[list[Run], list[str]]:
    """The usable runs and one line per record left out."""
    runs, problems, memo = [], [], {}
    for index, record in enumerate(records):
        try:
            runs.append(read_run(record, memo))
        except RecordProblem as exc:
            problems.append(f"record {index + 1} skipped: {exc}")
    return runs, problems


def build_section(model: str, runs: list[Run], refs: list[dict], layout: Optional[Layout] = None) -> ModelSection:
    layout = layout or layout_of(None, runs)
    columns, config_columns = list(layout.columns), list(layout.config_columns)
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
    header = unit_header(layout.unit)
    unplaced: list[str] = []
    if layout.layout == "configs":
        results, ref_envs, rows = _configs_table(layout, header, main_runs, refs, unplaced)
    else:
        results, ref_envs, rows = _metrics_table(layout, header, main_runs, refs, scaling)
    section = ModelSection(
        model=model, title=layout.title, layout=layout.layout, layout_source=layout.source,
        config_columns=config_columns, columns=columns, unit=layout.unit,
        readme=readme.readme_blocks(readme.readme_headers(layout), rows, layout.layout == "configs"),
        results=results, main_runs=main_runs, older=main_count - len(main_runs), has_references=bool(refs),
        unplaced_references=unplaced,
        input_bound=[(r, r.input_bound_ratio) for r in main_runs if r.input_bound_ratio],
        environments=_env_tables([(r.gpu, r.env, False) for r in main_runs] + ref_envs),
        apart=_apart_tables(model, columns, header, places), scaling=scaling)
    section.extended = extended.extended_table(main_runs, columns, scaling, config_columns)
    return section


# --- metrics layout ---------------------------------------------------------------------

def _metrics_table(layout: Layout, header: str, main_runs: list[Run], refs: list[dict],
                   scaling: dict) -> tuple[Table, list, list[ReadmeRow]]:
    title, columns = layout.title, list(layout.columns)
    ratio_header = "FPS/ref" if header == "FPS" else "vs ref"  # "tokens/s/ref" reads as a unit
    # the README's columns first (Model, GPU, FPS, metrics), then ours
    headers = ["Model", "GPU", header, *[c.title for c in columns], "Profile", ratio_header, "Scaling"]
    ref_fps = {id(r): finite(r.get("fps")) for r in refs}
    ref_scaling = _reference_scaling(refs)
    measured, readme_rows = [], []
    for run in main_runs:
        mine = [r for r in refs if reference_cards(r) == run.cards and same_card(reference_gpu(r), run.gpu)]
        base = next((ref_fps[id(r)] for r in mine if ref_fps[id(r)]), None)
        ratio = run.fps / base if run.fps and base else None
        common = [fixed(run.fps), *[metric_cell(c, run.metrics, measured=True) for c in columns]]
        readme_rows.append(ReadmeRow(run.gpu, run.cards, False, title, run.profile, common))
        measured.append((run.gpu, run.cards, TableRow(
            cells=[run.title, run.gpu_cell, *common, run.profile, fixed(ratio), percent(scaling.get(run.run_id))],
            run_ids=[run.run_id], notes=run.notes(),
            values={"fps": run.fps, "fps_ratio": ratio, "scaling_efficiency": scaling.get(run.run_id),
                    "metrics": _metric_values(columns, run.metrics)})))
    ref_rows = []
    for ref in refs:
        common = [fixed_published(ref_fps[id(ref)]),
                  *[metric_cell(c, reference_metrics(ref), measured=False) for c in columns]]
        readme_rows.append(ReadmeRow(reference_gpu(ref), reference_cards(ref), True, title, "", common))
        cells = [f"{title} (reference)", f"{reference_gpu(ref)} x{reference_cards(ref)}", *common,
                 text(ref.get("profile")), MISSING, percent(ref_scaling.get(id(ref)))]
        ref_rows.append((reference_gpu(ref), reference_cards(ref), TableRow(
            cells=cells, reference=True, source=str(ref.get("source") or "reference"),
            remark=str(ref.get("note") or ""),
            values={"fps": ref_fps[id(ref)], "metrics": _metric_values(columns, reference_metrics(ref))})))
    numeric = frozenset(range(2, len(headers))) - {headers.index("Profile")}
    rows = _interleave(measured, ref_rows)
    envs = [(reference_gpu(r), reference_env(r), True) for r in refs]
    return Table(headers, rows, numeric), envs, readme_rows


def _metric_values(columns: list[MetricColumn], metrics: dict) -> dict:
    return {k: metrics.get(k) for c in columns for k in (c.key, c.std_key) if k}


# --- configs layout ---------------------------------------------------------------------

def _configs_table(layout: Layout, header: str, main_runs: list[Run], refs: list[dict], unplaced: list[str]
                   ) -> tuple[Table, list, list[ReadmeRow]]:
    title, columns, config_columns = layout.title, list(layout.columns), list(layout.config_columns)
    titles = [c.title for c in config_columns]
    headers = ["Model", "GPU", *titles, "Profile"]
    first = columns[0] if columns else None
    groups: dict[tuple, dict[str, Run]] = {}
    for run in main_runs:
        gpu, cards, profile, column = main_key(run, config_columns)
        groups.setdefault((gpu, cards, profile), {})[column] = run
    measured, readme_rows = [], []
    for (_, cards, profile), cells_by_title in groups.items():
        any_run = next(iter(cells_by_title.values()))
        in_order = [cells_by_title[t] for t in titles if t in cells_by_title]
        common = [any_run.gpu_cell, *[_config_cell(first, header, cells_by_title[t]) if t in cells_by_title
                                      else MISSING for t in titles]]
        readme_rows.append(ReadmeRow(any_run.gpu, cards, False, title, profile, common))
        notes = [f"{r.run_id}: {n}" if len(in_order) > 1 else n for r in in_order for n in r.notes()]
        measured.append((any_run.gpu, cards, TableRow(cells=[any_run.title, *common, profile],
                                                      run_ids=[r.run_id for r in in_order], notes=notes)))
    ref_groups: dict[tuple, dict[str, dict]] = {}
    for ref in refs:
        column = reference_column(ref, config_columns)
        where = f"{reference_gpu(ref)} x{reference_cards(ref)}"
        if column is None:
            config = ref.get("config")
            named = f"its config {config!r} names" if isinstance(config, str) else "its config matches"
            unplaced.append(f"{where} ({ref.get('source') or 'reference'}): {named} no column "
                            f"(the columns: {', '.join(titles)})")
            continue
        ref_groups.setdefault((reference_gpu(ref), reference_cards(ref)), {})[column.title] = ref
    ref_rows = []
    for (gpu, cards), by_title in ref_groups.items():
        sources = list(dict.fromkeys(str(r.get("source") or "reference") for r in by_title.values()))
        common = [f"{gpu} x{cards}", *[_reference_config_cell(first, header, by_title[t]) if t in by_title
                                       else MISSING for t in titles]]
        readme_rows.append(ReadmeRow(gpu, cards, True, title, "", common))
        remarks = [str(r["note"]) for r in by_title.values() if r.get("note")]
        ref_rows.append((gpu, cards, TableRow(cells=[f"{title} (reference)", *common, MISSING], reference=True,
                                              source="; ".join(sources), remark=" ".join(remarks))))
    envs = [(reference_gpu(r), reference_env(r), True) for r in refs]
    return Table(headers, _interleave(measured, ref_rows)), envs, readme_rows


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
        parts.append(f"{first.title}={metric_cell(first, reference_metrics(ref), measured=False)}")
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
    ones = {reference_gpu(r).lower(): finite(r.get("fps")) for r in refs if reference_cards(r) == 1}
    out = {}
    for ref in refs:
        base, fps, cards = ones.get(reference_gpu(ref).lower()), finite(ref.get("fps")), reference_cards(ref)
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


