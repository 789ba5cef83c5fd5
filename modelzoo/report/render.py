"""``modelzoo report``: result tables in the zoo's README formats, from run records only.

Entry point::

    render_reports(records, references, output_dir, formats=("md", "html", "json", "csv"),
                   generated=None, releases=None, skipped=(), warn=None,
                   declarations=None) -> list[Path]

``records`` are run-record dicts (``modelzoo.store.records``); ``references`` maps a model name
to the published values of zoo.yaml, each a dict::

    {"gpu": "BI-V100", "cards": 1, "fps": 216.96,
     "metrics": {"lfw_accuracy": 0.989, "lfw_accuracy_std": 0.00642},
     "sdk": "IXUCA SDK 3.1.0", "release": "23.09", "source": "DeepSpark zoo README",
     "config": {"train.amp": "bf16"},   # configs layout: which column the values belong to
     "time": "4d3h", "batch_size": 280,  # configs layout: the cell's Time and BatchSize
     "cuda": "12.4", "driver": "550.54", "torch": "2.4.0", "note": "shown in the HTML"}

The rules (which run reaches which table) live in :mod:`modelzoo.report.model`; the
zoo's extended and release tables in :mod:`~modelzoo.report.extended`; the Markdown,
JSON and CSV writers in :mod:`~modelzoo.report.writers`; the HTML view and its charts
in :mod:`~modelzoo.report.html`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from modelzoo.contract.api import UserError
from modelzoo.report import html, writers
from modelzoo.report.catalogue_section import catalogue_section
from modelzoo.report.model import build_report
from modelzoo.report.sections import Report
from modelzoo.store.records import StagedFile, check_replaceable, utc_now
from modelzoo.toolkit import forked

FORMATS = ("md", "html", "json", "csv")
# From this many runs the JSON and CSV are written beside the HTML in a forked child: below
# it, a fork (copying a big process's page tables) costs more than it saves.
FORK_FROM_RUNS = 2000
OUTPUT_NAMES = {"md": "results.md", "html": "index.html", "json": "results.json", "csv": "results.csv"}
# How each report starts (within its first kilobyte): a file that does not was not written by
# 'modelzoo report' and is replaced only with --force.
_SIGNATURES = {"md": b"# Model zoo results\n", "html": b'<meta name="generator" content="modelzoo ',
               "json": b'"report_schema_version":', "csv": b"run_id,model,kind,status,"}


def check_outputs(output_dir: Path, formats: Sequence[str], force: bool = False) -> None:
    """UserError (naming the file) when writing the reports would replace something that is
    not a regular file, or, without ``force``, a file an earlier report did not write."""
    for fmt in dict.fromkeys(formats):
        path = Path(output_dir) / OUTPUT_NAMES.get(fmt, fmt)
        check_replaceable(path, "--output")
        if force or not path.exists():
            continue
        try:
            with open(path, "rb") as handle:
                head = handle.read(1024)
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror}; check its permissions") from None
        if _SIGNATURES.get(fmt, b"\0") not in head:
            raise UserError(f"refusing to replace {path}: it was not written by 'modelzoo report'; pass --force "
                            "to replace it, or choose another --output folder")


def render_reports(records: Iterable, references: Optional[dict], output_dir: Path,
                   formats: Sequence[str] = FORMATS, generated: Optional[str] = None,
                   releases: Optional[Sequence[str]] = None, skipped: Sequence[str] = (),
                   warn: Optional[Callable[[str], None]] = None,
                   declarations: Optional[Mapping[str, Any]] = None,
                   catalogue: Optional[Sequence[dict]] = None) -> list[Path]:
    """Write the requested reports into ``output_dir`` (created if needed): each is staged beside
    its file, and the files are replaced only once every one is written.

    Returns the written paths in ``formats`` order: ``md`` -> results.md, ``html`` ->
    index.html, ``json`` -> results.json, ``csv`` -> results.csv. ``generated`` fixes the
    timestamp printed in the reports (default: now, UTC). ``releases`` (two release names)
    adds each model's release-to-release table. ``skipped`` lists the records the loader
    could not read (``records.load_all_with_problems``): the reports list them. Each
    record the report itself leaves out (wrong field types, a rejected metric format) is
    listed too and passed to ``warn`` (default: ``warnings.warn``), one line each.
    ``declarations`` maps a model to its plugin's ``ModelSpec`` (``Registry.models``): the
    tables take its layout; a model without one takes its newest record's. ``catalogue`` (rows of
    :func:`modelzoo.catalogue.views.catalogue_rows`) adds the whole zoo's published table.
    """
    unknown = [f for f in formats if f not in OUTPUT_NAMES]
    if unknown:
        raise UserError(f"unknown report format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    records = list(records)
    generated = generated or utc_now()  # one timestamp, whichever process writes the file

    @functools.cache
    def report_of_records() -> Report:  # built once per process: in the child, or here
        report = build_report(records, references, generated, releases=releases, skipped=skipped,
                              declarations=declarations)
        report.catalogue = catalogue_section(catalogue or [])
        return report

    renderers = {"md": writers.render_markdown, "html": html.render_html, "json": writers.render_json,
                 "csv": writers.render_csv}
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # Every report is staged beside its file and the files replaced only once all are written:
    # a crash leaves the previous reports whole.
    staged: dict[str, StagedFile] = {}
    try:
        for fmt in dict.fromkeys(formats):
            staged[fmt] = StagedFile(output_dir / OUTPUT_NAMES[fmt])
        # A long report is made twice over, on two cores: a forked child builds its own copy and
        # writes results.json and results.csv while this process draws the HTML and Markdown
        # (render_reports over 18,000 runs: 1.38 -> 0.93 s, bench/report_phases.py). Without a
        # child (one core, threads, a short report) the child's part runs here, on this report.
        beside = [fmt for fmt in ("json", "csv") if fmt in staged]

        def write_beside() -> bool:
            report = report_of_records()
            for fmt in beside:
                staged[fmt].write(_encoded(renderers[fmt](report)))
            return True

        # a child only when both processes have something to write
        fork = len(records) >= FORK_FROM_RUNS and 0 < len(beside) < len(staged)
        with forked.beside(write_beside, fork=fork) as wait_beside:
            report = report_of_records()
            for line in report.skipped[len(skipped):]:
                (warn or _warn)(line)
            for fmt in staged:
                if fmt not in beside:
                    staged[fmt].write(_encoded(renderers[fmt](report)))
            wait_beside()
        for file in staged.values():
            file.commit()
    finally:
        for file in staged.values():
            file.discard()
    return [file.path for file in staged.values()]


def _encoded(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8")


def _warn(line: str) -> None:
    warnings.warn(line, UserWarning, stacklevel=3)
