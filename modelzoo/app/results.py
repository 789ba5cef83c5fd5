"""Read the records back: :func:`report` (result tables) and :func:`compare` (two runs).

Neither imports torch: both read records only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from modelzoo.app.session import Session, session_or_default
from modelzoo.contract.api import UserError
from modelzoo.store import records
from modelzoo.toolkit.runtime import cycle_collection_paused, writable_dir

REPORT_FORMATS = ("md", "html", "json", "csv")


@dataclass
class Report:
    paths: list[Path]                                   # the written files, in the formats' order
    runs: int                                           # records the tables were made from
    skipped: list[str] = field(default_factory=list)    # one line per unreadable record


def report(session: Optional[Session] = None, *, formats: Sequence[str] = REPORT_FORMATS,
           output: str | Path = "reports", runs: Optional[Sequence[str]] = None,
           releases: Optional[Sequence[str]] = None, force: bool = False) -> Report:
    """Render the runs folder's records (or only ``runs``) as Markdown, HTML, JSON and CSV in
    ``output``. ``releases`` (two ids) adds the release-to-release tables. No records: no files.
    A file in ``output`` that an earlier report did not write is replaced only with ``force``."""
    session = session_or_default(session)
    given = list(formats)
    formats = [f.strip() for f in given if f.strip()]
    if not formats:
        raise UserError(f"--format {','.join(given)!r} names no format; choose from {', '.join(REPORT_FORMATS)}")
    unknown = sorted(set(formats) - set(REPORT_FORMATS))
    if unknown:
        raise UserError(f"--format {','.join(unknown)} is not known; choose from {', '.join(REPORT_FORMATS)}")
    with cycle_collection_paused():  # records are acyclic data: scanning them cost 0.9 s of 4.3 at 18,000
        return _report(session, formats, output, runs, releases, force)


def _report(session: Session, formats: list[str], output: str | Path, runs: Optional[Sequence[str]],
            releases: Optional[Sequence[str]], force: bool) -> Report:
    if runs:
        found, problems = records.load_all(session.runs_dir, runs), []
    else:
        from modelzoo.store.index import load_all_indexed

        found, problems = load_all_indexed(session.runs_dir, warn=session.warn)  # without curves, via the run index
    for problem in problems:
        session.warn(f"skipped {problem}")  # also listed in the report
    if not found:
        return Report([], 0, problems)
    from modelzoo.report.render import check_outputs, render_reports

    folder = writable_dir(Path(output), "report directory", "--output")
    check_outputs(folder, formats, force)
    # the installed plugins' declarations give each model's table layout (not its newest record)
    from modelzoo.app.zoo_catalogue import catalogue, list_all
    from modelzoo.catalogue.link import with_catalogue_references

    models = {r.get("model") for r in found}
    references = with_catalogue_references(session.zoo(), catalogue(session), models=models,
                                           warn=session.warn).references()
    paths = render_reports(found, references, folder, formats=formats, releases=releases,
                           skipped=problems, warn=session.warn, declarations=session.registry().models,
                           catalogue=list_all(session))
    return Report(paths, len(found), problems)


def compare(base: str, new: str, *, session: Optional[Session] = None, max_fps_drop: Optional[float] = None,
            max_metric_drop: Sequence[str] = ()):
    """Compare run ``new`` against run ``base`` (ids in the runs folder): a
    :class:`~modelzoo.zoo.compare.Comparison` whose ``regressions`` is empty when nothing got
    worse beyond the limits (the options', else zoo.yaml's tolerances, else FPS 5 %, metrics 0.5 %).
    The metric columns are the installed model's (a record's own are never believed)."""
    from modelzoo.zoo.compare import compare_records, parse_thresholds

    session = session_or_default(session)
    base_record, new_record = records.find(session.runs_dir, base), records.find(session.runs_dir, new)
    try:
        spec = session.registry().model(str(base_record.get("model")))
    except UserError as exc:
        raise UserError(f"cannot judge run {base_record['run_id']}: compare takes its rules from the model's "
                        f"installed plugin, and {exc}") from None
    zoo_model = session.zoo().models.get(base_record.get("model"))
    tolerances = zoo_model.tolerances if zoo_model else {}
    fps_limit = max_fps_drop if max_fps_drop is not None else tolerances.get("fps_pct")
    return compare_records(base_record, new_record, columns=spec.metric_columns, max_fps_drop_pct=fps_limit,
                           thresholds={**tolerances.get("metrics", {}), **parse_thresholds(max_metric_drop)})
