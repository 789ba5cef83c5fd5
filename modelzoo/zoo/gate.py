"""``modelzoo zoo check``: gate a release's runs against zoo.yaml.

``zoo check`` judges the run that speaks for each cell (its newest success, else its
newest run): it must exist and have succeeded; its FPS must be a positive number and, when
zoo.yaml has a reference for the same card (matched loosely, as the report does) and
card count, at least (100 - fps_pct) % of it; the model's ``target`` metric must be
reached within the tolerance (``value - tol`` when higher is better, ``value + tol``
otherwise). Tolerances: the release's, else the model's, key by key; else FPS 5 % (as
``modelzoo compare``) and the target itself. The run must be plausible
(:func:`modelzoo.store.plausible.implausible`: a run of the cell's model, profile and card
count whose numbers can be true), judged by the installed model's declaration, never by
the record's own columns. Exit 0 when all pass, 1 on any failure, 2 on bad input. No
torch here: ``zoo check`` reads records only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

from modelzoo.contract.api import MetricColumn, ModelSpec, UserError, check_format
from modelzoo.store import records
from modelzoo.store.plausible import implausible
from modelzoo.zoo.compare import DEFAULT_MAX_FPS_DROP_PCT, finite_number
from modelzoo.zoo.release import (
    Cell,
    deciding_run,
    plan_cells,
    schedule_text,
)
from modelzoo.zoo.zoofile import Zoo, ZooModel, ZooRelease

# --- zoo check --------------------------------------------------------------------------

@dataclass
class Verdict:
    cell: Cell
    run_id: str = "-"
    fps: str = "-"
    metric: str = "-"
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def check_release(zoo: Zoo, release: ZooRelease, runs: dict[Cell, list[dict]],
                  declarations: Mapping[str, ModelSpec]) -> list[Verdict]:
    """Every cell of ``release`` judged against zoo.yaml and the installed models'
    ``declarations`` (a cell absent from ``runs`` has no run); UserError when they cannot judge one."""
    for name in release.models:
        if name not in declarations:
            raise UserError(f"model '{name}' of release '{release.id}' is not installed; zoo check judges runs "
                            "by the model's declaration: install its plugin")
        if zoo.models[name].target is None:
            raise UserError(f"{zoo.where(('models', name))}: models.{name}: no target, so zoo check cannot "
                            f"judge its metric in release '{release.id}'; add target: {{metric: KEY, "
                            "value: NUMBER, higher_is_better: true|false}")
    return [judge_cell(cell, runs.get(cell, []), zoo, release, declarations[cell.model])
            for cell in plan_cells(release)]


def judge_cell(cell: Cell, runs: list[dict], zoo: Zoo, release: ZooRelease, spec: ModelSpec) -> Verdict:
    verdict = Verdict(cell)
    record = deciding_run(cell, runs)
    again = f"run 'modelzoo zoo run --release {release.id}'"
    if record is None:
        if runs:
            ran = schedule_text((runs[-1].get("zoo_cell") or {}).get("max_steps"))
            verdict.failures.append(f"its runs used {ran}, zoo.yaml declares {schedule_text(cell.max_steps)}; "
                                    f"{again}")
        else:
            verdict.failures.append(f"no run of this cell; {again}")
        return verdict
    verdict.run_id = record["run_id"]
    status = records.effective_status(record)
    if status == "running":
        verdict.failures.append("still running; check again when it has finished")
    elif status == "lost":
        verdict.failures.append(f"run lost: its process died without finishing; {again}")
    elif status != "success":
        why = f": {' '.join(str(record['error']).split())}" if record.get("error") else ""  # one line: no forged verdict
        verdict.failures.append(f"run {status}{why}; {again}")
    if verdict.failures:
        return verdict
    model = zoo.models[cell.model]
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    _judge_fps(verdict, record, metrics, model, _fps_pct(release, model))
    verdict.failures += [f"run {record['run_id']} cannot be true: {reason}"
                         for reason in implausible(record, spec.metric_columns, cell.as_record_field())]
    if record.get("cut_short"):  # a recipe stopped by --max-steps claims no accuracy: none is gated
        verdict.metric = "not gated (the recipe was cut short by --max-steps: throughput only)"
        return verdict
    _judge_target(verdict, record, metrics, zoo, model, _metric_limit(release, model), spec)
    return verdict


def _fps_pct(release: ZooRelease, model: ZooModel) -> float:
    for tolerances in (release.tolerances, model.tolerances):
        if tolerances.get("fps_pct") is not None:
            return float(tolerances["fps_pct"])
    return DEFAULT_MAX_FPS_DROP_PCT


def _metric_limit(release: ZooRelease, model: ZooModel) -> dict:
    key = model.target["metric"]
    for tolerances in (release.tolerances, model.tolerances):
        if key in (tolerances.get("metrics") or {}):
            return tolerances["metrics"][key]
    return {"abs": 0.0}  # no tolerance declared: the target itself


def _judge_fps(verdict: Verdict, record: dict, metrics: dict, model: ZooModel, drop_pct: float) -> None:
    from modelzoo.report.rules import same_card
    from modelzoo.report.runs import card_name

    unit = record.get("throughput_unit") if isinstance(record.get("throughput_unit"), str) else "images/s"
    fps = finite_number(metrics.get("fps"))
    if fps is None or fps <= 0:
        verdict.fps = f"missing ({metrics.get('fps')!r})"
        verdict.failures.append(f"no FPS in run {record['run_id']} ({metrics.get('fps')!r})")
        return
    env = record.get("env") if isinstance(record.get("env"), dict) else {}
    card = card_name(str(record.get("device") or ""), env)
    cards = verdict.cell.cards
    config = ((model.catalogue or {}).get("configs") or {}).get(verdict.cell.profile)  # e.g. AMP+NHWC
    reference = next((r for r in model.references if r["cards"] == cards and r.get("fps")
                      and same_card(r["gpu"], card) and (config is None or r.get("config") in (None, config))), None)
    if reference is None:
        verdict.fps = f"{fps:.2f} {unit}; no reference for {card} x{cards}"
        return
    floor_pct = 100.0 - drop_pct
    ratio_pct = fps / reference["fps"] * 100
    verdict.fps = (f"{fps:.2f} = {ratio_pct:.0f}% of {reference['fps']:.2f} ({reference['gpu']} x{cards}); "
                   f"needs {floor_pct:g}%")
    if ratio_pct < floor_pct * (1 - 1e-9):
        verdict.failures.append(f"FPS {fps:.2f} is {ratio_pct:.1f}% of the reference {reference['fps']:.2f} "
                                f"({reference['gpu']} x{cards}); needs {floor_pct:g}%")


def _judge_target(verdict: Verdict, record: dict, metrics: dict, zoo: Zoo, model: ZooModel,
                  limit: dict, spec: ModelSpec) -> None:
    target = model.target
    key, goal, higher = target["metric"], float(target["value"]), target["higher_is_better"]
    column = next((c for c in spec.metric_columns if c.key == key), None)
    if column is not None and column.higher_is_better != higher:
        raise UserError(f"{zoo.where(('models', model.name, 'target'))}: models.{model.name}.target: "
                        f"higher_is_better is {str(higher).lower()}, but the model's column '{key}' is "
                        f"{'higher' if column.higher_is_better else 'lower'}-is-better; "
                        f"set higher_is_better: {str(not higher).lower()}")
    title = column.title if column is not None else key
    value = finite_number(metrics.get(key))
    if value is None:
        verdict.metric = f"{title} missing"
        verdict.failures.append(f"no finite {key} in run {record['run_id']} ({metrics.get(key)!r})")
        return
    (kind, amount), = limit.items()
    allowance = float(amount) if kind == "abs" else abs(goal) * float(amount) / 100
    bound = goal - allowance if higher else goal + allowance
    short = (bound - value) if higher else (value - bound)
    fmt = _format_of(column)
    sign = ">=" if higher else "<="
    verdict.metric = (f"{title} {fmt.format(value)} (needs {sign} {fmt.format(bound)}: target "
                      f"{target['value']:g}, tolerance {allowance:g})")
    if short > 1e-9 * abs(bound) + 1e-12:  # float noise: exactly at the bound passes
        verdict.failures.append(f"{title} {fmt.format(value)} misses the target {target['value']:g} "
                                f"(needs {sign} {fmt.format(bound)})")


def _format_of(column: Optional[MetricColumn]) -> str:
    try:
        return check_format(column.format if column is not None else "{:.5f}")
    except UserError:  # a plugin's bad format is refused at registration
        return "{:.5f}"


def format_verdicts(verdicts: list[Verdict]) -> str:
    header = ("cell", "run", "FPS vs reference", "metric vs target", "verdict")
    rows = [header] + [(v.cell.name, v.run_id, v.fps, v.metric, "pass" if v.passed else
                        "FAIL: " + "; ".join(v.failures)) for v in verdicts]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row[:4], widths)), row[4]]).rstrip() for row in rows)
