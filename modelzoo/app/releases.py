"""A whole zoo release: :func:`zoo_run`, :func:`zoo_check`, :func:`zoo_status`, :func:`zoo_cancel`.

The matrix, the resume rule and the summary record are :mod:`modelzoo.zoo.release`'s; this
module runs the cells: here, one after another, each through :func:`~modelzoo.app.running.run_request`
(the path ``modelzoo run`` takes), or on Slurm through :mod:`modelzoo.zoo.slurm_release`.
"""

from __future__ import annotations

import contextlib
import signal
import traceback
from pathlib import Path
from typing import Optional

from modelzoo.app.running import RunRequest, RunStopped, run_request
from modelzoo.app.session import Session, session_or_default
from modelzoo.contract.api import UserError
from modelzoo.store import records
from modelzoo.toolkit import stopping
from modelzoo.toolkit.runtime import choose_device, writable_dir
from modelzoo.zoo.release import (
    Action,
    Cell,
    Outcome,
    ZooRunOptions,
    next_action,
    plan_cells,
    release_lock,
    release_of,
    runs_of_cells,
    save_summary,
)
from modelzoo.zoo.zoofile import apply_sets, resolve_profile


def zoo_run(release: Optional[str] = None, *, session: Optional[Session] = None, **options) -> Optional[dict]:
    """Run every cell of ``release`` (default ``$MODELZOO_RELEASE``) that has no successful run
    yet; ``options`` are :class:`~modelzoo.zoo.release.ZooRunOptions`' fields (models, cards,
    device, launcher and the Slurm options). Returns the summary record (kind ``zoo``; status
    ``success`` only when every cell succeeded), or None when the Slurm launcher was asked not
    to wait. A stop signal saves an ``interrupted`` summary and re-raises KeyboardInterrupt."""
    session = session_or_default(session)
    run_options = ZooRunOptions(release=release, runs_dir=session.runs_dir, zoo=session.zoo_file,
                                data_root=str(session.data_root_or_default()), debug=session.debug,
                                zoo_root=str(session.zoo_root) if session.zoo_root else None, **options)
    zoo = session.zoo()
    cells = plan_cells(release_of(zoo, release), run_options.models, run_options.cards)
    if run_options.launcher == "slurm":
        from modelzoo.zoo import slurm_release

        _check_profiles(cells, session, run_options.sets)
        return slurm_release.run_release(run_options, session)
    if run_options.launcher != "local":
        raise UserError(f"launcher {run_options.launcher!r} is not known; choose local or slurm")
    return _run_here(cells, run_options, session)


def _check_profiles(cells: list[Cell], session: Session, sets: list[str]) -> None:
    for model, profile in dict.fromkeys((c.model, c.profile) for c in cells):
        _, config = resolve_profile(session.registry().model(model), session.zoo(), profile)
        apply_sets(config, list(sets))  # a --set that fits no cell is refused before any run


def _run_here(cells: list[Cell], options: ZooRunOptions, session: Session) -> dict:
    """The local launcher: every cell in this process's host, one after another."""
    from modelzoo.train import distributed, launch

    if distributed.under_outer_launcher():
        raise UserError("zoo run is not available under an outer launcher (torchrun, srun); start it as "
                        "a plain command: it launches each cell's workers itself")
    release = release_of(session.zoo(), options.release)
    device = choose_device(options.device or "auto")
    _check_profiles(cells, session, options.sets)  # refuse the whole matrix before any run when a cell cannot work here
    for cards in sorted({c.cards for c in cells}):
        try:
            launch.check_cards(cards, device)
        except UserError as exc:
            raise UserError(f"{exc} (the release's {cards}-card cells; skip them with --cards)") from None
    runs_dir = writable_dir(session.runs_dir, "runs directory", "--runs-dir")
    cell_session = session.sharing(data_root=Path(options.data_root))  # a resumed cell too
    started = records.utc_now()
    outcomes: list[Outcome] = []
    with release_lock(runs_dir, release.id):
        runs, problems = runs_of_cells(cells, runs_dir)
        for problem in problems:
            session.warn(f"skipped {problem}")
        session.say(f"zoo run {release.id}: {len(cells)} cell(s) on {device}; runs in {runs_dir}")
        try:
            for cell in cells:
                outcome = _run_cell(cell, next_action(cell, runs[cell], runs_dir, device), options, cell_session)
                outcomes.append(outcome)
                session.show(outcome.line())
                if outcome.status == "interrupted":  # the cell's run took the signal
                    raise stopping.Stopped(stopping.last_received() or signal.SIGINT)
        except KeyboardInterrupt:
            outcomes += [Outcome(c, "new", "not run") for c in cells[len(outcomes):]]
            save_summary(release, outcomes, started, device, options, runs_dir, stopped=True)
            raise
    return save_summary(release, outcomes, started, device, options, runs_dir, stopped=False)


def _run_cell(cell: Cell, action: Action, options: ZooRunOptions, session: Session) -> Outcome:
    """Run (or skip) one cell as ``modelzoo run`` would; any failure stays in the cell."""
    if action.kind in ("skip", "busy"):
        status = "success" if action.kind == "skip" else "running"
        return Outcome(cell, action.kind, status, action.record, None if action.kind == "skip" else action.why)
    resume = action.record["run_id"] if action.kind == "resume" else None
    request = RunRequest(cell.model, profile=None if resume else cell.profile, cards=cell.cards,
                         device=options.device, max_steps=cell.max_steps, resume=resume, release=cell.release,
                         overrides=() if resume else tuple(options.sets),
                         zoo_cell=cell.as_record_field())
    session.say(f"cell {cell.name}: {'resuming' if resume else 'starting'} ({action.why})")
    before = {p.name for p in session.runs_dir.iterdir()}
    try:
        record = run_request(request, session)
    except RunStopped as stop:  # the run recorded itself; zoo_run stops the matrix
        return Outcome(cell, action.kind, "interrupted", stop.record, "stopped by a signal")
    except KeyboardInterrupt:
        return Outcome(cell, action.kind, "interrupted", _record_left_by(cell, action, session.runs_dir, before),
                       "stopped by a signal")
    except Exception as exc:  # noqa: BLE001 - one cell's failure, whatever it is, must not stop the others
        if session.debug:
            traceback.print_exc()
        record = _record_left_by(cell, action, session.runs_dir, before)
        error = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        status = records.effective_status(record) if record else "failed"
        return Outcome(cell, action.kind, "failed" if status in ("running", "success") else status, record,
                       error)
    status = record.get("status", "failed")
    return Outcome(cell, action.kind, status, record, None if status == "success" else record.get("error"))


def _record_left_by(cell: Cell, action: Action, runs_dir: Path, before: set[str]) -> Optional[dict]:
    """The record of the attempt that raised, if it got as far as writing one."""
    ids = [action.record["run_id"]] if action.kind == "resume" else \
        sorted({p.name for p in runs_dir.iterdir()} - before)
    for run_id in reversed(ids):
        with contextlib.suppress(UserError):
            record = records.load(runs_dir / run_id)
            if cell.owns(record):
                return record
    return None


def zoo_check(release: Optional[str] = None, *, session: Optional[Session] = None):
    """Judge every cell of ``release`` against zoo.yaml's references, targets and tolerances:
    ``(release id, verdicts)``; a verdict ``passed`` or lists its failures."""
    from modelzoo.app.zoo_catalogue import catalogue
    from modelzoo.catalogue.link import with_catalogue_references
    from modelzoo.zoo.gate import check_release

    session = session_or_default(session)
    zoo = session.zoo()
    declared = release_of(zoo, release)
    if any(zoo.models[m].catalogue and not zoo.models[m].references for m in declared.models):
        zoo = with_catalogue_references(zoo, catalogue(session), models=set(declared.models))  # imported rows
    runs, problems = runs_of_cells(plan_cells(declared), session.runs_dir)
    for problem in problems:
        session.warn(f"skipped {problem}")
    return declared.id, check_release(zoo, declared, runs, session.registry().models)


def zoo_check_baseline(release: Optional[str] = None, baseline: Optional[str] = None, *,
                       session: Optional[Session] = None, max_fps_drop: Optional[float] = None):
    """Judge every cell of ``release`` (default ``$MODELZOO_RELEASE``) against the same cell in
    release ``baseline``, from the records (through the run index): ``(release, verdicts)``; see
    :mod:`modelzoo.zoo.baseline`. The releases need not be in zoo.yaml: their runs say what ran."""
    import os

    from modelzoo.store.index import load_all_indexed
    from modelzoo.toolkit.runtime import cycle_collection_paused
    from modelzoo.zoo.baseline import check_baseline
    from modelzoo.zoo.history import collect, release_of_record
    from modelzoo.zoo.release import RELEASE_ENV

    session = session_or_default(session)
    release = release or os.environ.get(RELEASE_ENV)
    if not release or not baseline:
        raise UserError(f"zoo check --baseline needs both releases: --release NEW (or ${RELEASE_ENV}) and "
                        "--baseline OLD")
    if max_fps_drop is not None and not (max_fps_drop >= 0 and max_fps_drop < float("inf")):
        raise UserError(f"--max-fps-drop {max_fps_drop!r}: give a percentage >= 0, e.g. 5")
    seen: set[str] = set()

    def of_either(record: dict) -> bool:  # the two releases' runs; the others' releases named in errors
        name = release_of_record(record)
        seen.add(name)
        return name in (release, baseline)

    with cycle_collection_paused():  # the index's 18,000 records are acyclic data: not scanned over and over
        found, problems = load_all_indexed(session.runs_dir, warn=session.warn, keep=of_either)
        for problem in problems:
            session.warn(f"skipped {problem}")
        history = collect(found, session.registry().models)
        return release, check_baseline(history, release, baseline, max_fps_drop, known=sorted(seen - {None}))


def zoo_status(release: Optional[str] = None, *, session: Optional[Session] = None):
    """Each cell's state (pending / running with its Slurm job / succeeded / failed / interrupted):
    ``(release id, states)``."""
    from modelzoo.zoo import slurm_release

    session = session_or_default(session)
    return slurm_release.release_states(session.zoo(), release, session.runs_dir, session)


def zoo_cancel(release: Optional[str] = None, *, session: Optional[Session] = None):
    """scancel the release's pending and running jobs and wait for their records: ``(release id,
    states after)``, states None when nothing was pending or running."""
    from modelzoo.zoo import slurm_release

    session = session_or_default(session)
    return slurm_release.cancel_release(session.zoo(), release, session.runs_dir, session)
