"""The report's release history: one chart per cell across releases and the Regressions list.

From the release runs among the report's records (:func:`modelzoo.zoo.history.collect`:
successful ``train`` runs that name a release; a cell is model, profile, card, card count),
for every cell measured in at least two releases:

- a chart: FPS and each metric (as measured in each release: the mean of its runs) against
  the releases in the order they were measured. Charts are drawn for every cell with a
  change and for the first :data:`CHARTED_CELLS` others (300 cells' charts would make a page
  no one reads); every cell is in the table under them, with its newest FPS;
- the changes: :func:`modelzoo.zoo.steps.find_changes` over the cell's whole history of
  each quantity (FPS on a ratio scale, metrics as differences), each with the release
  where it began, its size and its significance in standard errors, marked a regression
  when it went the worse way. A quantity's noise is at least half its default limit (a
  deterministic metric has no spread of its own: a change must then reach twice the limit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from markupsafe import Markup

from modelzoo.report import svg

CHARTED_CELLS = 40


@dataclass
class ChangeRow:
    cell: str
    quantity: str
    kind: str            # "step" or "creep"
    direction: str       # "regression" or "improvement"
    began: str           # the release where it began
    until: str           # the release where the new level was reached (a creep's last)
    size: str            # "-12.0 %" or "-0.0400"
    significance: str    # "8.3 SE"
    levels: str          # "412.00 -> 362.56"


@dataclass
class CellRow:
    cell: str
    releases: int
    newest: str          # the newest release's FPS
    changes: int


@dataclass
class HistoryView:
    releases: list[str]
    changes: list[ChangeRow] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)
    cells: list[CellRow] = field(default_factory=list)
    charted_cells: int = CHARTED_CELLS

    @property
    def regressions(self) -> list[ChangeRow]:
        return [c for c in self.changes if c.direction == "regression"]


def release_history(records: Sequence[dict], declarations: Optional[Mapping[str, Any]] = None
                    ) -> Optional[HistoryView]:
    """The history view of ``records`` (run record dicts), or None with fewer than two releases.
    ``declarations``: the installed models' ``ModelSpec``, whose metric columns judge the runs
    (as ``zoo check --baseline`` judges them), never a record's own."""
    from modelzoo.zoo.history import RESOURCES, collect, quantities
    from modelzoo.zoo.steps import find_changes

    history = collect(records, declarations)
    if len(history.releases) < 2:
        return None
    view = HistoryView(history.releases)
    quiet_charts = []
    for cell in history.cells.values():
        measured = [r for r in history.releases if r in cell.runs]
        if len(measured) < 2:
            continue
        shown = quantities(history, cell.key.model)[:-len(RESOURCES)]  # FPS and the metrics
        found = 0
        series = []
        for quantity in shown:
            points = [[v for v in (quantity.read(r) for r in cell.runs.get(release, [])) if v is not None]
                      for release in history.releases]
            if sum(1 for p in points if p) < 2:
                continue
            floor = _noise_floor(quantity, points)
            for change in find_changes(points, relative=quantity.relative, floor=floor):
                view.changes.append(_row(cell.key.name, quantity, change, history.releases))
                found += 1
            series.append((quantity, points))
        fps = cell.sample(history.releases[-1], shown[0]) if shown else None
        view.cells.append(CellRow(cell.key.name, len(measured), shown[0].format(fps.mean) if fps else "-", found))
        if series and (found or len(quiet_charts) < CHARTED_CELLS):  # drawn only if shown
            (view.charts if found else quiet_charts).append(_chart(cell.key.name, series, history.releases))
    view.charts += quiet_charts[:max(0, CHARTED_CELLS - len(view.charts))]
    view.changes.sort(key=lambda c: (c.direction != "regression", c.cell, c.quantity))
    return view


def _noise_floor(quantity, points: list[list[float]]) -> float:
    """Half the quantity's default limit, in the units find_changes works in."""
    (kind, amount), = quantity.default_limit.items()
    if quantity.relative:
        return math.log1p(amount / 100) / 2 if kind == "rel_pct" else 0.0
    if kind == "abs":
        return amount / 2
    values = [abs(v) for p in points for v in p]
    return (sum(values) / len(values)) * amount / 100 / 2 if values else 0.0


def _row(cell: str, quantity, change, releases: list[str]) -> ChangeRow:
    worse = change.size < 0 if quantity.higher_is_better else change.size > 0
    size = f"{change.size * 100:+.1f} %" if quantity.relative else f"{change.size:+.4g}"
    if change.kind == "creep":
        size += f" ({change.per_release() * 100:+.1f} %/release)" if quantity.relative else \
            f" ({change.per_release():+.3g}/release)"
    return ChangeRow(cell, quantity.title, change.kind, "regression" if worse else "improvement",
                     releases[change.start], releases[change.end], size, f"{change.significance:.1f} SE",
                     f"{quantity.format(change.before)} -> {quantity.format(change.after)}")


def _chart(name: str, series: list, releases: list[str]) -> Markup:
    """FPS and the metrics of one cell across releases; each quantity as % of its first release's
    value, so that one chart holds them all (the table and the tooltips give the values)."""
    lines = []
    for index, (quantity, points) in enumerate(series):
        means = [sum(p) / len(p) if p else None for p in points]
        first = next(m for m in means if m is not None)
        xs = [i for i, m in enumerate(means) if m is not None]
        ys = [means[i] / first * 100 if first else 0.0 for i in xs]
        label = f"{quantity.title} (100 % = {quantity.format(first)} in {releases[xs[0]]})"
        lines.append(svg.Series(label, xs, ys, color=svg.PALETTE[index % len(svg.PALETTE)], markers=True))
    return Markup(svg.line_chart(lines, title=name, x_label="release", y_label="% of the first release",
                                 x_labels=releases, width=460, height=240))
