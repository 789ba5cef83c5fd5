"""The tables a report holds, as cell text: the model fills them, every writer lays them out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from modelzoo.report.cells import MISSING


@dataclass
class TableRow:
    """One row: data ``cells``, then the Run column (run ids, or a reference's source) and notes."""

    cells: list[str]
    run_ids: list[str] = field(default_factory=list)
    reference: bool = False
    source: str = ""                 # reference: where the values were published
    remark: str = ""                 # reference: zoo.yaml's note (HTML)
    notes: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)   # raw numbers for results.json

    @property
    def run_cell(self) -> str:
        return ", ".join(self.run_ids) or self.source or MISSING


@dataclass
class Table:
    headers: list[str]               # data columns; writers add Run (and Notes when any row has one)
    rows: list[TableRow]
    numeric: frozenset = frozenset()  # data column indexes holding numbers (right-aligned)
    status_column: Optional[int] = None  # data column holding a run status (a badge in HTML)

    @property
    def has_notes(self) -> bool:
        return any(r.notes for r in self.rows)

    def full_headers(self) -> list[str]:
        return self.headers + ["Run"] + (["Notes"] if self.has_notes else [])

    def full_rows(self) -> list[list[str]]:
        notes = self.has_notes
        return [r.cells + [r.run_cell] + (["; ".join(r.notes) or MISSING] if notes else [])
                for r in self.rows]
