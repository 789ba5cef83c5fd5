"""What is installed and how to get its data: :func:`list_models` and :func:`prepare`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from modelzoo.app.resolve import plugin_info
from modelzoo.app.session import Session
from modelzoo.contract.api import UserError
from modelzoo.toolkit.runtime import writable_dir
from modelzoo.zoo.zoofile import profile_names


@dataclass
class Catalog:
    models: list[dict]                                  # one row per installed model, by name
    missing: list[str] = field(default_factory=list)    # in zoo.yaml, but their plugin is not installed
    warnings: list[str] = field(default_factory=list)   # plugins that failed to load


def list_models(session: Optional[Session] = None) -> Catalog:
    """The installed models with their plugin, profiles (default marked), metrics and references."""
    session = session or Session()
    registry, zoo = session.registry(), session.zoo()
    rows = []
    for name, spec in sorted(registry.models.items()):
        zoo_model = zoo.models.get(name)
        rows.append({
            "model": name, "description": spec.description,
            "plugin": plugin_info(session, name),
            "profiles": profile_names(spec, zoo),
            "default_profile": (zoo_model.default_profile if zoo_model and zoo_model.default_profile
                                else spec.default_profile),
            "metrics": [c.title for c in spec.metric_columns],
            "references": zoo_model.references if zoo_model else [],
            "recipe": spec.recipe,  # the zoo's own script run under modelzoo, not a re-implementation
        })
    return Catalog(rows, sorted(set(zoo.models) - set(registry.models)), list(registry.warnings))


def add_prepare_options(model: str, parser: argparse.ArgumentParser, session: Optional[Session] = None) -> bool:
    """Add the options of ``model``'s data preparation to ``parser``; False when it has none."""
    hooks = (session or Session()).registry().hooks_for(model)
    return bool(hooks.implements("modelzoo_prepare_arguments")
                and hooks.modelzoo_prepare_arguments(model=model, parser=parser))


def prepare(model: str, options: dict[str, Any], *, data_root: Optional[str | Path] = None,
            session: Optional[Session] = None):
    """Build ``model``'s data sets under ``data_root`` (default: the session's); ``options`` are
    the plugin's (every option :func:`add_prepare_options` adds, by its ``dest``). Returns the
    plugin's result (``summary()`` is its report)."""
    session = session or Session()
    hooks = session.registry().hooks_for(model)
    if not hooks.implements("modelzoo_prepare"):
        raise UserError(f"model '{model}' has no data preparation step")
    root = writable_dir(Path(data_root) if data_root else session.data_root_or_default(), "data root",
                        "--data-root")
    return hooks.modelzoo_prepare(model=model, options=dict(options), data_root=root)
