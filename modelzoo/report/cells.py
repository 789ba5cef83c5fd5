"""Cell text for the report's tables: numbers, durations, Markdown and CSV cells.

Knows nothing of records or sections; every writer (Markdown, HTML, JSON, CSV) shares
these so a value reads the same in each.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Optional

from modelzoo.store.plausible import finite  # noqa: F401  (the one home; the report reads it from here)
from modelzoo.toolkit.text import markdown_text

MISSING = "-"
NOT_MEASURED = "n/a"  # a value a measured run should have and does not


def number(value: Any) -> Optional[float]:
    """``value`` as a float when it is a real number (not a bool, not a string); else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # a JSON integer no float holds (10**400)
        return None


def fixed(value: Optional[float], digits: int = 2) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def fixed_published(value: Optional[float], digits: int = 2) -> str:
    """A published figure with at least ``digits`` decimals and every decimal it was
    published with (ArcFace's FPS is ``38.272``, not ``38.27``), up to 6."""
    if value is None:
        return MISSING
    for places in range(digits, 7):
        shown = f"{value:.{places}f}"
        if float(shown) == value:
            return shown
    return f"{value:.6f}"


def percent(value: Optional[float], digits: int = 1) -> str:
    return MISSING if value is None else f"{value * 100:.{digits}f}%"


def short_fps(value: Optional[float]) -> str:
    """Throughput as the zoo writes it in a cell (``FPS=330``): whole numbers from 100 up."""
    if value is None:
        return MISSING
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def text(value: Any) -> str:
    return MISSING if value is None or value == "" else str(value)


def zoo_duration(seconds: Optional[float]) -> str:
    """Wall time as the zoo's READMEs write it: ``4d3h``, ``12h43m``, ``8h``, ``25m``, ``40s``.

    Days are shown with hours (rounded to the hour), shorter times with minutes.
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return MISSING
    if seconds < 59.5:
        return f"{round(seconds)}s"
    minutes = round(seconds / 60)
    if minutes >= 24 * 60:
        days, hours = divmod(round(seconds / 3600), 24)
        return f"{days}d{hours}h" if hours else f"{days}d"
    if minutes >= 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    return f"{minutes}m"


def metric_cell(column: Any, metrics: dict, measured: bool) -> str:
    """A ``MetricColumn``'s value (``0.98900+-0.00642``); a measured run without it reads ``n/a``."""
    value = metrics.get(column.key)
    if value is None:
        return NOT_MEASURED if measured else MISSING
    try:
        return column.render(metrics)
    except (TypeError, ValueError):  # e.g. '{:d}' given a float: show the number plainly
        return f"{value:g}" if number(value) is not None else str(value)


def signed(value: float, fmt: str = "{:.2f}") -> str:
    """A difference with its sign, in the column's number format: ``+0.00120``, ``-3.10``."""
    body = fmt.format(abs(value)).lstrip("+ ")  # a '{:+.2f}' format would sign it twice
    return ("-" if value < 0 else "+") + body


def one_line(value: Any, limit: Optional[int] = None) -> str:
    """Whitespace runs (newlines included) collapsed; cut to ``limit`` characters with '...'."""
    line = " ".join(str(value).split())
    if limit and len(line) > limit:
        line = line[: limit - 3] + "..."
    return line


# --- Markdown ---------------------------------------------------------------------------

def md_cell(value: Any) -> str:
    """A Markdown table cell or line: :func:`modelzoo.toolkit.text.markdown_text` (one line,
    HTML neutralised, pipes escaped)."""
    return markdown_text(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table padded like the zoo's READMEs: cells left-aligned, dashes to the column width."""
    grid = [[md_cell(c) for c in headers]] + [[md_cell(c) for c in row] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in grid]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# --- CSV --------------------------------------------------------------------------------

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text, never runs: a leading ``= + - @`` (or tab,
    CR) gets a ``'`` in front, except a plain number (``-3.5`` stays a number)."""
    if value is None:
        return ""
    cell = str(value)
    if cell.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell
