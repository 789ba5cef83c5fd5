"""Release validation: ``modelzoo zoo run`` runs a release's matrix (cells, planning, the resume rule).

zoo.yaml's ``releases:`` section declares each release's matrix: models x profiles x card
counts, on full schedules or capped at ``max_steps`` (see :mod:`modelzoo.zoo.zoofile`). A *cell*
is one (model, profile, card count) of a release; its run is an ordinary train record
that also carries ``release`` and ``zoo_cell`` = ``{release, model, profile, cards,
max_steps}``. The records are the only state: both verbs find a cell's runs by
``zoo_cell`` (release, model, profile, cards), and only runs with the declared
``max_steps`` count for it.

``zoo run`` decides per cell, from the cell's runs:

- one succeeded: skipped;
- the newest is still running (its process is alive): left alone, not started twice;
- the newest was interrupted or lost (its process killed) on this device and left a
  checkpoint: continued with ``--resume`` (same run id; FPS is timed over the rest);
- otherwise (no run, failed, diverged, stopped before its first checkpoint): a new run.

A failed cell does not stop the others; a stop signal does. One line per cell, then a
summary record (kind ``zoo``). Exit 0 when every cell succeeded, else 1; 130 when stopped.

The local launcher's loop is :func:`modelzoo.app.releases.zoo_run` (it runs each cell through
:func:`modelzoo.app.running.run_request`); the Slurm launcher is :mod:`modelzoo.zoo.slurm_release`;
``zoo check`` is :mod:`modelzoo.zoo.gate`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol

from modelzoo.contract.api import MetricColumn, UserError
from modelzoo.store import records
from modelzoo.zoo.compare import finite_number
from modelzoo.zoo.zoofile import Zoo, ZooRelease

RELEASE_ENV = "MODELZOO_RELEASE"
DEFAULT_CARDS_PER_NODE = 8  # the Slurm launcher's: a cell asks for ceil(cards / this) nodes


# --- Cells ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    release: str
    model: str
    profile: str
    cards: int
    max_steps: Optional[int] = None  # None: the profile's full schedule

    @property
    def name(self) -> str:
        return f"{self.model}/{self.profile} x{self.cards}"

    def as_record_field(self) -> dict:
        """The record's ``zoo_cell``."""
        return {"release": self.release, "model": self.model, "profile": self.profile, "cards": self.cards,
                "max_steps": self.max_steps}

    def owns(self, record: dict) -> bool:
        """Is ``record`` a run of this cell (any schedule)?"""
        cell = record.get("zoo_cell")
        return (isinstance(cell, dict) and record.get("kind", "train") == "train"
                and all(cell.get(key) == getattr(self, key) for key in ("release", "model", "profile", "cards")))

    def declared_schedule(self, record: dict) -> bool:
        return (record.get("zoo_cell") or {}).get("max_steps") == self.max_steps


def schedule_text(max_steps: Optional[int]) -> str:
    return "the full schedule" if max_steps is None else f"max_steps {max_steps}"


def release_of(zoo: Zoo, release_id: Optional[str]) -> ZooRelease:
    """The release ``release_id`` (default ``$MODELZOO_RELEASE``) of ``zoo``; UserError naming the fix."""
    release_id = release_id or os.environ.get(RELEASE_ENV)
    if not release_id:
        raise UserError(f"no release given; pass --release ID (a release of zoo.yaml's releases:) "
                        f"or set ${RELEASE_ENV}")
    if zoo.path is None:
        raise UserError(f"no zoo file found to read release '{release_id}' from; pass --zoo FILE or "
                        "set $MODELZOO_ZOO")
    release = zoo.releases.get(release_id)
    if release is None:
        known = ", ".join(zoo.releases) or "none"
        raise UserError(f"release '{release_id}' is not in {zoo.path} (releases: {known}); declare it "
                        "under releases: or pass another --release")
    return release


def plan_cells(release: ZooRelease, models: Optional[list[str]] = None,
               cards: Optional[list[int]] = None) -> list[Cell]:
    """The release's cells in zoo.yaml's order (model, profile, card count), filtered."""
    unknown = [m for m in models or [] if m not in release.models]
    if unknown:
        raise UserError(f"--models {','.join(unknown)}: not in release '{release.id}' (its models: "
                        f"{', '.join(release.models)}); fix the name or declare it in zoo.yaml")
    declared = sorted({count for entry in release.models.values() for count in entry.cards})
    undeclared = [c for c in cards or [] if c not in declared]
    if undeclared:
        raise UserError(f"--cards {','.join(map(str, undeclared))}: release '{release.id}' declares card "
                        f"counts {', '.join(map(str, declared))}; pick from those")
    cells = [Cell(release.id, name, profile, count, entry.max_steps)
             for name, entry in release.models.items() if not models or name in models
             for profile in entry.profiles for count in entry.cards if not cards or count in cards]
    if not cells:
        raise UserError(f"--models/--cards select no cell of release '{release.id}'; widen the filter")
    return cells


def runs_of_cells(cells: list[Cell], runs_dir: Path) -> tuple[dict[Cell, list[dict]], list[str]]:
    """Each cell's run records, oldest first, and one line per unreadable record."""
    found, problems = records.load_all_with_problems(runs_dir)
    return {cell: [r for r in found if cell.owns(r)] for cell in cells}, problems


def deciding_run(cell: Cell, runs: list[dict]) -> Optional[dict]:
    """The run that speaks for the cell: its newest success, else its newest run (declared schedule)."""
    current = [r for r in runs if cell.declared_schedule(r)]
    succeeded = [r for r in current if records.effective_status(r) == "success"]
    return (succeeded or current or [None])[-1]


# --- zoo run ----------------------------------------------------------------------------

class Voice(Protocol):
    """Where a zoo run's lines go (:class:`modelzoo.app.Session` is one); zoo run prints none itself."""

    def say(self, message: str) -> None:
        """A progress line (which cell starts, which job was submitted)."""

    def warn(self, message: str) -> None:
        """A warning (a record that could not be read and is skipped)."""

    def show(self, message: str) -> None:
        """A result line (a cell's outcome, the table of cells)."""


@dataclass
class ZooRunOptions:
    """``zoo run``'s choices, for either launcher (``None``: every model / card count, auto device)."""
    release: Optional[str] = None
    runs_dir: Path = Path("runs")
    data_root: str = "data"
    zoo: Optional[str] = None               # the zoo file (None: the one find_zoo_file finds)
    zoo_root: Optional[str] = None          # the zoo checkout recipes run from (None: $MODELZOO_ZOO_ROOT)
    models: Optional[list[str]] = None
    cards: Optional[list[int]] = None
    device: Optional[str] = None
    debug: bool = False
    launcher: str = "local"                 # or "slurm"
    partition: Optional[str] = None         # the Slurm launcher's options from here on
    account: Optional[str] = None
    time: Optional[str] = None
    sbatch_args: list[str] = field(default_factory=list)
    cards_per_node: int = DEFAULT_CARDS_PER_NODE
    no_wait: bool = False


@dataclass
class Action:
    """What ``zoo run`` does with a cell: skip, resume, new, or busy (running elsewhere)."""
    kind: str
    record: Optional[dict]
    why: str


def next_action(cell: Cell, runs: list[dict], runs_dir: Path, device: str) -> Action:
    """The resume rule (see the module docstring) for one cell."""
    newest = deciding_run(cell, runs)
    if newest is None:
        other = " (its runs used another schedule)" if runs else ""
        return Action("new", None, f"no run with {schedule_text(cell.max_steps)} yet{other}")
    run_id, status = newest["run_id"], records.effective_status(newest)
    if status == "success":
        return Action("skip", newest, f"run {run_id} succeeded earlier")
    if status == "running":
        owner = newest.get("owner") or {}
        return Action("busy", newest, f"run {run_id} is still running (pid {owner.get('pid')} on "
                                      f"{owner.get('host')}); not started twice")
    if status in ("interrupted", "lost"):
        if newest.get("device") != device:
            return Action("new", newest, f"run {run_id} was {status} on {newest.get('device')}, this run "
                                         f"is on {device}")
        if not (Path(runs_dir) / run_id / records.CHECKPOINT_FILE).is_file():
            return Action("new", newest, f"run {run_id} was {status} before its first checkpoint")
        return Action("resume", newest, f"run {run_id} was {status}")
    return Action("new", newest, f"run {run_id} {status}")


@dataclass
class Outcome:
    cell: Cell
    action: str                 # the Action's kind
    status: str                 # the cell's status after this zoo run ("not run" when stopped first)
    record: Optional[dict] = None
    error: Optional[str] = None

    @property
    def run_id(self) -> Optional[str]:
        return self.record["run_id"] if self.record else None

    def line(self) -> str:
        """``cell toy/fast x2: success (new run ID): FPS 318.31, Accuracy 0.5312``"""
        run = f"run {self.run_id}" if self.run_id else "no run"
        done = {"skip": f"skipped: {run} succeeded earlier", "resume": f"resumed {run}", "new": f"new {run}",
                "busy": "left alone"}[self.action]
        if self.action == "new" and not self.run_id:
            done = "no run recorded"
        detail = _numbers_text(self.record) if self.status == "success" else (self.error or "")
        return f"cell {self.cell.name}: {self.status} ({done}){': ' + detail if detail else ''}"


def run_argv(cell: Cell, action: Action, args: ZooRunOptions, runs_dir: Path, zoo_path: Path) -> list[str]:
    """The ``modelzoo run`` arguments of a cell's run (new or ``--resume``), for every launcher."""
    argv = ["run", cell.model, "--cards", str(cell.cards), "--runs-dir", str(runs_dir),
            "--data-root", str(args.data_root), "--zoo", str(zoo_path)]
    argv += ["--resume", action.record["run_id"]] if action.kind == "resume" else ["--profile", cell.profile]
    argv += ["--device", args.device] if args.device else []
    argv += ["--max-steps", str(cell.max_steps)] if cell.max_steps else []
    argv += ["--zoo-root", str(args.zoo_root)] if args.zoo_root else []  # a recipe's checkout, for a Slurm job too
    return argv + (["--debug"] if args.debug else [])


def release_lock(runs_dir: Path, release_id: str):
    """One ``zoo run`` per release and runs folder at a time (two would start the same cells twice)."""
    from modelzoo.store.runlock import exclusive_lock

    return exclusive_lock(runs_dir / f".zoo-{_plain(release_id)}.lock",
                          f"zoo run of release '{release_id}' is already running in {runs_dir} "
                          "({owner}); wait for it to end or stop it")


def _plain(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]", "_", name)


def save_summary(release: ZooRelease, outcomes: list[Outcome], started: str, device: str, args: ZooRunOptions,
                  runs_dir: Path, stopped: bool) -> dict:
    """The zoo run's summary record: every cell with its run id, status and numbers."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    largest = max(o.cell.cards for o in outcomes)
    filters = {k: v for k, v in (("models", args.models), ("cards", args.cards)) if v}
    summary = records.new_record(
        run_id=f"{stamp}-zoo-{_plain(release.id)}-{secrets.token_hex(2)}", kind="zoo", model="zoo",
        model_title=f"Zoo release {release.id}", plugin={}, profile="-",
        config={"release": release.id, "cells": [o.cell.as_record_field() for o in outcomes]},
        overrides=filters, cards=largest, world_size=largest, device=device, seed=None, metric_columns=[],
        log=None)
    summary["started"] = started  # mark_finished then times the whole zoo run
    summary["release"] = release.id
    summary["members"] = [{"cell": o.cell.as_record_field(), "run_id": o.run_id, "action": o.action,
                           "status": o.status, "error": o.error, "metrics": _member_metrics(o.record)}
                          for o in outcomes]
    not_ok = [o for o in outcomes if o.status != "success"]
    summary["zoo"] = {"release": release.id, "cells": len(outcomes), "succeeded": len(outcomes) - len(not_ok)}
    if stopped:
        records.mark_finished(summary, "interrupted", f"stopped after {len(outcomes) - len(not_ok)} of "
                              f"{len(outcomes)} cells; run 'modelzoo zoo run --release {release.id}' again")
    elif not_ok:
        records.mark_finished(summary, "failed", f"{len(not_ok)} of {len(outcomes)} cells did not succeed: "
                              + ", ".join(f"{o.cell.name} ({o.status})" for o in not_ok))
    else:
        records.mark_finished(summary, "success")
    records.save(summary, runs_dir)
    return summary


def _member_metrics(record: Optional[dict]) -> dict:
    if not record:
        return {}
    metrics = record.get("metrics") or {}
    keys = ["fps"] + [c.get("key") for c in record.get("metric_columns") or [] if isinstance(c, dict)]
    return {k: metrics.get(k) for k in keys if isinstance(k, str)}


def _numbers_text(record: Optional[dict]) -> str:
    """``FPS 162.00, Accuracy 0.5312`` (or ``tokens/s ...``), as ``modelzoo run`` ends."""
    if not record:
        return ""
    metrics = record.get("metrics") or {}
    unit = record.get("throughput_unit") or "images/s"
    fps = finite_number(metrics.get("fps"))
    shown = [f"{'FPS' if unit == 'images/s' else unit} {'n/a' if fps is None else f'{fps:.2f}'}"]
    for entry in record.get("metric_columns") or []:
        with contextlib.suppress(UserError, TypeError, ValueError):
            column = MetricColumn.from_dict(entry)
            shown.append(f"{column.title} {column.render(metrics)}")
    return ", ".join(shown)
