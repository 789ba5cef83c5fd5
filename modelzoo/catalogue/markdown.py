"""Markdown tables of a README with their line numbers, section and cell spans.

A table is a ``|``-row followed by a delimiter row (``|---|:---:|``); cells are split on
unescaped pipes (``\\|`` stays in the cell). Fenced code blocks are skipped. Each row keeps
its line's text, so a writer can change one cell and leave every other byte as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DELIMITER = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-*:?\s*)*\|?\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Row:
    line: int                 # 1-based line number in the file
    text: str                 # the line as written, without its line ending
    cells: list[str]          # stripped cell texts
    spans: list[tuple[int, int]] = field(default_factory=list)  # each cell's [start, end) in text, unstripped


@dataclass
class Table:
    header: Row
    delimiter_line: int
    rows: list[Row]
    section: str = ""         # the nearest heading above the table
    in_results: bool = False  # under a heading that names results (and its sub-headings)

    @property
    def titles(self) -> list[str]:
        return self.header.cells


def split_row(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Cells of one ``|``-row and the span of each (between its pipes)."""
    bounds, escaped = [], False
    for index, char in enumerate(text):
        if char == "|" and not escaped:
            bounds.append(index)
        escaped = char == "\\" and not escaped
    if not bounds:
        return [text.strip()], [(0, len(text))]
    starts = bounds if text[: bounds[0]].strip() == "" else [-1] + bounds
    ends = bounds[1:] if text[bounds[-1] + 1:].strip() == "" else bounds[1:] + [len(text)]
    spans = [(start + 1, end) for start, end in zip(starts, ends)]
    return [text[a:b].strip() for a, b in spans], spans


def _row(line: int, text: str) -> Row:
    cells, spans = split_row(text)
    return Row(line, text, cells, spans)


def tables(text: str) -> list[Table]:
    """Every table of a Markdown text, in order."""
    lines = text.splitlines()
    found: list[Table] = []
    section, results_level, fenced = "", 0, False
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FENCE.match(line):
            fenced = not fenced
            index += 1
            continue
        heading = None if fenced else _HEADING.match(line)
        if heading:
            level, section = len(heading.group(1)), heading.group(2)
            if "result" in section.lower():
                results_level = level
            elif results_level and level <= results_level:
                results_level = 0
        if (not fenced and line.lstrip().startswith("|") and index + 1 < len(lines)
                and _DELIMITER.match(lines[index + 1]) and "-" in lines[index + 1]):
            table = Table(_row(index + 1, line), index + 2, [], section, bool(results_level))
            index += 2
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                table.rows.append(_row(index + 1, lines[index]))
                index += 1
            found.append(table)
            continue
        index += 1
    return found


def is_environment(table: Table) -> bool:
    """The ``| GPU | IXUCA SDK | Release |`` table of supported environments."""
    titles = [t.lower() for t in table.titles]
    return len(titles) >= 3 and titles[0] == "gpu" and "sdk" in titles[1] and titles[2].startswith("release")
