"""From a model name and a caller's choices to a checked config, a run context and a new record.

One home for what ``run``, ``eval`` and ``export`` share: the profile resolved against
zoo.yaml, the caller's overrides applied with the profile's key and type checks, and the
record a run starts with (what ran, with what, and how to read its numbers).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from modelzoo.app.session import Session
from modelzoo.contract.api import ModelSpec, RunContext, UserError
from modelzoo.contract.settings import CoreSettings
from modelzoo.store import records
from modelzoo.zoo.release import RELEASE_ENV
from modelzoo.zoo.zoofile import apply_sets, apply_values, resolve_profile

Overrides = Union[Sequence[str], Mapping[str, object]]
"""``["train.batch_size=64"]`` (values read as YAML, as ``--set``) or ``{"train.batch_size": 64}``."""


@dataclass
class Resolved:
    """A model's profile, fully resolved and checked."""
    spec: ModelSpec
    profile: str
    config: dict
    overrides: dict  # what the caller changed, as the record shows it


def resolve(session: Session, model: str, profile: Optional[str] = None, overrides: Overrides = (),
            seed: Optional[int] = None, max_steps: Optional[int] = None,
            repeat: Optional[int] = None) -> Resolved:
    """The config a run of ``model`` uses; UserError naming the bad key or value."""
    spec = session.registry().model(model)
    profile, config = resolve_profile(spec, session.zoo(), profile)
    if isinstance(overrides, Mapping):
        applied = apply_values(config, dict(overrides))
    elif isinstance(overrides, (list, tuple)) and all(isinstance(item, str) for item in overrides):
        applied = apply_sets(config, list(overrides))
    else:
        raise UserError(f"overrides {overrides!r}: pass a list of KEY=VALUE strings or a mapping")
    train = config["train"]
    for key, value in (("seed", seed), ("max_steps", max_steps), ("repeat", repeat)):
        if value is not None:
            train[key] = value
    CoreSettings.from_config(config)  # a bad value fails here, before any run folder exists
    return Resolved(spec, profile, config, applied)


def run_context(session: Session, model: str, profile: str, config: dict, device: str, run_dir: Path,
                data_root: Optional[Path] = None) -> RunContext:
    return RunContext(model=model, profile=profile, config=config,
                      data_root=Path(data_root or session.data_root_or_default()), cache_dir=session.cache_dir,
                      run_dir=run_dir, device=device, seed=config["train"]["seed"])


def check_data(session: Session, context: RunContext) -> None:
    """The plugin's data check; its first problem as a UserError (the fix is in its text)."""
    problems = session.registry().hooks_for(context.model).modelzoo_check_data(context=context)
    if problems:
        raise UserError(problems[0])


def plugin_info(session: Session, model: str) -> dict:
    return session.registry().owners[model].as_dict()


def new_record(session: Session, resolved: Resolved, *, run_id: str, kind: str, cards: int, device: str,
               log: Optional[str], release: Optional[str] = None, zoo_cell: Optional[dict] = None,
               **extra) -> records.RunRecord:
    """A run's record as it starts."""
    spec, config = resolved.spec, resolved.config
    record = records.new_record(
        run_id=run_id, kind=kind, model=spec.name, model_title=spec.title,
        plugin=plugin_info(session, spec.name), profile=resolved.profile, config=config,
        overrides=resolved.overrides, cards=cards, world_size=cards, device=device, seed=config["train"]["seed"],
        metric_columns=[c.as_dict() for c in spec.metric_columns], log=log,
        throughput_unit=spec.throughput_unit, curve_specs=[c.as_dict() for c in spec.curves], **extra)
    record["result_table"] = spec.table.as_dict()
    record["release"] = release or os.environ.get(RELEASE_ENV)
    if zoo_cell:  # a cell of `modelzoo zoo run`: how it finds the run again
        record["zoo_cell"] = zoo_cell
    return record
