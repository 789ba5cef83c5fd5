"""Small inline-SVG line charts for the HTML report (no plotting library, no network).

``line_chart`` draws one or more series as polylines on linear axes with "nice" ticks
(1, 2 or 5 times a power of ten), axis labels, optional horizontal marker lines and an
optional diagonal (the chance line of a ROC plot). Every piece of text is XML-escaped,
so labels may carry run ids, card names or anything else from a record.

The output is an ``<svg>`` element string meant to be embedded in HTML; with
``standalone=True`` it carries the SVG namespace and is a valid SVG document on its own.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape as _html_escape
from math import isfinite
from typing import Optional

from modelzoo.report.cells import finite

# Colour-blind-friendly palette (Okabe-Ito order, blue first).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
MAX_POINTS = 800  # per series; longer series are thinned so a page stays small


def escape(text: object) -> str:
    """XML-escape text for element content and attribute values."""
    return _html_escape(str(text), quote=True)


@dataclass(frozen=True)
class Series:
    """One line. ``dashed`` draws it as a guide (e.g. ideal scaling); ``markers`` puts a dot
    on each point (a few measured points, such as FPS per card count)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    color: Optional[str] = None
    dashed: bool = False
    markers: bool = False


@dataclass(frozen=True)
class HLine:
    """A horizontal marker line, e.g. the whole-job FPS over a per-step throughput curve."""

    y: float
    label: str
    color: str = "#555555"


def _points(series: Series) -> list[tuple[float, float]]:
    """Finite (x, y) pairs, thinned by a stride (keeping the last point) when too many."""
    # floats first (most values, 4,550 a curve): one type check and isfinite, no call of finite()
    pts = [(float(x), float(y)) for x, y in zip(series.x, series.y)
           if (isfinite(x) if type(x) is float else finite(x) is not None)
           and (isfinite(y) if type(y) is float else finite(y) is not None)]
    if len(pts) > MAX_POINTS:
        stride = math.ceil(len(pts) / MAX_POINTS)
        last = pts[-1]
        pts = pts[::stride]
        if pts[-1] != last:
            pts.append(last)
    return pts


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Evenly spaced round tick values covering [lo, hi] (the first and last ticks bound it)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:  # a flat series still needs a visible range
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if raw <= m * magnitude * (1 + 1e-9))
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    count = int(round((end - start) / step))
    return [start + i * step for i in range(count + 1)]


def format_tick(value: float, step: float) -> str:
    """A tick label with as many decimals as the step needs; thousands as 'k'."""
    if abs(value) < step * 1e-6:
        value = 0.0  # no "-0"
    if step >= 1000 and abs(value) >= 10000:
        return f"{value / 1000:g}k"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{value:.{decimals}f}"


def line_chart(series: Sequence[Series], *, title: str, x_label: str, y_label: str,
               width: int = 520, height: int = 300,
               x_range: Optional[tuple[float, float]] = None,
               y_range: Optional[tuple[float, float]] = None,
               y_from_zero: bool = False, hlines: Sequence[HLine] = (),
               diagonal: bool = False, standalone: bool = False, subtitle: str = "",
               x_labels: Optional[Sequence[str]] = None) -> str:
    """An SVG line chart of ``series``; a chart with no finite point says "no data".

    ``subtitle`` is a smaller line under the title (what the chart leaves out, and why).
    ``x_range``/``y_range`` fix an axis (a ROC plot uses (0, 1) for both); otherwise the
    axis spans the data (and ``hlines``), from 0 when ``y_from_zero``. The legend, below
    the plot, lists each series and marker line; it is left out for a single unlabelled
    series. ``x_labels`` names the x positions 0, 1, 2...: a categorical axis such as releases
    (at most 12 labels are written, evenly spaced).
    """
    data = [(s, _points(s)) for s in series]
    data = [(s, pts) for s, pts in data if pts]
    legend = [(s.label, s.color or PALETTE[i % len(PALETTE)], s.dashed)
              for i, (s, _) in enumerate(data) if s.label]
    legend += [(h.label, h.color, True) for h in hlines if finite(h.y) is not None and h.label]
    if len(legend) == 1 and not hlines:
        legend = []

    left, right, top, bottom = 64, 16, 30 + (16 if subtitle else 0), 46
    legend_height = 18 * len(legend) + (6 if legend else 0)
    total_height = height + legend_height
    plot_w, plot_h = width - left - right, height - top - bottom

    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    out = [f'<svg{ns} class="chart" viewBox="0 0 {width} {total_height}" width="{width}" '
           f'height="{total_height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<text class="chart-title" x="{left}" y="18" font-size="13" font-weight="600" '
           f'fill="#1b1f24">{escape(title)}</text>']
    if subtitle:
        out.append(f'<text class="chart-subtitle" x="{left}" y="34" font-size="11" fill="#57606a">'
                   f'{escape(subtitle)}</text>')

    if not data:
        out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#f6f8fa" '
                   f'stroke="#d0d7de"/>')
        out.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" font-size="12" '
                   f'text-anchor="middle" fill="#57606a">no data</text>')
        out.append("</svg>")
        return "".join(out)

    xs = [x for _, pts in data for x, _ in pts]
    ys = [y for _, pts in data for _, y in pts] + [h.y for h in hlines if finite(h.y) is not None]
    if x_labels:
        stride = max(1, math.ceil(len(x_labels) / 12))
        x_ticks = [float(i) for i in range(0, len(x_labels), stride)]
        x_lo, x_hi = 0.0, float(max(len(x_labels) - 1, 1))
    elif x_range:
        x_ticks = nice_ticks(*x_range)
        x_lo, x_hi = x_range
    else:
        x_ticks = nice_ticks(min(xs), max(xs))
        x_lo, x_hi = x_ticks[0], x_ticks[-1]
    if y_range:
        y_ticks = nice_ticks(*y_range)
        y_lo, y_hi = y_range
    else:
        y_ticks = nice_ticks(min(ys + [0.0]) if y_from_zero else min(ys), max(ys))
        y_lo, y_hi = y_ticks[0], y_ticks[-1]
    x_ticks = [t for t in x_ticks if x_lo - 1e-12 <= t <= x_hi + 1e-12]
    y_ticks = [t for t in y_ticks if y_lo - 1e-12 <= t <= y_hi + 1e-12]
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    y_step = y_ticks[1] - y_ticks[0] if len(y_ticks) > 1 else 1.0

    def px(x: float) -> float:
        return left + (x - x_lo) / ((x_hi - x_lo) or 1.0) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y_lo) / ((y_hi - y_lo) or 1.0) * plot_h

    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#ffffff" '
               f'stroke="#d0d7de"/>')
    for t in y_ticks:
        y = py(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   f'stroke="#eaeef2"/>')
        out.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" '
                   f'stroke="#57606a"/>')
        out.append(f'<text x="{left - 7}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                   f'fill="#57606a">{escape(format_tick(t, y_step))}</text>')
    for t in x_ticks:
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" '
                   f'stroke="#eaeef2"/>')
        out.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" '
                   f'stroke="#57606a"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 17}" font-size="11" text-anchor="middle" '
                   f'fill="#57606a">{escape(x_labels[int(t)] if x_labels else format_tick(t, x_step))}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="12" '
               f'text-anchor="middle" fill="#1b1f24">{escape(x_label)}</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="12" text-anchor="middle" '
               f'fill="#1b1f24" transform="rotate(-90 14 {top + plot_h / 2:.1f})">'
               f'{escape(y_label)}</text>')

    # Deterministic id (same input, same page); identical charts share an identical clip.
    digest = hashlib.sha1(repr((title, width, height, [p for _, p in data])).encode()).hexdigest()
    clip = f"clip-{digest[:12]}"
    out.append(f'<defs><clipPath id="{clip}"><rect x="{left}" y="{top}" width="{plot_w}" '
               f'height="{plot_h}"/></clipPath></defs>')
    out.append(f'<g clip-path="url(#{clip})">')
    if diagonal:
        out.append(f'<line x1="{px(x_lo):.1f}" y1="{py(y_lo):.1f}" x2="{px(x_hi):.1f}" '
                   f'y2="{py(y_hi):.1f}" stroke="#8c959f" stroke-dasharray="4 4"/>')
    for h in hlines:
        if finite(h.y) is not None:
            out.append(f'<line class="hline" x1="{left}" y1="{py(h.y):.1f}" x2="{left + plot_w}" '
                       f'y2="{py(h.y):.1f}" stroke="{escape(h.color)}" stroke-width="1.5" '
                       f'stroke-dasharray="6 4"/>')
    for i, (s, pts) in enumerate(data):
        color = escape(s.color or PALETTE[i % len(PALETTE)])
        if len(pts) == 1:
            x, y = pts[0]
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
            continue
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(f'<polyline class="series" points="{coords}" fill="none" stroke="{color}" '
                   f'stroke-width="{1.5 if s.dashed else 2.5}"{dash} stroke-linejoin="round" '
                   f'stroke-linecap="round"><title>{escape(s.label)}</title></polyline>')
        if s.markers:
            out.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{color}"/>' for x, y in pts)
    out.append("</g>")

    for i, (label, color, dashed) in enumerate(legend):
        y = height + 4 + 18 * i
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(f'<line x1="{left}" y1="{y + 5}" x2="{left + 22}" y2="{y + 5}" '
                   f'stroke="{escape(color)}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{left + 28}" y="{y + 9}" font-size="11" fill="#1b1f24">'
                   f"{escape(label)}</text>")
    out.append("</svg>")
    return "".join(out)
