"""``modelzoo zoo check --release NEW --baseline OLD``: every cell of NEW against the same cell in OLD.

A cell is (model, profile, card, card count) (:mod:`modelzoo.zoo.history`). Each quantity
of a cell (FPS, the model's metrics, peak memory, power, time to target) is judged as the
mean of its values in NEW against the mean in OLD: for a ratio quantity (all but the
metrics) the geometric mean, judged on a log scale, since its noise multiplies (a busy
neighbour halves FPS). The change allowed is the larger of

- the quantity's default: FPS 5 % (``--max-fps-drop``), a metric its column's ``max_drop``
  / ``max_drop_pct`` else 0.5 % of the base, memory, power and time to target 10 %;
- :data:`NOISE_SIGMAS` standard errors of the difference, ``sqrt(se_old^2 + se_new^2)`` (of the
  logs for a ratio quantity), each
  release's standard error from the cell's several runs in it, else from one run's
  ``--repeat`` windows (``fps_stability``), when both releases have one,

and the verdict line names the rule that set it. A change past it in the worse direction
is a regression, in the better one an improvement. A cell's verdict: ``regression`` (any
quantity), ``improvement``, ``unchanged``, ``new cell`` (not in OLD), ``missing in NEW`` (in
OLD only), ``failed in NEW`` (its NEW runs did not succeed), ``implausible`` (a run of it in
either release cannot be true, :mod:`modelzoo.store.plausible`) or ``cannot judge`` (runs
on two machines). Exit 1 on a regression, a failed or an implausible cell, else 2 when a
cell cannot be judged, else 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from modelzoo.contract.api import UserError
from modelzoo.zoo.history import CellHistory, History, Quantity, quantities

NOISE_SIGMAS = 3.0
FAILING = ("regression", "failed in NEW", "implausible")


@dataclass
class QuantityVerdict:
    quantity: Quantity
    old: float
    new: float
    limit: float          # the change allowed: in the quantity's units, or a log ratio for a ratio quantity
    rule: str             # which rule set the limit, e.g. "default 5 %" or "3 SE of the noise (3 runs)"
    verdict: str          # regression / improvement / unchanged

    def change_text(self) -> str:
        q = self.quantity
        delta = self.new - self.old
        if q.relative and self.old:
            return f"{q.title} {q.format(self.old)} -> {q.format(self.new)} ({delta / abs(self.old) * 100:+.1f} %)"
        return f"{q.title} {q.format(self.old)} -> {q.format(self.new)} ({delta:+.4g})"

    def line(self) -> str:
        q = self.quantity
        if q.relative:  # the limit as the change in the worse direction: a drop for FPS, a rise for memory
            worse = (1 - math.exp(-self.limit)) if q.higher_is_better else math.expm1(self.limit)
            limit = f"{worse * 100:.1f} %"
        else:
            limit = f"{self.limit:.4g}"
        return f"{self.change_text()}: {self.verdict} (limit {limit}: {self.rule})"


@dataclass
class CellVerdict:
    cell: CellHistory
    verdict: str
    quantities: list[QuantityVerdict] = field(default_factory=list)
    why: str = ""

    @property
    def failing(self) -> bool:
        return self.verdict in FAILING

    def detail(self) -> str:
        if self.why:
            return self.why
        shown = [q for q in self.quantities if q.verdict != "unchanged"] or self.quantities[:1]
        return "; ".join(q.line() for q in shown)


def check_baseline(history: History, new: str, old: str, max_fps_drop_pct: Optional[float] = None,
                   known: Optional[list[str]] = None) -> list[CellVerdict]:
    """Every cell that NEW or OLD ran, judged (see the module docstring); UserError when OLD or
    NEW has no release runs at all (``known``: the releases the runs folder has, for the message)."""
    for release, role in ((old, "baseline"), (new, "release")):
        if release not in history.releases:
            known = ", ".join(known if known is not None else history.releases) or "none"
            raise UserError(f"{role} release '{release}' has no successful release runs in the runs folder "
                            f"(releases with runs: {known}); run 'modelzoo zoo run --release {release}' or "
                            "pick another")
    if new == old:
        raise UserError(f"--release and --baseline are both '{new}'; compare two different releases")
    verdicts = []
    for cell in history.cells.values():
        if not any(r in cell.runs or r in cell.problems or r in cell.implausible or r in cell.failed
                   for r in (new, old)):
            continue
        verdicts.append(_judge(cell, history, new, old, max_fps_drop_pct))
    return verdicts


def _judge(cell: CellHistory, history: History, new: str, old: str, fps_pct: Optional[float]) -> CellVerdict:
    for release in (new, old):
        if release in cell.implausible:
            return CellVerdict(cell, "implausible", why=cell.implausible[release])
        if release in cell.problems:
            return CellVerdict(cell, "cannot judge", why=cell.problems[release])
    if new not in cell.runs:
        if new in cell.failed:
            last = cell.failed[new][-1]
            return CellVerdict(cell, "failed in NEW", why=f"run {last.get('run_id')} "
                               f"{last.get('status')}: {last.get('error') or 'no error recorded'}")
        return CellVerdict(cell, "missing in NEW", why=f"no successful run in '{new}'")
    if old not in cell.runs:
        return CellVerdict(cell, "new cell", why=f"no successful run in '{old}'")
    judged = []
    for quantity in quantities(history, cell.key.model):
        base, candidate = cell.sample(old, quantity), cell.sample(new, quantity)
        if base is None:
            continue  # OLD did not measure it: nothing to hold NEW to
        if candidate is None:
            return CellVerdict(cell, "regression", why=f"{quantity.title} measured in '{old}' "
                               f"({quantity.format(base.mean)}) but not in '{new}'")
        judged.append(_judge_quantity(quantity, base, candidate, fps_pct))
    worst = [q.verdict for q in judged]
    verdict = "regression" if "regression" in worst else "improvement" if "improvement" in worst else "unchanged"
    return CellVerdict(cell, verdict, judged)


def _judge_quantity(quantity: Quantity, base, candidate, fps_pct: Optional[float]) -> QuantityVerdict:
    """A ratio quantity (FPS, memory, power, time) is judged on a log scale: its noise
    multiplies (a busy neighbour halves FPS, it does not subtract 100), so the means are
    geometric and the standard errors those of the logs; a metric as it is."""
    ratio = quantity.relative
    limit_spec = {"rel_pct": fps_pct} if quantity.key == "fps" and fps_pct is not None else quantity.default_limit
    (kind, amount), = limit_spec.items()
    old, new = base.center(ratio), candidate.center(ratio)
    if ratio:  # the default as a log ratio: a drop of amount % (higher is better) or a rise of amount %
        fraction = amount / 100 if kind == "rel_pct" else amount / abs(math.exp(old))
        default = (-math.log(1 - fraction) if fraction < 1 else math.inf) if quantity.higher_is_better \
            else math.log1p(fraction)
    else:
        default = abs(old) * amount / 100 if kind == "rel_pct" else amount
    rule = f"default {amount:g} %" if kind == "rel_pct" else f"default {amount:g}"
    if quantity.key == "fps" and fps_pct is not None:
        rule = f"--max-fps-drop {amount:g} %"
    limit = default
    (se_old, from_old), (se_new, from_new) = base.standard_error(ratio), candidate.standard_error(ratio)
    if se_old is not None and se_new is not None:
        noise = NOISE_SIGMAS * math.sqrt(se_old ** 2 + se_new ** 2)
        source = from_old if from_old == from_new else f"{from_old} / {from_new}"
        if noise > default:
            limit, rule = noise, f"{NOISE_SIGMAS:g} SE of the noise ({source}), wider than the default"
        else:
            rule += f"; the noise ({source}) is narrower"
    worse = (old - new) if quantity.higher_is_better else (new - old)
    if worse > limit * (1 + 1e-9):
        verdict = "regression"
    elif -worse > limit * (1 + 1e-9):
        verdict = "improvement"
    else:
        verdict = "unchanged"
    shown = (math.exp(old), math.exp(new)) if ratio else (old, new)
    return QuantityVerdict(quantity, *shown, limit, rule, verdict)


def format_table(verdicts: list[CellVerdict], new: str, old: str) -> str:
    header = ("cell", f"runs {old}/{new}", "verdict", "detail")
    rows = [header]
    for v in verdicts:
        counts = "/".join(str(len(v.cell.runs.get(r, []))) for r in (old, new))
        rows.append((v.cell.key.name, counts, v.verdict, v.detail()))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row[:3], widths)), row[3]]).rstrip() for row in rows)
