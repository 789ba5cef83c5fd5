"""The zoo README's own table, to paste into the README unchanged.

Exactly the README's columns, cells formatted as the README writes them:

- ``metrics`` layout: ``Model | FPS | <metric columns>`` (``| Facenet | 216.96 |
  0.98900+-0.00642 |``). The README's FPS has no card, so there is one table per card
  and card count, each introduced by the card (``BI-V100 x1``).
- ``configs`` layout: ``Model | GPU | <config columns>`` (``| ResNet50 | BI-V100 x1 |
  Acc@1=76.02,FPS=330,Time=4d3h,BatchSize=280 | ... |``), one table.

Rows: a model's measured main-table rows (real data, the zoo's protocol); a model with
none yet shows its published values from zoo.yaml instead, as the README shows them,
and the block names it (``published``). Two profiles of one model on one card are told
apart by the profile in the Model cell (``Facenet (casia-5ep)``).

Models whose READMEs have the same columns (the ``metrics`` layout with the same metric
titles and unit, e.g. one zoo section's models) also get one table together
(:func:`readme_groups`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from modelzoo.report.rules import Layout, same_card, unit_header
from modelzoo.report.sections import ModelSection, ReadmeBlock, ReadmeGroup
from modelzoo.report.tables import Table, TableRow


@dataclass
class ReadmeRow:
    """One README row before it is placed: its card, the Model cell and the cells after it."""

    gpu: str
    cards: int
    reference: bool
    title: str
    profile: str
    cells: list[str]
    model_cell: str = ""


def readme_headers(layout: Layout) -> list[str]:
    if layout.layout == "configs":
        return ["Model", "GPU", *[c.title for c in layout.config_columns]]
    return ["Model", unit_header(layout.unit), *[c.title for c in layout.columns]]


def chosen_rows(rows: Sequence[ReadmeRow]) -> list[ReadmeRow]:
    """The measured rows, or the published ones while nothing was measured; the Model cell
    names the profile when two profiles of the model were measured."""
    measured = [r for r in rows if not r.reference]
    profiles = {r.profile for r in measured}
    for row in rows:
        row.model_cell = f"{row.title} ({row.profile})" if not row.reference and len(profiles) > 1 else row.title
    return measured or [r for r in rows if r.reference]


def readme_blocks(headers: list[str], rows: Sequence[ReadmeRow], configs: bool) -> list[ReadmeBlock]:
    """One model's README table(s): one per card and count (``metrics``), else one."""
    return placed(headers, chosen_rows(rows), configs)


def placed(headers: list[str], rows: list[ReadmeRow], configs: bool) -> list[ReadmeBlock]:
    """``rows`` in blocks: by card and count (a reference's ``BI-V100`` and a measured
    ``Iluvatar BI-V100`` are one card), or all in one for the ``configs`` layout."""
    groups: dict[tuple, list[ReadmeRow]] = {}
    names: dict[tuple, str] = {}
    for row in rows:
        if configs:
            key = ("", 0)
        else:
            key = next((k for k, name in names.items() if k[1] == row.cards
                        and (same_card(row.gpu, name) or same_card(name, row.gpu))), (row.gpu.lower(), row.cards))
            names.setdefault(key, row.gpu)
            if not row.reference:  # the measured card's full name over the reference's short one
                names[key] = row.gpu
        groups.setdefault(key, []).append(row)
    blocks = []
    for key in sorted(groups):
        members = groups[key]
        table = Table(list(headers), [TableRow(cells=[r.model_cell, *r.cells], reference=r.reference)
                                      for r in members])
        where = "" if configs else f"{names[key]} x{key[1]}"
        published = list(dict.fromkeys(r.title for r in members if r.reference))
        blocks.append(ReadmeBlock(where, table, published, rows=members))
    return blocks


def readme_groups(sections: Sequence[ModelSection]) -> list[ReadmeGroup]:
    """Models (two or more) whose README tables have the same columns, in one table."""
    by_headers: dict[tuple, list[ModelSection]] = {}
    for section in sections:
        if section.layout == "metrics" and section.readme:
            by_headers.setdefault(tuple(section.readme[0].table.headers), []).append(section)
    groups = []
    for headers, members in by_headers.items():
        if len(members) < 2:
            continue
        rows = [row for section in members for block in section.readme for row in block.rows]
        anchor = "readme-" + re.sub(r"[^a-z0-9]+", "-", "-".join(s.model for s in members).lower()).strip("-")
        groups.append(ReadmeGroup(anchor, [s.title for s in members], list(headers),
                                  placed(list(headers), rows, configs=False)))
    return groups
