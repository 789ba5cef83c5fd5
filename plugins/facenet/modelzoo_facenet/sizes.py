"""Image sizes: a setting is one int (a square) or [height, width]; networks take the same."""

from __future__ import annotations

from modelzoo.contract.api import UserError


def size_of(value) -> tuple[int, int]:
    """A size setting (one int for a square, or [height, width]) as (height, width)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    raise UserError(f"a size must be an int or [height, width], got {value!r}; fix the profile's sizes")


def checked_input(input_size, width: float, network: str, smallest: int = 16) -> tuple[int, int]:
    """A face network's (height, width) input, checked with its channel multiplier ``width``."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    height, width_px = size_of(tuple(input_size) if isinstance(input_size, list) else input_size)
    if min(height, width_px) < smallest:
        raise ValueError(f"{network} needs inputs of {smallest} px or more, got {height}x{width_px}")
    return height, width_px
