"""One README cell's numbers and what they mean.

The zoo writes a result cell in many ways; each is read into :class:`Value` items (a
label, a number, its ``+-`` spread, its unit, and whatever text followed):

- ``0.98900+-0.00642``, ``0.9865±0.01``, ``83.16%``, ``0.0495(checkpoint 81)``, ``4.79@cer``
- ``5.02 s/it``, ``6490 samples/sec``, ``ips: 11.24631 samples/s``, ``mAP: 0.5654``
- ``Acc@1=76.02,FPS=330,Time=4d3h，BatchSize=280`` (full-width comma too), ``Acc@1 76.644     fps 1049``
- ``128\\*8`` / ``128*8``: a per-card figure on 8 cards (the extended table's power and memory)

A card cell (``BI-V100 x8``, ``BI-V100 ×8``, ``BI-v100x8``, ``BI 100 × 8``, ``1x8``, ``32x8``)
is read by :func:`card`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_UNITS = (r"%|s/it|s/step|it/s|samples/s(?:ec)?|sequences/s(?:ec)?|tokens/s(?:ec)?|tokens/s/gpu|img/s|"
          r"images/s(?:ec)?|imgs/s|ms|s")
_VALUE = re.compile(rf"(?P<num>{NUMBER})(?:\s*(?:\+-|±|\+/-)\s*(?P<std>{NUMBER}))?\s*(?P<unit>(?:{_UNITS})(?![\w/]))?")
_PAIR_SPLIT = re.compile(r"\s*[,，;；]\s*")
_LABELLED = re.compile(r"^(?P<label>[A-Za-z][\w@.()\-/ ]*?)\s*[=:：]\s*(?P<rest>.+)$")
_SEPARATED = re.compile(rf"(?P<label>[A-Za-z'][^=:：]*?)\s*[=:：]\s*(?P<num>{NUMBER})\s*(?P<unit>%)?")
_SPACED = re.compile(rf"(?P<label>[A-Za-z'][\w@.'()\-]*)(?:\s*[=:：]\s*|\s+)(?P<num>{NUMBER})\s*(?P<unit>%)?")
_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?(?:(?P<s>\d+)s)?$")
_PER_CARD = re.compile(rf"^(?P<num>{NUMBER})\s*\\?[*x×]\s*(?P<cards>\d+)$")
_CARD = re.compile(r"^(?P<maker>BI|NV|MR)[\s-]*(?P<v>[Vv])?\s*(?P<model>\d+\w*?)\s*(?:[x×*]\s*(?P<n>\d+))?$",
                   re.IGNORECASE)
_NODES = re.compile(r"^(?P<nodes>\d+)\s*[x×*]\s*(?P<n>\d+)$")

THROUGHPUT_WORDS = ("fps", "ips", "qps", "tps", "throughput", "speed", "performance", "samples_per_second",
                    "samples/s", "tokens/s", "it/s", "s/it", "seconds per iteration", "samples/sec",
                    "per_second", "per second", "persec")
_TIME_WORDS = ("time",)
_BATCH_WORDS = ("batchsize", "batch_size", "batch size", "bs")


@dataclass
class Value:
    label: str                   # '' when the cell is one bare number (its column names it)
    number: float
    text: str                    # the number as written ('0.98900'), for write-back
    std: Optional[float] = None
    unit: str = ""
    note: str = ""               # text after the number: 'checkpoint 81', '@cer'
    per_cards: Optional[int] = None  # '128*8': 128 per card on 8 cards


def label_key(label: str) -> str:
    """A metric's key from its label: ``LFW_Accuracy`` -> ``lfw_accuracy``, ``Acc@1`` -> ``acc@1``."""
    label = label.replace("（", "(").replace("）", ")").strip().lower()
    return re.sub(r"\s+", "_", label)


def match_key(label: str) -> str:
    """Letters and digits only: how a README label meets a record's metric (``Acc@1`` ~ ``acc1``)."""
    return re.sub(r"[^a-z0-9]", "", label.lower())


def meaning(label: str) -> str:
    """``throughput``, ``time``, ``batch_size`` or ``metric`` for a cell label or column title."""
    key = label.lower().strip()
    if any(w == key or w in key.split() or w in key for w in THROUGHPUT_WORDS if len(w) > 3) or \
            re.search(r"(^|[\s_(])(fps|ips|qps|tps)([\s_)]|$)", key):
        return "throughput"
    if key in _TIME_WORDS:
        return "time"
    if key.replace(" ", "") in _BATCH_WORDS or key in _BATCH_WORDS:
        return "batch_size"
    return "metric"


def duration_seconds(text: str) -> Optional[float]:
    """``4d3h`` -> 356400, ``12h43m`` -> 45780; None when it is not a duration."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groupdict().values()):
        return None
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    return float(parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"])


def bare(text: str) -> Optional[Value]:
    """A cell that is one number, with its spread, unit and trailing note; None otherwise."""
    text = re.sub(r"\s*/\s*", "/", text.replace("\\*", "*").strip())
    per_card = _PER_CARD.match(text)
    if per_card:
        return Value("", float(per_card["num"]), per_card["num"], per_cards=int(per_card["cards"]))
    match = _VALUE.match(text)
    if not match:
        return None
    rest = text[match.end():].strip()
    if rest and not (rest.startswith(("(", "@", "（")) or re.match(r"^[a-zA-Z /]+$", rest)):
        return None  # '0.886/0.860' or '1.0 2.0': more than one number
    if rest and re.match(r"^[a-zA-Z /]+$", rest) and not match["unit"]:
        unit, note = rest.replace(" ", ""), ""      # '6490 samples/sec', '1.5984 s / it'
    else:
        unit, note = match["unit"] or "", rest.strip("()（）@ ")
    return Value("", float(match["num"]), match["num"], float(match["std"]) if match["std"] else None,
                 unit.strip(), note)


def labelled(text: str) -> Optional[list[Value]]:
    """A cell of labelled numbers (``Acc@1=76.02,FPS=330,Time=4d3h``, ``mAP: 0.5654``,
    ``Acc@1 76.644 fps 1049``); a duration keeps its text in ``note``; None when not that."""
    values: list[Value] = []
    for part in _PAIR_SPLIT.split(text.replace("\\*", "*").strip()):
        if not part:
            continue
        items = _items(part)
        if items:
            values.extend(items)
            continue
        pair = _LABELLED.match(part)
        if pair:
            label, rest = pair["label"].strip(), pair["rest"].strip()
            seconds = duration_seconds(rest) if meaning(label) == "time" else None
            if seconds is not None:
                values.append(Value(label, seconds, rest, unit="s", note=rest))
                continue
            value = bare(rest)
            if value is None:
                return None
            value.label = label.strip("'\" ")
            values.append(value)
            continue
        return None
    return values or None


def _items(part: str) -> Optional[list[Value]]:
    """``Accuracy @1 = 0.5633 Accuracy @ 5 = 0.7964`` or ``Prec@1 76.216   fps:83.11``: labelled numbers
    without commas; None unless they cover the whole text."""
    for pattern in (_SEPARATED, _SPACED):
        found = list(pattern.finditer(part))
        if not found or "".join(m.group(0) for m in found).replace(" ", "") != part.replace(" ", ""):
            continue
        if pattern is _SEPARATED and any(re.search(r"\d\.\d", m["label"]) for m in found):
            continue  # a number inside a label: the spaced form reads it
        return [Value(m["label"].strip(" '"), float(m["num"]), m["num"], unit=m["unit"] or "") for m in found]
    return None


def card(text: str) -> Optional[tuple[Optional[str], Optional[int], Optional[int]]]:
    """(card, card count, nodes) of a GPU cell: ``BI-V100 x8`` -> ('BI-V100', 8, None),
    ``32x8`` -> (None, 256, 32), ``BI-V150`` -> ('BI-V150', None, None); None when not a card."""
    text = text.strip()
    nodes = _NODES.match(text)
    if nodes:
        return None, int(nodes["nodes"]) * int(nodes["n"]), int(nodes["nodes"])
    match = _CARD.match(text)
    if not match:
        return None
    name = f"{match['maker'].upper()}-V{match['model']}"
    return name, int(match["n"]) if match["n"] else None, None
