"""The HTML view: the report model's tables (autoescaped) with inline SVG charts.

Per model: FPS against card count with the ideal-scaling line, per-step throughput of
the main-table runs, and every curve the records declare (``curve_specs``), overlaid.
Per run: throughput, loss, its declared curves (title, axis labels, caption metric),
power over the timed window (``curves.power``: ``t``, ``watts``, summed over ``devices``,
from :meth:`modelzoo.measure.power.PowerReport.curve`) and the metric against wall time
(``curves.eval``) with the target line. No curve or metric name is special to the
report beyond the core's own curves (throughput, loss, power, eval).
"""

from __future__ import annotations

import json
from statistics import fmean
from typing import Any, Optional

from markupsafe import Markup

from modelzoo import __version__
from modelzoo.contract.api import CurveSpec
from modelzoo.report import svg
from modelzoo.report.cells import MISSING, finite, fixed, text
from modelzoo.report.model import cpu_label, torch_build
from modelzoo.report.rules import main_key, unit_header
from modelzoo.report.runs import Run
from modelzoo.report.sections import ModelSection, Report
from modelzoo.report.writers import FPS_DEFINITION, README_NOTE, render_template

CORE_CURVES = ("throughput", "loss", "power", "eval")  # written by the trainer for every model
THROUGHPUT_KEYS = ("fps", "fps_per_card", "compute_fps", "step_ms_p50", "step_ms_p90", "input_bound_ratio",
                   "fps_stability")
# env keys shown under Devices or Software; the rest are listed as they are
_DEVICE_KEYS = ("gpu", "gpu_count", "gpu_mem_gb", "driver", "sdk", "cpu", "cpu_capability", "cpu_count")
_SOFTWARE_KEYS = ("torch", "cuda", "python", "platform", "release", "git_commit", "git_dirty")


# Per-run charts for this many runs, the main tables' runs first, then the newest: a page of
# thousands of runs stays a few MB and opens at once; `modelzoo report --runs ID` charts any run.
CHARTED_RUNS = 100
OVERVIEW_RUNS = 12  # runs overlaid in a model's overview charts (the newest of its Results runs)


# Full details (every field) for the newest runs and the tables' runs; older runs are one row
# each (an anchor for every link): 18,000 runs' details were 100 MB and 10 s of the report.
DETAILED_RUNS = 300


def render_html(report: Report) -> str:
    shown = {r.run_id for s in report.sections for r in s.main_runs}
    newest = list(reversed(report.runs))  # newest first
    detailed = [r for i, r in enumerate(newest) if i < DETAILED_RUNS or r.run_id in shown]
    # charts (each reads its run's curves from the record file): the tables' runs first, then the newest
    ranked = [r for r in newest if r.run_id in shown] + [r for r in newest if r.run_id not in shown]
    charted = {r.run_id for r in ranked[:CHARTED_RUNS]}
    runs = [run_view(r, charts=r.run_id in charted) for r in detailed]
    older = older_runs_html([r for i, r in enumerate(newest) if not (i < DETAILED_RUNS or r.run_id in shown)])
    overviews = {s.model: overview_charts(s) for s in report.sections}
    return render_template(
        "index.html.j2", autoescape=True, report=report, runs=runs, overviews=overviews, fps_definition=FPS_DEFINITION, readme_note=README_NOTE,
        fmt=fixed, version=__version__, charted_runs=CHARTED_RUNS, kv_html=kv_html, older_runs=older,
        detailed_runs=DETAILED_RUNS, history=report.history)


def older_runs_html(runs: list[Run]) -> Markup:
    """One table row per run (newest first), each row the run's anchor."""
    rows = "".join(
        f'<tr id="run-{_escape(r.run_id)}"><td><code>{_escape(r.run_id)}</code></td><td>{_escape(r.title)}</td>'
        f'<td>{_escape(r.gpu_cell)}</td><td>{_escape(r.profile)}</td><td>{_escape(r.release or MISSING)}</td>'
        f'<td><span class="badge status-{_escape(r.status)}">{_escape(r.status)}</span></td>'
        f'<td class="num">{_escape(fixed(r.fps))}</td><td>{_escape(r.started)}</td></tr>\n' for r in runs)
    return Markup(rows)


def kv_html(title: str, pairs: list[tuple[str, str]]) -> Markup:
    """A run's label/value table (escaped here: thousands of runs render in a fraction of
    the time a template macro per table takes)."""
    rows = "".join(f"<tr><th>{_escape(k)}</th><td>{_escape(v)}</td></tr>\n" for k, v in pairs) or "<tr><td>-</td></tr>\n"
    return Markup(f'<div>\n<h4>{_escape(title)}</h4>\n<table class="kv"><tbody>\n{rows}</tbody></table>\n</div>\n')


# markupsafe's entities, so that a value reads the same here and through the template
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def _escape(value: object) -> str:
    """HTML-escaped as the template's autoescape does, as a plain string (a Markup is escaped
    too). Most values hold no special character: checked first, five times cheaper than
    markupsafe's escape, which builds a Markup each call (265,000 calls at 18,000 runs)."""
    text = str(value)
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return text.translate(_ENTITIES)
    return text


# --- charts of a model ------------------------------------------------------------------

def overview_charts(section: ModelSection) -> list[Markup]:
    charts = []
    scaling = _scaling_chart(section)
    if scaling:
        charts.append(scaling)
    newest = {r.run_id for r in sorted(section.main_runs, key=lambda r: (r.started, r.run_id))[-OVERVIEW_RUNS:]}
    runs = [r for r in section.main_runs if r.run_id in newest]  # 300 overlaid lines are one blot
    left_out = len(section.main_runs) - len(runs)
    subtitle = f"the newest {len(runs)} of the {len(section.main_runs)} Results runs" if left_out else ""
    throughput = [svg.Series(f"{r.gpu_cell} · {r.profile} · {r.run_id}", *_xy(r.curves.get("throughput"), "step", "fps"))
                  for r in runs if _has_xy(r.curves.get("throughput"), "step", "fps")]
    if throughput:
        charts.append(Markup(svg.line_chart(throughput, title=f"{section.title}: throughput per step",
                                            x_label="step", y_label=section.unit, y_from_zero=True,
                                            subtitle=subtitle)))
    for spec in _curve_specs(runs):
        series = [svg.Series(f"{r.gpu_cell} · {r.run_id}{_caption(r, spec, ' ')}",
                             *_xy(r.curves.get(spec.name), spec.x, spec.y))
                  for r in runs if _has_xy(r.curves.get(spec.name), spec.x, spec.y)]
        if series:
            charts.append(Markup(svg.line_chart(series, title=f"{section.title}: {spec.title}",
                                                x_label=spec.x_label or spec.x, y_label=spec.y_label or spec.y,
                                                subtitle=subtitle)))
    return charts


def _scaling_chart(section: ModelSection) -> Optional[Markup]:
    """FPS against card count per card x profile (x config), with N x FPS(1 card) dashed."""
    groups: dict[tuple, list[Run]] = {}
    for run in section.main_runs:
        gpu, _, profile, column = main_key(run, section.config_columns)
        if run.fps:
            groups.setdefault((run.gpu, profile, column), []).append(run)
    series = []
    for index, ((gpu, profile, column), runs) in enumerate(sorted(groups.items(), key=lambda g: str(g[0]))):
        if len({r.cards for r in runs}) < 2:
            continue
        runs.sort(key=lambda r: r.cards)
        color = svg.PALETTE[index % len(svg.PALETTE)]
        label = " · ".join(p for p in (gpu, profile, column) if p)
        series.append(svg.Series(label, [r.cards for r in runs], [r.fps for r in runs], color=color, markers=True))
        one = next((r.fps for r in runs if r.cards == 1), None)
        if one:
            cards = [r.cards for r in runs]
            series.append(svg.Series(f"ideal: N x {label} 1-card", cards, [n * one for n in cards], color=color,
                                     dashed=True))
    if not series:
        return None
    return Markup(svg.line_chart(series, title=f"{section.title}: {unit_header(section.unit)} per card count",
                                 x_label="cards", y_label=section.unit, y_from_zero=True))


def _curve_specs(runs: list[Run]) -> list[CurveSpec]:
    """The newest run's curve specs, then older-only ones (by name)."""
    specs: dict[str, CurveSpec] = {}
    for run in reversed(runs):
        for spec in run.curve_specs:
            specs.setdefault(spec.name, spec)
    return list(specs.values())


def _caption(run: Run, spec: CurveSpec, before: str) -> str:
    """``(auc 0.9980)``: the spec's caption metric, titled as the metric column when there is one."""
    if not spec.caption_metric:
        return ""
    value = finite(run.metrics.get(spec.caption_metric))
    if value is None:
        return ""
    column = next((c for c in run.columns if c.key == spec.caption_metric), None)
    try:
        shown = column.format.format(value) if column else f"{value:.4f}"
    except ValueError:
        shown = f"{value:g}"
    return f"{before}({column.title if column else spec.caption_metric} {shown})"


def _has_xy(curve: Any, x: str, y: str) -> bool:
    return (isinstance(curve, dict) and isinstance(curve.get(x), list) and isinstance(curve.get(y), list)
            and bool(curve[x]) and bool(curve[y]))


def _xy(curve: dict, x: str, y: str) -> tuple[list, list]:
    return list(curve[x]), list(curve[y])


# --- charts of a run --------------------------------------------------------------------

def run_charts(run: Run) -> list[Markup]:
    charts = []
    curves, unit = run.curves, run.throughput_unit
    if _has_xy(curves.get("throughput"), "step", "fps"):
        hlines = []
        if run.fps is not None:
            hlines.append(svg.HLine(run.fps, f"whole-job FPS {run.fps:.2f}", "#d55e00"))
        if run.compute_fps is not None:
            hlines.append(svg.HLine(run.compute_fps, f"compute-only FPS {run.compute_fps:.2f}", "#009e73"))
        charts.append(svg.line_chart([svg.Series("per-step FPS", *_xy(curves["throughput"], "step", "fps"))],
                                     title="Throughput over the run", x_label="step", y_label=unit,
                                     y_from_zero=True, hlines=hlines))
    if _has_xy(curves.get("loss"), "step", "loss"):
        charts.append(svg.line_chart([svg.Series("", *_xy(curves["loss"], "step", "loss"))],
                                     title="Training loss", x_label="step", y_label="loss"))
    declared = set()
    for spec in run.curve_specs:
        declared.add(spec.name)
        if _has_xy(curves.get(spec.name), spec.x, spec.y):
            charts.append(svg.line_chart([svg.Series("", *_xy(curves[spec.name], spec.x, spec.y))],
                                         title=spec.title + _caption(run, spec, " "),
                                         x_label=spec.x_label or spec.x, y_label=spec.y_label or spec.y))
    power = _power_chart(run)
    if power:
        charts.append(power)
    progress = _eval_chart(run)
    if progress:
        charts.append(progress)
    for name, curve in curves.items():  # a curve nobody declared: first list is x, the others y
        if name in CORE_CURVES or name in declared or not isinstance(curve, dict):
            continue
        keys = [k for k, v in curve.items() if isinstance(v, list) and v]
        if len(keys) >= 2:
            series = [svg.Series(k, curve[keys[0]], curve[k]) for k in keys[1:]]
            charts.append(svg.line_chart(series, title=str(name), x_label=keys[0], y_label=str(name)))
    return [Markup(c) for c in charts]


def _power_chart(run: Run) -> Optional[str]:
    curve = run.curves.get("power")
    if not _has_xy(curve, "t", "watts"):
        return None
    # the mean of the plotted samples, so the line is in the curve's own terms (per card or summed)
    watts = [w for w in (finite(v) for v in curve["watts"]) if w is not None]
    hlines = [svg.HLine(fmean(watts), f"mean {fmean(watts):.0f} W", "#d55e00")] if watts else []
    devices = curve.get("devices")
    label = f"power, sum of {devices} devices" if isinstance(devices, int) and devices > 1 else "power"
    return svg.line_chart([svg.Series(label, *_xy(curve, "t", "watts"))], title="Power over the timed window",
                          x_label="seconds into the timed window", y_label="W", y_from_zero=True, hlines=hlines)


def _eval_chart(run: Run) -> Optional[str]:
    """The target metric (else the first metric column) at each evaluation, against wall time."""
    points = run.curves.get("eval")
    if not isinstance(points, list):
        return None
    target = run.target or {}
    key = target.get("metric") or (run.columns[0].key if run.columns else None)
    pairs = [(finite(p.get("wall_s")), finite(p.get(key))) for p in points if isinstance(p, dict)]
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
    if not key or not pairs:
        return None
    hours = max(x for x, _ in pairs) >= 2 * 3600
    xs = [x / 3600 if hours else x for x, _ in pairs]
    column = next((c for c in run.columns if c.key == key), None)
    title = column.title if column else str(key)
    goal = finite(target.get("target"))
    hlines, subtitle = [], ""
    if goal is not None and run.synthetic:
        # the zoo's target belongs to its real-data benchmark: drawn on a synthetic run it reads as a goal
        subtitle = f"synthetic data: the real-data target ({goal:g}) is not drawn"
    elif goal is not None:
        hlines.append(svg.HLine(goal, f"target {goal:g}", "#009e73"))
    return svg.line_chart([svg.Series(title, xs, [y for _, y in pairs], markers=True)],
                          title=f"{title} against wall time", x_label="wall time (h)" if hours else "wall time (s)",
                          y_label=title, hlines=hlines, subtitle=subtitle)


# --- a run's details --------------------------------------------------------------------

def run_view(run: Run, charts: bool = True) -> dict:
    """What the run's <details> shows, as label/value pairs grouped by topic (``charts``:
    draw its curves; False leaves them to a report of this run alone)."""
    record, env, metrics = run.record, run.env, run.metrics
    unit = run.throughput_unit
    note = ""
    if run.input_bound_ratio:
        note = (f"Compute-only FPS is {run.input_bound_ratio:.1f}x the end-to-end FPS: the input "
                "pipeline (loading, decoding, augmentation), not the card, is the bottleneck.")
    stability = run.fps_stability or {}
    throughput = [(f"FPS (whole job, {unit})", fixed(run.fps)),
                  ("FPS per card", fixed(finite(metrics.get("fps_per_card")))),
                  ("compute-only FPS", fixed(run.compute_fps)),
                  ("step time p50", _ms(metrics.get("step_ms_p50"))),
                  ("step time p90", _ms(metrics.get("step_ms_p90")))]
    if stability:
        throughput.append(("FPS over repeats", ", ".join(f"{k} {_value(v)}" for k, v in stability.items())))
    git = env.get("git_commit")
    facts = [("status", run.status), ("kind", run.kind), ("model", run.model), ("profile", run.profile),
             ("plugin", _plugin(record.get("plugin"))),
             ("cards / world size", f"{run.cards} / {text(record.get('world_size'))}"),
             ("device", text(run.device)), ("seed", text(record.get("seed"))), ("release", text(run.release)),
             ("git commit", f"{git}{' (dirty)' if env.get('git_dirty') else ''}" if git else MISSING),
             ("started", text(run.started)), ("finished", text(record.get("finished"))),
             ("duration", MISSING if run.duration_s is None else f"{run.duration_s:.1f} s"),
             ("log", text(record.get("log"))), ("checkpoint", text(record.get("checkpoint")))]
    if record.get("resumed_from"):
        facts.append(("resumed from", _value(record["resumed_from"])))
    return {
        "run_id": run.run_id,
        "title": run.title,
        "gpu_cell": run.gpu_cell,
        "status": run.status,
        "synthetic": bool(run.data) and run.synthetic,
        "protocol": run.protocol,
        "fps": fixed(run.fps),
        "started": text(run.started),
        "error": run.error,
        "lost": run.status == "lost",
        "warnings": run.warnings,
        "implausible": run.implausible() if run.status == "success" else [],
        "note": note,
        "throughput": throughput,
        "metrics": [(k, _value(v)) for k, v in metrics.items() if k not in THROUGHPUT_KEYS],
        "run": facts,
        "devices": devices(run),
        "software": software(run),
        "host": [(k, _value(v)) for k, v in _flatten({k: v for k, v in env.items()
                                                      if k not in _DEVICE_KEYS + _SOFTWARE_KEYS})],
        "resources": _resources(run),
        "data": [(k, _value(v)) for k, v in _flatten(run.data)],
        "overrides": [(k, _value(v)) for k, v in _flatten(record.get("overrides") or {})],
        "members": [(f"{(record.get('sweep') or {}).get('key', 'value')}={m.get('value')}",
                     f"{m.get('run_id')} ({m.get('status')}): "
                     + ", ".join(f"{k} {_value(v)}" for k, v in (m.get("metrics") or {}).items()))
                    for m in run.members],
        "config": [(k, _value(v)) for k, v in _flatten(run.config)],
        "charts": run_charts(run) if charts else [],
        "charts_left_out": not charts,
    }


def devices(run: Run) -> list[tuple[str, str]]:
    """What the run ran on: the CPU (and its vector ISA), or the cards, driver and SDK."""
    env = run.env
    if run.on_cpu:
        pairs = [("ran on", f"CPU: {cpu_label(env)}, {run.cards} process{'es' if run.cards != 1 else ''}")]
        if env.get("gpu"):  # the host's cards sat idle; say so rather than list them as used
            pairs.append(("cards on the host (unused)", f"{env['gpu']} x{text(env.get('gpu_count'))}"))
        return pairs
    pairs = [("ran on", f"{run.gpu} x{run.cards}"),
             ("card memory", MISSING if env.get("gpu_mem_gb") is None else f"{_value(env['gpu_mem_gb'])} GB"),
             ("driver", text(env.get("driver"))), ("SDK", text(env.get("sdk"))), ("host CPU", cpu_label(env))]
    return pairs


def software(run: Run) -> list[tuple[str, str]]:
    env = run.env
    return [("torch", torch_build(env)), ("python", text(env.get("python"))),
            ("platform", text(env.get("platform")))]


def _resources(run: Run) -> list[tuple[str, str]]:
    pairs = []
    power = run.resources.get("power")
    if isinstance(power, dict):
        for key in ("source", "avg_w", "peak_w", "energy_j", "j_per_1000_images", "seconds", "reason"):
            if power.get(key) is not None:
                pairs.append((f"power {key}", _value(power[key])))
    memory = run.resources.get("memory")
    if isinstance(memory, dict):
        pairs.append(("memory kind", text(memory.get("kind"))))
        for card in memory.get("per_card") or []:
            if isinstance(card, dict):
                pairs.append((f"memory rank {card.get('rank')}", memory_cell(card, str(memory.get("kind") or ""))))
    return pairs


def memory_cell(card: dict, kind: str) -> str:
    """One rank's peak memory in words: ``allocated 1.21 GB, reserved 1.50 GB`` on a card;
    ``host peak RSS 0.99 GB (no allocator reserve on the host)`` for a CPU run; a value
    the record lacks is named as missing, with the record's reason, never ``- GB``."""
    allocated, reserved = finite(card.get("allocated_gb")), finite(card.get("reserved_gb"))
    kind = str(card.get("kind") or kind)
    reason = str(card.get("reason") or "")
    if kind and not kind.startswith("cuda"):  # a host figure: one number, not a card's two
        shown = f"{kind} {allocated:.2f} GB" if allocated is not None else f"{kind} not measured"
        return shown + (f" ({reason})" if reason else "")
    parts = [f"allocated {allocated:.2f} GB" if allocated is not None else "allocated not measured",
             f"reserved {reserved:.2f} GB" if reserved is not None else "reserved not measured"]
    return ", ".join(parts) + (f" ({reason})" if reason and None in (allocated, reserved) else "")


def _flatten(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if not isinstance(tree, dict):
        return [(prefix, tree)]
    out = []
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.extend(_flatten(value, name))
        else:
            out.append((name, value))
    return out


def _value(value: Any) -> str:
    """A value in a details table, readable: numbers short, lists comma-separated, a
    mapping as ``key: value`` pairs (nested ones are flattened into rows before this)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple, dict)) and not value:
        return "none"
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (str, int, float, bool)) or v is None for v in value):
            return ", ".join(_value(v) for v in value)
        return json.dumps(value, default=str)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(v)}" for k, v in value.items())
    return text(value)


def _ms(value: Any) -> str:
    value = finite(value)
    return MISSING if value is None else f"{value:.1f} ms"


def _plugin(plugin: Any) -> str:
    if isinstance(plugin, dict):
        return f"{plugin.get('name', '-')} {plugin.get('version', '')}".strip()
    return text(plugin)
