"""SDK and release versions compared as versions: ``4.10.0`` after ``4.3.0``, ``25.03`` after ``24.12``."""

from __future__ import annotations

import re
from typing import Optional


def parse(text: str) -> Optional[tuple[int, ...]]:
    """``'4.2.0'`` -> (4, 2, 0), ``'V2.2'`` -> (2, 2); None when it is not dotted numbers."""
    match = re.fullmatch(r"\s*[vV]?(\d+(?:\.\d+)*)\s*", str(text))
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def key(text: str) -> tuple:
    """A sort key: versions in numeric order, trailing zeros ignored (4.2 == 4.2.0), then anything else."""
    parsed = parse(text)
    if parsed is None:
        return (1, (), str(text))
    trimmed = list(parsed)
    while len(trimmed) > 1 and trimmed[-1] == 0:
        trimmed.pop()
    return (0, tuple(trimmed), "")


def same(a: str, b: str) -> bool:
    """Equal as versions (4.2 == 4.2.0); a text that is no version (``dev-only``) only equals itself."""
    return key(a) == key(b) if parse(a) is not None else str(a).strip() == str(b).strip()


def newest(texts) -> Optional[str]:
    texts = [t for t in texts if parse(t) is not None]
    return max(texts, key=key) if texts else None


def oldest(texts) -> Optional[str]:
    texts = [t for t in texts if parse(t) is not None]
    return min(texts, key=key) if texts else None
