"""What a report holds, as the writers read it: per-model sections, the zoo README blocks,
the tables kept apart, and the report itself. Plain data; :mod:`modelzoo.report.model`
fills it in."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from modelzoo.contract.api import ConfigColumn, MetricColumn
from modelzoo.report.cells import markdown_table
from modelzoo.report.extended import ExtendedTable, ReleaseTable
from modelzoo.report.history import HistoryView, release_history
from modelzoo.report.runs import Run
from modelzoo.report.tables import Table


@dataclass
class ReadmeBlock:
    """One table in exactly the zoo README's columns, to paste unchanged.

    ``where`` says which card and count its rows are on (the README's FPS column has no
    card); ``published`` names the models whose rows are zoo.yaml's published values
    because no real-data run of theirs is there yet.
    """

    where: str
    table: Table
    published: list[str] = field(default_factory=list)
    rows: list = field(default_factory=list)  # the ReadmeRows behind the table (card, profile)

    @property
    def caption(self) -> str:
        """The line above the table: its card, and whose rows are published values."""
        published = f"published values of {', '.join(self.published)} (no real-data run yet)" if self.published else ""
        if self.where:
            return f"On {self.where}" + (f", {published}" if published else "") + ":"
        return published[:1].upper() + published[1:] + ":" if published else ""

    def markdown(self) -> str:
        return markdown_table(self.table.headers, [row.cells for row in self.table.rows])


@dataclass
class ReadmeGroup:
    """Models whose READMEs publish the same table (a zoo section, e.g. one task's
    models): their rows together, in that table's columns."""

    anchor: str
    titles: list[str]
    headers: list[str]
    blocks: list[ReadmeBlock]


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
    layout_source: str               # "declaration" (the plugin's ModelSpec) or "record <run_id>"
    config_columns: list[ConfigColumn]
    columns: list[MetricColumn]
    unit: str
    readme: list[ReadmeBlock]        # the zoo README's own table(s), paste-ready
    results: Table                   # the same rows with GPU, Profile, FPS/ref, Scaling, Run
    main_runs: list[Run]             # the measured runs the results table shows
    older: int                       # main-table runs replaced by a newer one of the same row
    has_references: bool
    unplaced_references: list[str]   # configs layout: references matching no column
    input_bound: list[tuple[Run, float]]
    environments: list[EnvTable]
    apart: list[Apart]
    scaling: dict                    # run_id -> FPS(N) / (N x FPS(1)), same profile and card
    extended: Optional[ExtendedTable] = None
    releases: Optional[ReleaseTable] = None


@dataclass
class Report:
    generated: str
    runs: list[Run]                  # every usable record, oldest first
    skipped: list[str]               # one line per record left out (loader's and ours)
    sections: list[ModelSection]
    releases: Optional[tuple[str, str]] = None
    groups: list[ReadmeGroup] = field(default_factory=list)
    catalogue: Optional[Any] = None  # report.catalogue_section.CatalogueSection: the whole zoo's published table
    declarations: Mapping[str, Any] = field(default_factory=dict)  # model -> its installed ModelSpec

    @property
    def records(self) -> list[dict]:
        """The usable records as read, oldest first (a sweep's members left out)."""
        return [run.record for run in self.runs]

    @functools.cached_property
    def history(self) -> Optional[HistoryView]:
        """The release history (changes, cells, charts), found once for the HTML and the
        Markdown; None with fewer than two releases."""
        return release_history(self.records, self.declarations)
