"""Plugin discovery and the model registry.

Plugins come from the entry-point group ``modelzoo``. A plugin that fails to import
(whatever it raises, ``SystemExit`` included), to validate against the contract, or to
declare its models is reported as a warning naming the plugin and the error; the other
plugins keep working. A model whose plugin was left out says why when it is asked for.
Setting ``MODELZOO_DISABLE_PLUGIN_AUTOLOAD=1`` skips entry points so tests stay hermetic.

The core calls a model's hooks through :meth:`Registry.hooks_for`, which reaches only the
plugin that declared the model (pluggy's ``subset_hook_caller``): a plugin cannot answer
for another's model, and an exception inside a hook is re-raised naming the plugin.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

import pluggy

from modelzoo.contract import hookspecs
from modelzoo.contract.api import ModelSpec, UserError
from modelzoo.contract.settings import with_core_defaults

ENTRY_POINT_GROUP = "modelzoo"
AUTOLOAD_ENV = "MODELZOO_DISABLE_PLUGIN_AUTOLOAD"
# Comma-separated module names registered as plugins without being installed
# (a plugin under development, the tests' toy plugin).
EXTRA_PLUGINS_ENV = "MODELZOO_PLUGINS"


class PluginError(Exception):
    """A plugin's hook raised something other than a UserError: a bug in that plugin.

    Its message already names the plugin, the hook and the original exception's type.
    """

    names_itself = True


@dataclass
class PluginInfo:
    name: str
    version: str
    plugin: Any = None

    def as_dict(self) -> dict:
        """The record's ``plugin`` section: name, version and, for a checkout, its commit."""
        out = {"name": self.name, "version": self.version}
        source = getattr(self.plugin, "__file__", None)
        if source:
            from modelzoo.measure.env import git_state  # light: subprocess only

            state = git_state(Path(source).resolve().parent)
            if state.get("git_commit"):
                out.update(commit=state["git_commit"], dirty=state["git_dirty"])
        return out


class ModelHooks:
    """The hooks of one model's plugin: ``hooks.modelzoo_train_data(context=...)``.

    Each call reaches only that plugin; an exception that is not a UserError comes back
    as a :class:`PluginError` naming the plugin and the hook.
    """

    def __init__(self, manager: pluggy.PluginManager, owner: PluginInfo):
        self._manager = manager
        self.owner = owner
        others = [p for p in manager.get_plugins() if p is not owner.plugin]
        self._callers = {name: manager.subset_hook_caller(name, others)
                         for name in dir(manager.hook) if name.startswith("modelzoo_")}

    def implements(self, hook_name: str) -> bool:
        return any(impl.plugin is self.owner.plugin
                   for impl in getattr(self._manager.hook, hook_name).get_hookimpls())

    def __getattr__(self, hook_name: str):
        caller = self._callers.get(hook_name)
        if caller is None:
            raise AttributeError(hook_name)

        def call(**kwargs):
            try:
                return caller(**kwargs)
            except (UserError, KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:
                raise PluginError(f"plugin '{self.owner.name}' failed in {hook_name}: "
                                  f"{type(exc).__name__}: {exc}") from exc
        return call


@dataclass
class Registry:
    """The plugin manager plus what the plugins declared."""

    manager: pluggy.PluginManager
    models: dict[str, ModelSpec] = field(default_factory=dict)
    owners: dict[str, PluginInfo] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # model -> why it is not usable
    warnings: list[str] = field(default_factory=list)

    def hooks_for(self, model: str) -> ModelHooks:
        self.model(model)
        return ModelHooks(self.manager, self.owners[model])

    def environment_facts(self, model: str) -> dict:
        """What the model's plugin adds to a record's ``env``; a failing hook is a warning."""
        hooks = self.hooks_for(model)
        try:
            return dict(hooks.modelzoo_environment(model=model) or {})
        except (PluginError, UserError) as exc:
            self.warnings.append(f"{exc}; its environment facts are missing from the record")
            return {}

    def model(self, name: str) -> ModelSpec:
        if name in self.models:
            return self.models[name]
        if name in self.unavailable:
            raise UserError(f"model '{name}' is unavailable: {self.unavailable[name]}")
        known = ", ".join(sorted(self.models)) or "none (is a model plugin installed?)"
        raise UserError(f"unknown model '{name}'; known models: {known}")


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("modelzoo")
    manager.add_hookspecs(hookspecs)
    return manager


def _declared_models(registry: Registry, plugin: Any, info: PluginInfo) -> Optional[list]:
    for impl in registry.manager.hook.modelzoo_models.get_hookimpls():
        if impl.plugin is plugin:
            try:
                specs = impl.function()
            except Exception as exc:
                registry.warnings.append(f"plugin '{info.name}' skipped: declaring its models raised "
                                         f"{type(exc).__name__}: {exc}")
                return None
            if not isinstance(specs, (list, tuple)) or not all(isinstance(s, ModelSpec) for s in specs):
                registry.warnings.append(f"plugin '{info.name}' skipped: modelzoo_models must return a "
                                         f"list of ModelSpec, got {type(specs).__name__}")
                return None
            return list(specs)
    return []


def _register(registry: Registry, plugin: Any, info: PluginInfo) -> None:
    """Register one plugin; on any contract problem, warn and leave it (or its model) out."""
    manager = registry.manager
    if any(p is plugin for p in manager.get_plugins()):
        owner = manager.get_name(plugin)
        registry.warnings.append(f"plugin '{info.name}' ignored: its module is already registered "
                                 f"as '{owner}'")
        return
    try:
        manager.register(plugin, name=info.name)
        manager.check_pending()
    except Exception as exc:  # a broken plugin must not take the CLI down
        if manager.is_registered(plugin):
            manager.unregister(plugin)
        registry.warnings.append(f"plugin '{info.name}' skipped: does not satisfy the modelzoo "
                                 f"contract ({exc})")
        return
    specs = _declared_models(registry, plugin, info)
    if specs is None:
        manager.unregister(plugin)
        return
    info.plugin = plugin
    missing = [name for name in hookspecs.REQUIRED
               if not any(impl.plugin is plugin for impl in getattr(manager.hook, name).get_hookimpls())]
    for spec in specs:
        name = spec.name
        problems = spec.problems()
        if name in registry.models:
            registry.warnings.append(f"model '{name}' from plugin '{info.name}' ignored: already provided "
                                     f"by '{registry.owners[name].name}'")
            continue
        if problems:
            reason = f"plugin '{info.name}' declares it wrongly ({'; '.join(problems)})"
            registry.warnings.append(f"model '{name}' skipped: {reason}")
            registry.unavailable[str(name)] = reason
            continue
        if missing and not spec.recipe:  # a recipe is a command, not the hooks
            registry.warnings.append(f"plugin '{info.name}' declares model '{name}' but does not "
                                     f"implement {', '.join(missing)}; its runs will fail")
        # The core's defaults under every profile: plugins name only what they change.
        registry.models[name] = dataclasses.replace(
            spec, profiles={key: with_core_defaults(value) for key, value in spec.profiles.items()})
        registry.owners[name] = info


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def _import(registry: Registry, load, label: str) -> Any:
    """Import a plugin; anything it raises (even SystemExit) becomes a warning."""
    try:
        return load()
    except BaseException as exc:  # noqa: BLE001 - a plugin's sys.exit() must not end the CLI
        if isinstance(exc, KeyboardInterrupt):
            raise
        registry.warnings.append(f"{label} failed to import: {type(exc).__name__}: {exc}")
        return None


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
            plugin = _import(registry, entry_point.load, f"plugin '{info.name}' ({entry_point.value})")
            if plugin is not None:
                _register(registry, plugin, info)
    for module_name in filter(None, os.environ.get(EXTRA_PLUGINS_ENV, "").split(",")):
        module_name = module_name.strip()
        plugin = _import(registry, lambda m=module_name: importlib.import_module(m),
                         f"plugin '{module_name}' (from ${EXTRA_PLUGINS_ENV})")
        if plugin is not None:
            _register(registry, plugin, PluginInfo(module_name, getattr(plugin, "__version__", "unknown")))
    for plugin, info in extra_plugins:
        _register(registry, plugin, info)
    return registry
