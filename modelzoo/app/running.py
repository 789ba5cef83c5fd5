"""Train and evaluate a model: :func:`run`, :func:`plan` (a dry run) and :func:`sweep`.

``modelzoo run`` and ``modelzoo zoo run`` call these; so can a notebook or a CI script::

    from modelzoo.app import Session, run
    record = run("facenet", profile="demo", cards=1, overrides={"train.batch_size": 64},
                 session=Session(runs_dir="runs"))
    record["status"], record["metrics"]["fps"]

A run writes its record to ``<runs>/<run id>/record.json`` as it goes; the returned dict is
rank 0's final record. Bad input raises :class:`~modelzoo.contract.api.UserError` before any
run folder exists; a stop signal (Ctrl-C, SIGTERM, scancel) raises :class:`RunStopped`
carrying the ``interrupted`` record. The trainer is imported (with torch) only when a run
starts.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from modelzoo.app.resolve import Overrides, Resolved, check_data, new_record, resolve, run_context
from modelzoo.app.session import Session, session_or_default
from modelzoo.contract.api import UserError
from modelzoo.store import records
from modelzoo.toolkit import stopping
from modelzoo.toolkit.runtime import DEVICES, choose_device, writable_dir
from modelzoo.toolkit.stopping import Stopped


@dataclass(frozen=True)
class RunRequest:
    """What to run: ``modelzoo run``'s options as fields (``None``: the profile's or the default)."""
    model: str
    profile: Optional[str] = None
    cards: int = 1
    device: Optional[str] = None        # "cuda", "cpu" or "auto"; with resume: the run's own
    overrides: Overrides = ()
    seed: Optional[int] = None
    max_steps: Optional[int] = None     # with resume: the new cap
    repeat: Optional[int] = None
    resume: Optional[str] = None        # run id of an interrupted run to continue
    release: Optional[str] = None       # default: $MODELZOO_RELEASE
    zoo_cell: Optional[dict] = None     # set by zoo run: the cell this run belongs to
    oversubscribe: bool = False         # CPU: more workers than cores, one compute thread each
    sweep_id: Optional[str] = field(default=None, repr=False)  # set by sweep()

    def __post_init__(self):
        _check_types(self)


def _check_types(request: RunRequest) -> None:
    """The API's arguments checked as the CLI's parser checks its options: a wrong type or an
    unknown device is a :class:`UserError` naming the field, before anything runs (overrides:
    :func:`~modelzoo.app.resolve.resolve`, where every verb's are read)."""
    def refuse(name: str, wanted: str) -> None:
        value = getattr(request, name)
        raise UserError(f"{name} must be {wanted}, got {value!r} ({type(value).__name__})")

    def whole(value, least: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    if not isinstance(request.model, str) or not request.model:
        refuse("model", "a model name (str)")
    for name in ("profile", "resume", "release", "sweep_id"):
        if getattr(request, name) is not None and not isinstance(getattr(request, name), str):
            refuse(name, "a str or None")
    if not whole(request.cards, 1):
        refuse("cards", "a positive int")
    if request.device is not None and request.device not in DEVICES:
        refuse("device", f"one of {', '.join(DEVICES)} or None")
    for name in ("max_steps", "repeat"):
        if getattr(request, name) is not None and not whole(getattr(request, name), 1):
            refuse(name, "a positive int or None")
    if request.seed is not None and (not isinstance(request.seed, int) or isinstance(request.seed, bool)):
        refuse("seed", "an int or None")  # its range is the settings' check, whose line names --seed
    if not isinstance(request.oversubscribe, bool):
        refuse("oversubscribe", "a bool")
    if request.zoo_cell is not None and not isinstance(request.zoo_cell, dict):
        refuse("zoo_cell", "a dict or None")


@dataclass
class RunPlan:
    """A run, resolved and checked, before anything is written."""
    request: RunRequest
    resolved: Resolved
    device: str
    data_root: Path
    resumed: Optional[dict] = None      # the record a resume continues
    recipe: Optional[object] = None     # a recipe's command (modelzoo.recipe.schema.Planned)
    run_id: Optional[str] = None        # a recipe's run id (its command names the run's folder)

    @property
    def profile(self) -> str:
        return self.resolved.profile

    @property
    def config(self) -> dict:
        return self.resolved.config


class RunStopped(Stopped):
    """A run stopped by a signal (``signum``: SIGINT or SIGTERM); ``record`` is its
    ``interrupted`` record, checkpointed when it got that far (``--resume`` continues it)."""

    def __init__(self, record: dict, signum: int = signal.SIGINT):
        super().__init__(signum, record.get("error"))
        self.record = record


def run(model: str, *, session: Optional[Session] = None, **options) -> Optional[records.RunRecord]:
    """Train and evaluate ``model``; ``options`` are :class:`RunRequest`'s fields. Returns rank
    0's final record (``None`` on the other ranks of an outer launch such as torchrun)."""
    return run_request(RunRequest(model, **options), session_or_default(session))


def plan(model: str, *, session: Optional[Session] = None, **options) -> RunPlan:
    """What :func:`run` would do (config resolved, cards and data checked); nothing is written."""
    return plan_request(RunRequest(model, **options), session_or_default(session))


def plan_request(request: RunRequest, session: Session) -> RunPlan:
    from modelzoo.train import distributed

    if request.resume:
        resumed, resolved = _resumed_run(request, session)
        data_root = session.data_root or Path(resumed.get("data_root") or session.data_root_or_default())
    else:
        resumed = None
        resolved = resolve(session, request.model, request.profile, request.overrides, request.seed,
                           request.max_steps, request.repeat)
        data_root = session.data_root_or_default()
    if resolved.spec.recipe:
        return _plan_recipe(request, session, resolved, data_root)
    device = choose_device(resumed["device"] if resumed else (request.device or "auto"))
    from modelzoo.train import launch  # imports torch

    if not distributed.under_outer_launcher():
        launch.check_cards(request.cards, device, request.oversubscribe)
    writable_dir(session.runs_dir, "runs directory", "--runs-dir")
    check_data(session, run_context(session, request.model, resolved.profile, resolved.config, device,
                                    session.runs_dir, data_root))
    return RunPlan(request, resolved, device, data_root, resumed)


def _plan_recipe(request: RunRequest, session: Session, resolved: Resolved, data_root: Path) -> RunPlan:
    """A recipe's run: its cards checked, its command, folder and environment built; nothing written."""
    from modelzoo.measure.power_readers import visible_cards
    from modelzoo.recipe import declare, schema
    from modelzoo.train import launch

    if request.resume:
        raise UserError(f"'{request.model}' is a zoo recipe: its script keeps no modelzoo checkpoint, so "
                        "--resume cannot continue it; start a new run")
    if request.repeat:
        raise UserError(f"'{request.model}' is a zoo recipe: --repeat needs modelzoo's own timed windows; "
                        "run it again instead and compare the records")
    device = choose_device(request.device or "auto")
    launch.check_cards(request.cards, device)
    writable_dir(session.runs_dir, "runs directory", "--runs-dir")
    run_id = records.new_run_id(request.model, resolved.profile, request.cards)
    where = declare.where_in(session.zoo(), request.model)
    planned = schema.plan_command(
        resolved.config["recipe"], where, cards=request.cards,
        devices=visible_cards(request.cards) if device == "cuda" else [], data_root=data_root,
        run_dir=(session.runs_dir / run_id).resolve(), seed=resolved.config["train"]["seed"],
        zoo_root=schema.zoo_root_of(session.zoo_root))
    return RunPlan(request, resolved, device, data_root, recipe=planned, run_id=run_id)


def _run_recipe(planned: RunPlan, session: Session) -> records.RunRecord:
    """Run a planned recipe: its record, the command under modelzoo, the final record."""
    from modelzoo.measure.power_readers import visible_cards
    from modelzoo.recipe.runner import run_recipe

    request, runs_dir, run_id = planned.request, session.runs_dir, planned.run_id
    run_dir = runs_dir / run_id
    with _recorded_run(run_dir, request.model, created=True):
        record = _fresh_record(session, planned, run_id, request.cards, planned.device, run_dir)
        records.save(record, runs_dir)
        session.say(f"run {run_id}: recipe {request.model} on {_workers(request.cards, planned.device)}: "
                    f"{planned.recipe.text}; record in {run_dir}")
        return run_recipe(record, planned.recipe, run_dir=run_dir, runs_dir=runs_dir, device=planned.device,
                          devices=visible_cards(request.cards) if planned.device == "cuda" else [],
                          max_steps=request.max_steps or planned.config["train"]["max_steps"] or None,
                          cache_dir=session.cache_dir, say=session.say)


def _resumed_run(request: RunRequest, session: Session) -> tuple[dict, Resolved]:
    """The interrupted run a resume continues, checked, with its recorded config."""
    resumed = records.find(session.runs_dir, request.resume)
    model = request.model
    if resumed.get("model") != model:
        raise UserError(f"run {resumed['run_id']} is a run of '{resumed.get('model')}', not '{model}'; "
                        f"resume it with 'modelzoo run {resumed.get('model')} --resume {resumed['run_id']}'")
    records.check_resumable(resumed)
    if request.overrides or request.profile or request.seed is not None or request.repeat:
        raise UserError("--resume continues a run with its recorded config and seed; drop "
                        "--set/--profile/--seed/--repeat (only --max-steps may change)")
    if request.device not in (None, "auto", resumed["device"]):
        raise UserError(f"run {resumed['run_id']} ran on {resumed['device']}; resume it there (drop --device)")
    if request.cards != resumed["cards"]:
        raise UserError(f"run {resumed['run_id']} ran on {resumed['cards']} card(s); resume it with "
                        f"--cards {resumed['cards']}")
    spec = session.registry().model(model)
    config, overrides = resumed["config"], dict(resumed.get("overrides") or {})
    if request.max_steps:  # safe to change: the data order and every step before the cap stay the same
        config["train"]["max_steps"] = request.max_steps
        overrides["train.max_steps"] = request.max_steps
        resumed.update(config=config, overrides=overrides)
    return resumed, Resolved(spec, resumed["profile"], config, overrides)


def run_request(request: RunRequest, session: Session) -> Optional[records.RunRecord]:
    """:func:`run` for a ready :class:`RunRequest`.

    Stop signals, one behaviour from the first line to the last: SIGTERM stops the run as Ctrl-C
    does. Once the run's record exists, either raises :class:`RunStopped` with the
    ``interrupted`` record (the trainer checkpoints first where it can); before that, a plain
    :class:`~modelzoo.toolkit.stopping.Stopped` (nothing was written)."""
    with stopping.stop_signals_raise():
        return _run_request(request, session)


def _run_request(request: RunRequest, session: Session) -> Optional[records.RunRecord]:
    from modelzoo.train import distributed, launch

    planned = plan_request(request, session)
    if planned.recipe is not None:
        return _run_recipe(planned, session)
    resumed, device, profile, config = planned.resumed, planned.device, planned.profile, planned.config
    outer = distributed.under_outer_launcher()
    place = distributed.topology()
    cards = place.world_size if outer else request.cards
    runs_dir = session.runs_dir
    run_id = resumed["run_id"] if resumed else records.new_run_id(request.model, profile, cards)
    if outer:
        distributed.init_process_group(device)
        run_id = launch.share_run_id(run_id)
    zoo = session.zoo()
    job = launch.Job(run_id=run_id, model=request.model, profile=profile, config=config,
                     data_root=str(planned.data_root), cache_dir=str(session.cache_dir), runs_dir=str(runs_dir),
                     device=device, seed=config["train"]["seed"], resume=bool(resumed), debug=session.debug,
                     target=zoo.models[request.model].target if request.model in zoo.models else None)
    if not place.is_main:
        launch.launch(job, cards)
        return None
    run_dir = runs_dir / run_id
    watch = stopping.SignalWatch()  # which signal stopped the run, whichever handler took it
    try:
        return _run_main(request, session, planned, job, run_dir, cards, watch)
    finally:
        watch.close()


def _run_main(request: RunRequest, session: Session, planned: RunPlan, job, run_dir: Path, cards: int,
              watch: stopping.SignalWatch) -> records.RunRecord:
    """Rank 0's part of :func:`run_request`: the record, the workers, and the one way a stop ends."""
    from modelzoo.train import launch

    resumed, device, runs_dir, run_id = planned.resumed, planned.device, session.runs_dir, job.run_id
    with _recorded_run(run_dir, request.model, created=not resumed, watch=watch):
        if resumed:
            record = records.mark_running(resumed, resume=True)
        else:
            record = _fresh_record(session, planned, run_id, cards, device, run_dir)
        records.save(record, runs_dir)
        session.say(f"run {run_id}: {request.model} ({planned.profile}) on {_workers(cards, device)}; "
                    f"record in {run_dir}")
        record = launch.launch(job, cards)
    if record.get("status") == "interrupted":  # the trainer took the signal and checkpointed
        raise RunStopped(record, _stop_signal(None, watch))
    return record


def _fresh_record(session: Session, planned: RunPlan, run_id: str, cards: int, device: str,
                  run_dir: Path) -> records.RunRecord:
    request = planned.request
    return new_record(session, planned.resolved, run_id=run_id, kind="train", cards=cards, device=device,
                      log=str(run_dir / "train.log"), data_root=str(planned.data_root.resolve()),
                      sweep_id=request.sweep_id, release=request.release, zoo_cell=request.zoo_cell)


def _workers(cards: int, device: str) -> str:
    return f"{cards} {'card' if device == 'cuda' else 'CPU worker'}{'s' if cards > 1 else ''}"


@contextlib.contextmanager
def _recorded_run(run_dir: Path, model: str, created: bool, watch: Optional[stopping.SignalWatch] = None):
    """A run's folder (removed if no record got written) and its lock; a stop signal inside
    becomes :class:`RunStopped` carrying the ``interrupted`` record (run_request turned the
    signals into :class:`~modelzoo.toolkit.stopping.Stopped`)."""
    from modelzoo.store.runlock import run_lock

    with _run_folder(run_dir, created=created), run_lock(run_dir):
        try:
            yield
        except KeyboardInterrupt as exc:
            stopped = _stopped_record(run_dir, model, exc)
            if stopped is None:
                raise
            raise RunStopped(stopped, _stop_signal(exc, watch)) from exc


def _stop_signal(exc: Optional[BaseException], watch: Optional[stopping.SignalWatch]) -> int:
    return (getattr(exc, "signum", None) or (watch.received() if watch else None) or stopping.last_received()
            or signal.SIGINT)


def _stopped_record(run_dir: Path, model: str, exc: BaseException) -> Optional[dict]:
    """The record of a run a signal stopped: the worker's own, or written here when the signal
    came before the worker could (its start-up). ``None`` when there is no record to speak of."""
    try:
        record = records.load(run_dir)
    except UserError:
        return None
    status = records.effective_status(record)
    if status == "interrupted":
        return record
    if status == "lost" or (status == "running" and records.owned_here(record)):
        records.mark_failed(record, exc if str(exc) else KeyboardInterrupt("stopped by a signal"))
        if (run_dir / records.CHECKPOINT_FILE).is_file():
            record["error"] = f"stopped by a signal; resume with 'modelzoo run {model} --resume {record['run_id']}'"
        records.save(record, run_dir.parent)
        return record
    return None


@contextlib.contextmanager
def _run_folder(run_dir: Path, created: bool):
    """A new run's folder; removed again if the run could not even write its first record
    (a full disk, or a stop signal, at start must not leave an empty folder behind)."""
    if created:
        run_dir.mkdir(parents=True, exist_ok=False)
    try:
        yield
    except (records.WriteFailed, KeyboardInterrupt):
        if created and not (run_dir / records.RECORD_FILE).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


# --- Sweeps -------------------------------------------------------------------------------

@dataclass
class SweepResult:
    sweep_id: str
    key: str
    values: list[str]
    members: list[dict]                 # the member runs' final records, in value order
    summary: Optional[dict] = None      # the summary record (None when stopped or nothing ran)
    stopped: Optional[dict] = None      # the member record a stop signal ended the sweep on
    stopped_by: Optional[int] = None    # that signal (SIGINT or SIGTERM)


def sweep_members(request: RunRequest, spec: str, session: Session) -> tuple[str, list[str], list[RunRequest]]:
    """``KEY=1..10`` or ``KEY=a,b`` over ``request``: (key, values, one request per value)."""
    from modelzoo.train.distributed import under_outer_launcher
    from modelzoo.zoo import sweep as sweeps
    from modelzoo.zoo.zoofile import default_profile

    key, values = sweeps.parse_sweep(spec)
    if request.resume:
        raise UserError("--sweep and --resume do not combine; resume the interrupted member run by its id")
    if under_outer_launcher():
        raise UserError("--sweep is not available under an outer launcher; start one job per value")
    profile = request.profile or default_profile(session.registry().model(request.model), session.zoo())
    sweep_id = records.new_run_id(request.model, profile, request.cards) + "-sweep"
    if isinstance(request.overrides, Mapping):
        from modelzoo.zoo.zoofile import set_value  # a swept value reads as --set reads it

        members = [replace(request, overrides={**request.overrides, key: set_value(value)}, sweep_id=sweep_id)
                   for value in values]
    else:
        members = [replace(request, overrides=[*request.overrides, f"{key}={value}"], sweep_id=sweep_id)
                   for value in values]
    return key, values, members


def sweep(model: str, spec: str, *, session: Optional[Session] = None,
          on_member: Callable[[dict], None] = lambda record: None, **options) -> SweepResult:
    """One run per value of ``spec`` (``KEY=A..B`` or ``KEY=a,b``), then a summary record with
    each metric's mean+-std over the runs. ``on_member`` sees each member's final record;
    a stop signal ends the sweep (``stopped``)."""
    from modelzoo.zoo import sweep as sweeps

    session = session_or_default(session)
    key, values, members = sweep_members(RunRequest(model, **options), spec, session)
    sweep_id = members[0].sweep_id
    done = []
    for member in members:
        try:
            record = run_request(member, session)
        except RunStopped as stop:  # a signal stops the sweep, not only this member
            on_member(stop.record)
            return SweepResult(sweep_id, key, values, done, stopped=stop.record, stopped_by=stop.signum)
        on_member(record)
        done.append(record)
    summary = sweeps.summarize(sweep_id, key, values, done)
    records.save(summary, session.runs_dir)
    return SweepResult(sweep_id, key, values, done, summary=summary)
