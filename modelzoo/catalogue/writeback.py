"""Measured results into a zoo README, in that README's own layout, and into model_info.json.

The README's results table keeps its columns; the row for the measured card and card count
is updated (only the numbers the measurement has, each with the decimals the README used),
or a row is added after the table's last row (the last row is its template: a number the
measurement lacks reads ``-`` rather than a stale copy). A configuration column
(``FP32``, ``AMP+NHWC``) only changes for the configuration measured. A table without a card
column names a card other than its own in the Model cell (``Facenet (BI-V150 x8)``). The
environment table gets the measured card's ``| GPU | SDK | Release |`` row when it lacks it,
above its first row (newest first, as the zoo writes it). Every other byte stays as it was:
cells keep their padding when the new text fits, and a README with nothing to change comes
back byte-identical.

model_info.json: ``latest_gpgpu``/``latest_sdk`` of the entry move to the measured card and
SDK when that SDK is newer (compared as versions); the edit is textual, inside the entry.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Optional

from modelzoo.catalogue import values, versions
from modelzoo.catalogue.markdown import Row, Table, split_row, tables
from modelzoo.catalogue.results import column_role, has_card_column, is_extended

MISSING = "-"
_SPREAD = re.compile(rf"\s*(\+-|±|\+/-)\s*(?P<std>{values.NUMBER})")


@dataclass
class Measured:
    """One measured result to write: a card and count, the README's configuration column
    (``AMP+NHWC``; '' when the README has none) and the numbers, keyed as the record keys them."""
    gpu: str
    cards: int
    fps: Optional[float] = None
    metrics: dict[str, float] = field(default_factory=dict)
    config: str = ""
    seconds: Optional[float] = None      # wall time, for a ``Time=`` item
    batch_size: Optional[int] = None
    model_title: str = ""                # the Model cell of a new row (default: the template's)
    profile: str = ""                    # the profile that ran (for messages)


@dataclass
class Change:
    path: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def digest(texts: list[str]) -> str:
    """The files' state a diff was made from: ``--expect`` refuses to apply over anything else."""
    hasher = hashlib.sha256()
    for text in texts:
        hasher.update(hashlib.sha256(text.encode("utf-8")).digest())
    return hasher.hexdigest()[:16]


def unified(changes: list[Change]) -> str:
    return "".join("".join(difflib.unified_diff(c.before.splitlines(keepends=True), c.after.splitlines(keepends=True),
                                                f"a/{c.path}", f"b/{c.path}")) for c in changes if c.changed)


# --- formatting like the README ---------------------------------------------------------

def like(old_text: str, value: float) -> str:
    """``value`` with as many decimals as ``old_text`` had (``0.98900`` -> 5, ``330`` -> 0, ``2.653E-4`` -> E, 3)."""
    mantissa, *exponent = old_text.lower().split("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return f"{value:.{decimals}{'E' if exponent else 'f'}}"


def _fill(raw: str, text: str) -> str:
    """A cell's new text in the old cell's room: its leading spaces kept, padded to its width."""
    lead = len(raw) - len(raw.lstrip(" ")) if raw.strip() else 1
    body = " " * lead + text
    return body.ljust(len(raw)) if len(body) < len(raw) else body + " "


def _with_cells(row: Row, texts: dict[int, str]) -> str:
    out, last = [], 0
    for index, (start, end) in enumerate(row.spans):
        out.append(row.text[last:start])
        raw = row.text[start:end]
        out.append(_fill(raw, texts[index]) if index in texts and texts[index] != raw.strip() else raw)
        last = end
    out.append(row.text[last:])
    return "".join(out)


# --- the results table ------------------------------------------------------------------

def _metric_value(label: str, measured: Measured) -> Optional[float]:
    """The measurement's value for a README label (``LFW_Accuracy`` ~ ``lfw_accuracy``)."""
    want = values.match_key(values.label_key(label))
    for key, value in measured.metrics.items():
        if values.match_key(key) == want:
            return value
    return None


def _new_number(label: str, measured: Measured) -> Optional[float]:
    role = values.meaning(label)
    if role == "throughput":
        return measured.fps
    if role == "batch_size":
        return measured.batch_size
    return _metric_value(label, measured)


def _cell_text(cell: str, title: str, measured: Measured, new_row: bool) -> Optional[str]:
    """A value cell rewritten with the measurement; None when it keeps its text."""
    from modelzoo.report.cells import zoo_duration

    bare = values.bare(cell)
    if bare is not None:
        number = _new_number(title, measured)
        if number is None:
            return MISSING if new_row else None
        start = cell.find(bare.text)
        end, text = start + len(bare.text), like(bare.text, number)
        spread = _SPREAD.match(cell, end) if bare.std is not None else None
        if spread:   # '0.98900+-0.00642': the spread too, or none when the measurement has none
            std = _metric_value(f"{title}_std", measured)
            if std is not None:
                text += spread.group(0).replace(spread.group("std"), like(spread.group("std"), std))
            end = spread.end()
        return cell[:start] + text + cell[end:]
    items = values.labelled(cell)
    if items is None:
        return MISSING if new_row else None
    out, position, changed = [], 0, False
    for item in items:
        at = cell.find(item.text, position)
        if at < 0:
            return MISSING if new_row else None
        if values.meaning(item.label) == "time":
            new = zoo_duration(measured.seconds) if measured.seconds is not None else None
        else:
            number = _new_number(item.label, measured)
            new = like(item.text, number) if number is not None else None
        if new is None and new_row:
            new = MISSING
        out.append(cell[position:at] + (new if new is not None else item.text))
        changed |= new is not None
        position = at + len(item.text)
    out.append(cell[position:])
    return "".join(out) if changed else None


def readme_card(gpu: str) -> str:
    """A measured card as the zoo's READMEs name it: ``Iluvatar BI-V150`` -> ``BI-V150``."""
    found = re.search(r"(?<![\w-])(?:BI|NV|MR)[\s-]*V?\d+\w*", gpu, re.IGNORECASE)
    parsed = values.card(found.group(0)) if found else None
    return parsed[0] if parsed and parsed[0] else gpu


def _card_text(template: str, gpu: str, cards: int) -> str:
    """``BI-V100 x8`` written for ``BI-V150`` x1: ``BI-V150 x1`` (the template's spacing and sign)."""
    match = re.match(r"^(?P<card>(?:BI|NV|MR)[\s-]*[Vv]?\s*\d+\w*?)(?P<sep>\s*[x×*]\s*)?(?P<n>\d+)?$",
                     template.strip(), re.IGNORECASE)
    if not match:
        return f"{gpu} x{cards}" if cards else gpu
    return f"{gpu}{match['sep'] or ' x'}{cards}" if (match["n"] or match["sep"]) and cards else gpu


def _row_card(row: Row, roles: list[str], default_gpu: str) -> tuple[str, int]:
    gpu, cards = default_gpu, 1
    named = re.search(r"\(([^()]+)\)$", row.cells[0]) if row.cells else None
    cells = [(role, row.cells[i]) for i, role in enumerate(roles) if i < len(row.cells)]
    for role, cell in cells + ([("card", named.group(1))] if named else []):
        parsed = values.card(cell) if role == "card" else None
        if parsed:
            gpu, cards = parsed[0] or gpu, parsed[1] or cards
        elif role == "count" and cell.strip().isdigit():
            cards = int(cell)
    return gpu, cards


def _same(a: str, b: str) -> bool:
    from modelzoo.report.rules import same_card

    return same_card(a, b) or same_card(b, a)


def _fullest(rows: list[Row]) -> Row:
    """A new row's template: the row with the most numbers (the last of those), so every figure has a place."""
    return max(reversed(rows), key=lambda r: len(re.findall(r"\d+(?:\.\d+)?", " ".join(r.cells[1:]))))


def main_table(readme_tables: list[Table]) -> Optional[Table]:
    """The README's results table to write: the first under a results heading that is not the extended
    table, else the first with a card column."""
    from modelzoo.catalogue.markdown import is_environment

    candidates = [t for t in readme_tables if t.rows and not is_environment(t) and not is_extended(t)]
    return next((t for t in candidates if t.in_results), None) or \
        next((t for t in candidates if has_card_column(t)), None)


def config_columns(text: str) -> Optional[list[str]]:
    """The results table's configuration columns (``FP32``, ``AMP+NHWC``); None when it has no results table."""
    table = main_table(tables(text))
    if table is None:
        return None
    rows = [r for r in table.rows if any(c.strip() for c in r.cells)]
    return [t for i, t in enumerate(table.titles)
            if column_role(t, [r.cells[i] for r in rows if i < len(r.cells)]) == "config_cell"]


def update_results(text: str, measured: list[Measured], readme_gpu: str) -> str:
    """``text`` with the results table updated for every measurement (see the module's doc)."""
    table = main_table(tables(text))
    if table is None or not measured:
        return text
    lines = text.splitlines(keepends=True)
    titles = table.titles
    rows = [r for r in table.rows if any(c.strip() for c in r.cells)]   # not a trailing '|   |'
    roles = [column_role(t, [r.cells[i] for r in rows if i < len(r.cells)]) for i, t in enumerate(titles)]
    has_card = "card" in roles or "count" in roles
    appended: list[str] = []
    text_config = any(role == "text" for role in roles[1:])
    for item in measured:
        target = next((r for r in rows if _same(_row_card(r, roles, readme_gpu)[0], item.gpu)
                       and _row_card(r, roles, readme_gpu)[1] == item.cards
                       and not (item.config and text_config and item.config not in r.cells)), None)
        new_row = target is None
        template = target or _fullest(rows)
        texts: dict[int, str] = {}
        for index, (title, role) in enumerate(zip(titles, roles)):
            if index >= len(template.cells):
                break
            cell = template.cells[index]
            if role == "card":
                if new_row:
                    texts[index] = _card_text(cell, readme_card(item.gpu), item.cards if "count" not in roles else 0)
            elif role == "count":
                if new_row:
                    texts[index] = str(item.cards)
            elif index == 0 and role in ("text", "value") and values.bare(cell) is None:
                if new_row:
                    name = item.model_title or cell
                    texts[index] = name if has_card else f"{name} ({readme_card(item.gpu)} x{item.cards})"
            elif role == "config_cell":
                if title == item.config or (not item.config and len([r for r in roles if r == "config_cell"]) == 1):
                    new = _cell_text(cell, title, item, new_row)
                    if new is not None:
                        texts[index] = new
                elif new_row:
                    texts[index] = MISSING
            elif role in ("value", "per_count"):
                new = _cell_text(cell, title, item, new_row)
                if new is not None:
                    texts[index] = new
            elif new_row and (role != "text" or index > 0):
                texts[index] = item.config if role == "text" and item.config else MISSING
        line_end = lines[template.line - 1][len(template.text):]
        if new_row:
            appended.append(_with_cells(template, texts) + (line_end or "\n"))
        else:
            lines[template.line - 1] = _with_cells(template, texts) + line_end
            template.text = lines[template.line - 1][: len(lines[template.line - 1]) - len(line_end)]
            template.cells, template.spans = split_row(template.text)
    last = rows[-1].line
    if appended and not lines[last - 1].endswith("\n"):
        lines[last - 1] += "\n"
    lines[last:last] = appended
    return "".join(lines)


def update_environment(text: str, gpu: str, sdk: str, release: str) -> str:
    """``text`` with a ``| gpu | sdk | release |`` row above the environment table's first row,
    unless a row already names that card, SDK and release."""
    from modelzoo.catalogue.markdown import is_environment

    table = next((t for t in tables(text) if is_environment(t)), None)
    if table is None or not table.rows:
        return text
    for row in table.rows:
        if len(row.cells) >= 3 and _same(row.cells[0], gpu) and versions.same(row.cells[1], sdk) \
                and row.cells[2] == release:
            return text
    lines = text.splitlines(keepends=True)
    first = table.rows[0]
    line_end = lines[first.line - 1][len(first.text):] or "\n"
    lines.insert(first.line - 1, _with_cells(first, {0: readme_card(gpu), 1: sdk, 2: release}) + line_end)
    return "".join(lines)


def update_model_info(text: str, entry_line: int, gpu: str, sdk: str) -> str:
    """model_info.json with the entry at ``entry_line`` (its ``"model_name"`` line) given
    ``latest_gpgpu``/``latest_sdk`` when ``sdk`` is newer than both its release and latest SDK."""
    lines = text.splitlines(keepends=True)
    start = entry_line - 1
    end = next((i for i in range(start + 1, len(lines)) if '"model_name"' in lines[i]), len(lines))
    fields = {}
    for i in range(start, end):
        match = re.match(r'^(\s*"(release_sdk|latest_sdk|latest_gpgpu)"\s*:\s*")([^"]*)(".*)$', lines[i], re.DOTALL)
        if match:
            fields[match.group(2)] = (i, match)
    known = [fields[k][1].group(3) for k in ("release_sdk", "latest_sdk") if k in fields and fields[k][1].group(3)]
    if "latest_sdk" not in fields or "latest_gpgpu" not in fields \
            or (known and versions.key(sdk) <= versions.key(versions.newest(known) or "")):
        return text
    for key, value in (("latest_sdk", sdk), ("latest_gpgpu", gpu)):
        index, match = fields[key]
        lines[index] = match.group(1) + (readme_card(value) if key == "latest_gpgpu" else value) + match.group(4)
    return "".join(lines)
