"""Plugin discovery and the model registry.

Plugins come from the entry-point group ``modelzoo``. A plugin that fails to import, to
validate against the contract, or to declare its models is reported as a warning naming
the plugin and the error; the other plugins keep working. Setting
``MODELZOO_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points so tests stay hermetic.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Iterable, Optional

import pluggy

from modelzoo import hookspecs
from modelzoo.api import ModelSpec, UserError

ENTRY_POINT_GROUP = "modelzoo"
AUTOLOAD_ENV = "MODELZOO_DISABLE_PLUGIN_AUTOLOAD"
# Comma-separated module names registered as plugins without being installed
# (a plugin under development, the tests' toy plugin).
EXTRA_PLUGINS_ENV = "MODELZOO_PLUGINS"


@dataclass
class PluginInfo:
    name: str
    version: str


@dataclass
class Registry:
    """The plugin manager plus what the plugins declared."""

    manager: pluggy.PluginManager
    models: dict[str, ModelSpec] = field(default_factory=dict)
    owners: dict[str, PluginInfo] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def hook(self):
        return self.manager.hook

    def environment_facts(self) -> dict:
        """What the plugins add to a record's ``env`` (merged; the first plugin wins a key)."""
        facts: dict = {}
        for answer in self.manager.hook.modelzoo_environment():
            for key, value in (answer or {}).items():
                facts.setdefault(key, value)
        return facts

    def model(self, name: str) -> ModelSpec:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "none (is a model plugin installed?)"
            raise UserError(f"unknown model '{name}'; known models: {known}")
        return self.models[name]


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("modelzoo")
    manager.add_hookspecs(hookspecs)
    return manager


def _register(registry: Registry, plugin: Any, info: PluginInfo) -> None:
    """Register one plugin; on any contract problem, warn and leave it out."""
    manager = registry.manager
    try:
        manager.register(plugin, name=info.name)
        manager.check_pending()
    except Exception as exc:  # a broken plugin must not take the CLI down
        if manager.is_registered(plugin):
            manager.unregister(plugin)
        registry.warnings.append(f"plugin '{info.name}' skipped: does not satisfy the modelzoo "
                                 f"contract ({exc})")
        return
    for impl in manager.hook.modelzoo_models.get_hookimpls():
        if impl.plugin is not plugin:
            continue
        try:
            specs = impl.function()
        except Exception as exc:
            manager.unregister(plugin)
            registry.warnings.append(f"plugin '{info.name}' skipped: declaring its models raised "
                                     f"{type(exc).__name__}: {exc}")
            return
        for spec in specs or []:
            if spec.name in registry.models:
                registry.warnings.append(
                    f"model '{spec.name}' from plugin '{info.name}' ignored: already provided by "
                    f"'{registry.owners[spec.name].name}'")
                continue
            registry.models[spec.name] = spec
            registry.owners[spec.name] = info


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_registry(extra_plugins: Iterable[tuple[Any, PluginInfo]] = (),
                  autoload: Optional[bool] = None) -> Registry:
    """Discover plugins (entry points unless disabled) and collect their models."""
    registry = Registry(manager=_new_manager())
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_ENV, "") in ("", "0")
    if autoload:
        for entry_point in _entry_points():
            dist = entry_point.dist
            info = PluginInfo(name=dist.name if dist else entry_point.name,
                              version=dist.version if dist else "unknown")
            try:
                plugin = entry_point.load()
            except Exception as exc:
                registry.warnings.append(f"plugin '{info.name}' ({entry_point.value}) failed to import: "
                                         f"{type(exc).__name__}: {exc}")
                continue
            _register(registry, plugin, info)
    for module_name in filter(None, os.environ.get(EXTRA_PLUGINS_ENV, "").split(",")):
        module_name = module_name.strip()
        try:
            plugin = importlib.import_module(module_name)
        except Exception as exc:
            registry.warnings.append(f"plugin '{module_name}' (from ${EXTRA_PLUGINS_ENV}) failed to "
                                     f"import: {type(exc).__name__}: {exc}")
            continue
        _register(registry, plugin, PluginInfo(module_name, getattr(plugin, "__version__", "unknown")))
    for plugin, info in extra_plugins:
        _register(registry, plugin, info)
    return registry
