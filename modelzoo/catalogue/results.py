"""A README results table read into reference rows, or the reason a row was not understood.

Each column gets a role from its title (:func:`column_role`): the card (``GPU``, ``GPUs``,
``Card Type``), a card count (``num_gpus``), a configuration column whose cells carry labelled
numbers (``FP32``, ``AMP+NHWC``: one reference row per column), a column per card count
(``Single Card``, ``8 Cards``), a throughput (``FPS``, ``IPS``, ``train_samples_per_second``,
``Performance``), the extended table's ``Configuration (x denotes number of GPUs)``
(``SDK V2.2,bs:512,8x,AMP``), its power and memory (``128*8``: per card), text that names
the configuration (``peft``, ``Stage``, ``Type``), or a metric named by its title.

A row is parsed when it yields at least one number with a known meaning (a throughput or a
named metric). Everything else is listed with its reason, never dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from modelzoo.catalogue import values
from modelzoo.catalogue.markdown import Row, Table

_CARD_TITLES = {"gpu", "gpus", "guss", "card type", "card", "gpu type", "gpu model", "device"}
_COUNT_TITLES = {"num_gpus", "gpu num", "gpus num", "#gpus", "num gpus", "cards", "gpu_num"}
_TEXT_TITLES = {"peft", "type", "stage", "split", "method", "network", "datasets", "dataset", "toolbox", "task",
                "backbone", "prec.", "mode", "model", "location", "teacher", "student", "config",
                "metric", "phase", "arch", "setting", "conf", "fp16", "amp", "bf16", "lr schd", "style",
                "lr_type", "opt-level"}
# How the run was set up, not what it gave: kept under 'setup' by title, as written.
_SETUP_TITLES = {"crop size", "crop_size", "size", "test size", "lr schd", "lr_type", "training iters", "iters",
                 "train epochs", "epochs", "epoch", "total epochs", "gbs", "dp", "tp", "pp", "learning rate", "lr",
                 "nodes", "no.", "#"}
_TITLE_CARDS = re.compile(r"\s*\((?:BI|GPU|BI-V\d+)?\s*[x×]\s*(\d+)\)\s*$", re.IGNORECASE)
_CONFIG_TITLE = re.compile(r"^(fp32|fp16|bf16|tf32|int8|amp(\+nhwc)?|fp32\+nhwc|nhwc|o[0-3]|finetune|lora|"
                           r"p-tuning v2|qlora|full)$", re.IGNORECASE)
_PER_COUNT_TITLE = re.compile(r"^(single|one|\d+)\s*cards?$|^x\s*(\d+)$", re.IGNORECASE)
_EXTENDED_CONFIG = re.compile(r"configuration", re.IGNORECASE)
_EMPTY = {"", "-", "—", "/", "n/a", "na", "none", "todo", "tbd"}


@dataclass
class Reference:
    """One published result: a card and count, a configuration, its throughput and metrics."""
    gpu: Optional[str]
    cards: Optional[int]
    line: int
    config: str = ""
    fps: Optional[float] = None
    fps_unit: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    time: str = ""
    batch_size: Optional[int] = None
    nodes: Optional[int] = None
    sdk: str = ""
    per_card: dict[str, float] = field(default_factory=dict)   # power_w, memory_gb: per card
    setup: dict[str, str] = field(default_factory=dict)        # crop size, epochs, iterations: as written
    criteria: str = ""
    model_cell: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def parsed(self) -> bool:
        return self.fps is not None or bool(self.metrics)


@dataclass
class Skipped:
    line: int
    reason: str


@dataclass
class TableResult:
    line: int                                   # the header's line
    titles: list[str]
    references: list[Reference] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)   # rows (or cells) not understood, with reasons
    rows: int = 0                               # result rows (not empty ones)
    parsed_rows: int = 0


def _title(text: str) -> str:
    return " ".join(text.replace("（", "(").replace("）", ")").replace("\\", "").split())


def column_role(title: str, cells: list[str]) -> str:
    """What a column holds, from its title and its cells."""
    key = _title(title).lower()
    if key in _CARD_TITLES or (key.startswith("gpu") and any(values.card(c) for c in cells)):
        return "card"
    if key in _COUNT_TITLES:
        return "count"
    if key in _SETUP_TITLES:
        return "setup"
    if key.startswith("convergence criteria"):
        return "criteria"
    if _EXTENDED_CONFIG.match(key):
        return "extended_config"
    if key.startswith("power"):
        return "power"
    if key.startswith("memory"):
        return "memory"
    if _PER_COUNT_TITLE.match(key):
        return "per_count"
    if _CONFIG_TITLE.match(key) and any(values.labelled(c) for c in cells):
        return "config_cell"
    if values.meaning(key) == "throughput" and key not in _TEXT_TITLES:
        return "value"
    if key in _TEXT_TITLES or all(_is_text(c) and not re.search(r"\d\.\d", c) for c in cells):
        return "text"
    return "value"


def is_extended(table: Table) -> bool:
    """The zoo's extended table (``| Convergence criteria | Configuration (x denotes number of GPUs) | ...``)."""
    return bool(table.titles) and table.titles[0].lower().startswith("convergence criteria")


def has_card_column(table: Table) -> bool:
    """A column of cards (``GPU``: ``BI-V100 x8``): a results table wherever it stands."""
    return any(column_role(title, [r.cells[i] for r in table.rows if i < len(r.cells)]) == "card"
               for i, title in enumerate(table.titles))


def _is_text(cell: str) -> bool:
    return values.bare(cell) is None and values.labelled(cell) is None and values.card(cell) is None


def read_table(table: Table) -> TableResult:
    """Reference rows of one results table."""
    titles = [_title(t) for t in table.titles]
    result = TableResult(table.header.line, titles)
    body = [r for r in table.rows if any(c.strip() for c in r.cells)]
    result.skipped.extend(Skipped(r.line, "empty row") for r in table.rows if r not in body)
    roles = [column_role(t, [r.cells[i] for r in body if i < len(r.cells)]) for i, t in enumerate(titles)]
    for row in body:
        result.rows += 1
        if len(row.cells) != len(titles):
            result.skipped.append(Skipped(row.line, f"{len(row.cells)} cells under {len(titles)} columns"))
            if len(row.cells) < len(titles):
                continue
        references, problems = _read_row(row, titles, roles)
        parsed = [r for r in references if r.parsed]
        result.skipped.extend(Skipped(row.line, p) for p in problems)
        if parsed:
            result.parsed_rows += 1
            result.references.extend(parsed)
        elif not problems:
            result.skipped.append(Skipped(row.line, "no number with a known meaning in the row"))
    return result


def _read_row(row: Row, titles: list[str], roles: list[str]) -> tuple[list[Reference], list[str]]:
    base = Reference(gpu=None, cards=None, line=row.line)
    split: list[tuple[str, str, int]] = []     # (title, cell, index) of config / per-count columns
    problems: list[str] = []
    config_text: list[str] = []
    for index, (title, role) in enumerate(zip(titles, roles)):
        cell = row.cells[index].strip()
        if cell.lower() in _EMPTY:
            continue
        if index == 0 and role in ("text", "value") and _is_text(cell):
            base.model_cell = cell
            named = re.search(r"\(([^()]+)\)$", cell)   # 'Facenet (BI-V150 x8)': a card the table has no column for
            if named and values.card(named.group(1)) and values.card(named.group(1))[0]:
                _put_card(base, named.group(1), title, problems)
        elif role != "card" and values.card(cell) and values.card(cell)[0]:
            _put_card(base, cell, title, problems)     # a card in a shifted column ('| DCNv2 | BI-V100 x8 |')
            base.notes.append(f"card {cell!r} read from column {title!r}")
        elif role == "card":
            _put_card(base, cell, title, problems)
        elif role == "count":
            count = values.bare(cell)
            if count and count.number.is_integer() and count.number > 0:
                base.cards = int(count.number)
            else:
                problems.append(f"card count {cell!r} under {title!r} is not a whole number")
        elif role in ("config_cell", "per_count"):
            split.append((title, cell, index))
        elif role == "criteria":
            base.criteria = cell
        elif role == "extended_config":
            _put_extended_config(base, cell, problems)
        elif role in ("power", "memory"):
            value = values.bare(cell)
            if value is None:
                problems.append(f"{cell!r} under {title!r} not understood")
            else:
                base.per_card["power_w" if role == "power" else "memory_gb"] = value.number
                if value.per_cards and base.cards is None:
                    base.cards = value.per_cards
        elif role == "setup":
            if title.lower() == "nodes" and cell.isdigit():
                base.nodes = int(cell)
            elif title.lower() not in ("no.", "#"):
                base.setup[values.label_key(title)] = cell
        elif role == "text":
            if cell.lower() in ("true", "false"):
                config_text.append(f"{title}={cell}")
            elif index > 0:
                config_text.append(cell)
        else:
            counted = _TITLE_CARDS.search(title)   # 'FPS (BI x 8)', 'mIoU (BI x 4)': the count is in the title
            if counted and base.cards is None:
                base.cards = int(counted.group(1))
            _put_value(base, _TITLE_CARDS.sub("", title) if counted else title, cell, problems)
    base.config = ", ".join([*config_text, *([base.config] if base.config else [])])
    if not split:
        return [base], problems
    references = []
    for title, cell, _index in split:
        ref = Reference(**{**base.__dict__, "metrics": dict(base.metrics), "per_card": dict(base.per_card),
                           "notes": list(base.notes), "setup": dict(base.setup)})
        per_count = _PER_COUNT_TITLE.match(title.lower())
        if per_count:
            count = per_count.group(1) or per_count.group(2)
            ref.cards = 1 if count.lower() in ("single", "one") else int(count)
            _put_value(ref, "throughput", cell, problems, title_is_unit=False)
        else:
            ref.config = ", ".join(p for p in (base.config, title) if p)
            _put_value(ref, title, cell, problems)
        references.append(ref)
    return references, problems


def _put_card(ref: Reference, cell: str, title: str, problems: list[str]) -> None:
    parsed = values.card(cell)
    if parsed is None:
        count = values.bare(cell)
        if count and count.number.is_integer() and count.number > 0:
            ref.cards = int(count.number)
            return
        problems.append(f"card {cell!r} under {title!r} not understood")
        return
    ref.gpu, cards, ref.nodes = parsed
    if cards is not None:
        ref.cards = cards


def _put_extended_config(ref: Reference, cell: str, problems: list[str]) -> None:
    """``SDK V2.2,bs:512,8x,AMP``: the SDK, batch size, card count and precision."""
    rest = []
    for part in re.split(r"\s*[,，]\s*", cell):
        sdk = re.match(r"^SDK\s*V?(\S+)$", part, re.IGNORECASE)
        batch = re.match(r"^(?:bs|batch\s*size)\s*[:=]?\s*(\d+)$", part, re.IGNORECASE)
        count = re.match(r"^(\d+)\s*[x×]$", part, re.IGNORECASE)
        if sdk:
            ref.sdk = sdk.group(1)
        elif batch:
            ref.batch_size = int(batch.group(1))
        elif count:
            ref.cards = int(count.group(1))
        elif part:
            rest.append(part)
    if rest:
        ref.config = ", ".join(rest)
    if not (ref.sdk or ref.batch_size or ref.cards):
        problems.append(f"configuration {cell!r} not understood")


def _put_value(ref: Reference, title: str, cell: str, problems: list[str], title_is_unit: bool = True) -> None:
    """A value cell: a bare number named by its column, or labelled numbers named by themselves."""
    bare = values.bare(cell)
    items = [bare] if bare is not None else values.labelled(cell)
    if items is None:
        items = _slashed(title, cell)
    if items is None:
        problems.append(f"{cell!r} under {title!r} not understood")
        return
    for item in items:
        label = item.label or title
        role = values.meaning(label) if item.label or title != "throughput" else "throughput"
        if item.unit in ("s/it", "s/step", "it/s", "samples/sec", "samples/s", "sequences/sec", "tokens/s",
                         "img/s", "images/s") and role == "metric" and not item.label:
            role = "throughput"
        if role == "throughput" and ref.fps is not None:   # a second rate ('ips_per_gpu'): a named figure
            ref.metrics[values.label_key(label)] = item.number
        elif role == "throughput":
            ref.fps = item.number
            ref.fps_unit = item.unit or (label if title_is_unit or item.label else "")
        elif role == "time":
            ref.time = item.note or item.text
        elif role == "batch_size" and item.number.is_integer():
            ref.batch_size = int(item.number)
        else:
            key = values.label_key(label)
            if item.note and not item.note[0].isdigit() and " " not in item.note and not item.label \
                    and title.lower() in ("accuracy", "acc"):
                key = values.label_key(item.note)    # '4.79@cer' under Accuracy: the metric is cer
            elif item.note:
                ref.notes.append(f"{key}: {item.note}")
            ref.metrics[key] = item.number
            if item.std is not None:
                ref.metrics[f"{key}_std"] = item.std


def _slashed(title: str, cell: str) -> Optional[list[values.Value]]:
    """``0.886/0.860/0.753`` under ``Easy/Medium/Hard Set``: one number per title part."""
    parts, names = cell.split("/"), re.split(r"\s*/\s*", title)
    if len(parts) < 2 or len(parts) != len(names):
        return None
    items = [values.bare(p) for p in parts]
    if any(i is None for i in items):
        return None
    for item, name in zip(items, names):
        item.label = name.strip()
    return items
