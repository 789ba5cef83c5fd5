"""The Markdown, JSON and CSV writers: the report model laid out as text.

Markdown cells are not HTML-escaped (pipes are escaped); results.json holds every table
as cells plus the raw numbers, and the records without their curves; results.csv holds
one row per run, every cell safe to open in a spreadsheet.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from pathlib import Path
from typing import Any, Optional

import jinja2
import orjson

from modelzoo import __version__
from modelzoo.report.cells import csv_cell, fixed, markdown_table, md_cell, one_line
from modelzoo.report.history import ChangeRow
from modelzoo.report.rules import SYNTHETIC_MARK, metric_columns_of
from modelzoo.report.runs import Run
from modelzoo.report.sections import ModelSection, ReadmeBlock, Report
from modelzoo.report.tables import Table

TEMPLATES = Path(__file__).parent / "templates"
REPORT_SCHEMA_VERSION = 2
README_NOTE = ("The zoo README's own columns, to paste unchanged; the Results table below holds the same "
               "rows with the card, profile, FPS/ref, scaling and run.")
FPS_DEFINITION = ("FPS = training samples per second over the whole job, in the model's unit (images, "
                  "samples or tokens): all cards, data loading included, timed after warm-up with the "
                  "devices synchronized. Scaling = FPS(N cards) / (N x FPS(1 card)) within one profile "
                  "on one card. FPS/ref = measured FPS / reference FPS.")


@functools.lru_cache(maxsize=2)
def template_environment(autoescape: bool) -> jinja2.Environment:
    """One environment per escaping mode: jinja2 then compiles each template once per process."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=autoescape, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def render_template(name: str, autoescape: bool, **variables: Any) -> str:
    """``name`` rendered with ``variables``, as ``Template.render`` does, then its context
    emptied. A template's macros and the context refer to each other (a reference cycle):
    left as it is, the cycle kept the whole report (18,000 runs, 335,000 objects) alive
    until the cycle collector's next pass, which then spent 0.3 s scanning it."""
    template = template_environment(autoescape).get_template(name)
    context = template.new_context(variables)
    try:
        return template.environment.concat(template.root_render_func(context))  # type: ignore[attr-defined]
    except Exception:
        template.environment.handle_exception()
        raise  # handle_exception always raises; for the type checker
    finally:
        context.vars.clear()
        context.parent.clear()


# --- Markdown ---------------------------------------------------------------------------

def render_markdown(report: Report) -> str:
    return render_template(
        "results.md.j2", autoescape=False, report=report, fps_definition=FPS_DEFINITION, synthetic_mark=SYNTHETIC_MARK, readme_note=README_NOTE,
        table=lambda t: markdown_table(t.full_headers(), t.full_rows()),
        markdown_env=lambda e: markdown_table(e.headers, e.rows), md=md_cell, fmt=fixed, version=__version__,
        changes_table=changes_markdown)


CHANGE_HEADERS = ["Cell", "Quantity", "Change", "Kind", "Began in", "Reached in", "Size", "Significance", "Levels"]


def changes_markdown(changes: list[ChangeRow]) -> str:
    """The Regressions table (regressions first, as the HTML lists them); every cell escaped."""
    return markdown_table(CHANGE_HEADERS, [[c.cell, c.quantity, c.direction, c.kind, c.began, c.until, c.size,
                                            c.significance, c.levels] for c in changes])


# --- JSON -------------------------------------------------------------------------------

def render_json(report: Report) -> str:
    data = {
        "report_schema_version": REPORT_SCHEMA_VERSION,
        "generated": report.generated,
        "modelzoo_version": __version__,
        "fps_definition": FPS_DEFINITION,
        "skipped": report.skipped,
        "releases": list(report.releases) if report.releases else None,
        "readme_groups": [{"models": g.titles, "headers": g.headers, "blocks": [readme_json(b) for b in g.blocks]}
                          for g in report.groups],
        "models": [_section_json(s) for s in report.sections],
        "catalogue": report.catalogue.json() if report.catalogue else None,
    }
    # curves (thousands of points per run) stay in each run's record.json
    records = [r.record for r in report.runs]
    # the report's own parts indented; the records one a line, encoded by orjson (18,000
    # records: 67 MB in a tenth of the json module's time)
    head = json.dumps(_json_safe(data), indent=2, default=str)
    lines = ",\n    ".join(_record_lines(records))
    return head[:-2] + ',\n  "records": [' + (f"\n    {lines}\n  ]" if records else "]") + "\n}\n"


def _record_lines(records: list[dict]) -> list[str]:
    """Each record without its curves as one line of strict JSON (NaN and infinity as null)."""
    lines = []
    for record in records:
        if "curves" in record:
            record = {k: v for k, v in record.items() if k != "curves"}
        try:
            lines.append(orjson.dumps(record, default=str).decode())
        except orjson.JSONEncodeError:  # an integer past 64 bits: the json module holds any
            lines.append(json.dumps(_json_safe(record), default=str))
    return lines


def _section_json(section: ModelSection) -> dict:
    return {
        "model": section.model,
        "title": section.title,
        "layout": section.layout,
        "throughput_unit": section.unit,
        "metric_columns": [c.as_dict() for c in section.columns],
        "config_columns": [{"title": c.title, "match": {k: list(v) for k, v in c.match.items()}}
                           for c in section.config_columns],
        "layout_source": section.layout_source,
        "readme": [readme_json(b) for b in section.readme],
        "results": table_json(section.results),
        "older_runs_not_shown": section.older,
        "unplaced_references": section.unplaced_references,
        "input_bound": [{"run_id": r.run_id, "compute_fps_over_fps": ratio} for r, ratio in section.input_bound],
        "environments": [{"headers": e.headers, "rows": e.rows} for e in section.environments],
        "extended": ({"note": section.extended.note, "rows": table_json(section.extended.table)}
                     if section.extended else None),
        "releases": table_json(section.releases.table) if section.releases else None,
        "apart": [{"heading": a.heading, "anchor": a.anchor, "rows": table_json(a.table)}
                  for a in section.apart],
    }


def readme_json(block: ReadmeBlock) -> dict:
    """A zoo README table: its card, whose rows are published values, the rows and the Markdown."""
    return {"where": block.where or None, "published": block.published, "rows": table_json(block.table),
            "markdown": block.markdown()}


def table_json(table: Table) -> list[dict]:
    rows = []
    for row in table.rows:
        entry = {"cells": dict(zip(table.headers, row.cells)), "run_ids": row.run_ids,
                 "reference": row.reference}
        if row.source:
            entry["source"] = row.source
        if row.remark:
            entry["note"] = row.remark
        if row.notes:
            entry["notes"] = row.notes
        entry.update(row.values)
        rows.append(entry)
    return rows


def _json_safe(value: Any) -> Any:
    """NaN/inf (a diverged loss) become null: strict JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# --- CSV --------------------------------------------------------------------------------

CSV_HEAD = ["run_id", "model", "kind", "status", "profile", "data_kind", "data_name", "protocol", "gpu",
            "cards", "device", "throughput_unit", "fps", "fps_per_card", "compute_fps", "step_ms_p50",
            "step_ms_p90"]
# torch_cuda_build: the CUDA version torch was built with; a CPU run used no card.
CSV_TAIL = ["warnings", "sdk", "release", "torch", "torch_cuda_build", "driver", "cpu", "git_commit",
            "git_dirty", "started", "finished", "duration_s", "error"]


def csv_columns(runs: list[Run]) -> list[str]:
    """Fixed columns plus every metric column (and its std) of the runs, in order."""
    metric_keys: list[str] = []
    for column in metric_columns_of(runs):
        for key in (column.key, column.std_key):
            if key and key not in metric_keys and key not in CSV_HEAD:
                metric_keys.append(key)
    return CSV_HEAD + metric_keys + CSV_TAIL


def render_csv(report: Report) -> str:
    """One row per run, oldest first; empty cells for values a run does not have."""
    columns = csv_columns(report.runs)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    # plain lists through the C writer: a DictWriter's per-row dict and checks were half the time;
    # an int or float goes as it is (the writer writes str() of it; no number starts a formula)
    writer.writerows([v if type(v) is float or type(v) is int else csv_cell(v) for v in _csv_row(run, columns)]
                     for run in report.runs)
    return buffer.getvalue()


def _csv_row(run: Run, columns: list[str]) -> list:
    """The run's cells in ``columns`` order (None where it has no value)."""
    env, data, metrics = run.env, run.data, run.metrics
    row: dict[str, Optional[Any]] = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
    row.update({
        "run_id": run.run_id, "model": run.model, "kind": run.kind, "status": run.status,
        "profile": run.profile, "data_kind": data.get("kind"), "data_name": data.get("name"),
        "protocol": data.get("protocol"), "gpu": run.gpu, "cards": run.cards, "device": run.device,
        "throughput_unit": run.throughput_unit, "warnings": " | ".join(run.warnings) or None,
        "sdk": None if run.on_cpu else env.get("sdk"), "release": run.release, "torch": env.get("torch"),
        "torch_cuda_build": env.get("cuda"), "driver": None if run.on_cpu else env.get("driver"),
        "cpu": env.get("cpu"), "git_commit": env.get("git_commit"), "git_dirty": env.get("git_dirty"),
        "started": run.started or None, "finished": run.record.get("finished"),
        "duration_s": run.duration_s, "error": one_line(run.error) if run.error else None,
    })
    return [row.get(k) for k in columns]

