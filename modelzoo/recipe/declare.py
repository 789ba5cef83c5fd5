"""The built-in plugin that declares zoo.yaml's recipes as models.

Every zoo.yaml model with a ``recipe:`` block becomes a model of the plugin
``modelzoo-recipes``: a :class:`~modelzoo.contract.api.ModelSpec` with ``recipe=True``,
one built-in profile ``recipe`` holding the block's run settings (so zoo.yaml profiles and
``--set recipe.vars.batch_size=64`` override them with the usual key and type checks),
the block's ``metrics`` as result columns, and curves for the parsed loss and throughput.
The block is checked here: a problem is one line naming its zoo.yaml line.
"""

from __future__ import annotations

from typing import Any

from modelzoo import __version__, hookimpl
from modelzoo.contract.api import THROUGHPUT_UNITS, CurveSpec, ModelSpec, UserError
from modelzoo.contract.plugins import PluginInfo
from modelzoo.recipe import schema
from modelzoo.zoo.zoofile import Zoo

PLUGIN_NAME = "modelzoo-recipes"
PROFILE = "recipe"
CURVES = (
    CurveSpec("loss", x="step", y="loss", title="Training loss (parsed from the recipe's output)",
              x_label="step", y_label="loss"),
    CurveSpec("throughput", x="step", y="fps", title="Throughput measured by modelzoo (line arrival times)",
              x_label="step", y_label="samples/s"),
)


def where_in(zoo: Zoo, model: str):
    """``zoo.yaml:LINE: models.NAME.recipe.KEY`` for a key path inside a model's recipe block."""
    def where(path: tuple) -> str:
        full = ("models", model, "recipe", *path)
        return f"{zoo.where(full)}: {zoo.dotted(full)}"
    return where


def recipe_spec(zoo: Zoo, name: str, block: Any, description: str) -> ModelSpec:
    """The ModelSpec of one zoo.yaml recipe, its block checked."""
    where = where_in(zoo, name)
    if not isinstance(block, dict):
        raise UserError(f"{where(())}: expected a mapping (workdir, command, parse, metrics, ...)")
    section = schema.section_with_defaults(block)
    schema.check_section(section, where)
    unit = block.get("unit", "images/s")
    if unit not in THROUGHPUT_UNITS:
        raise UserError(f"{where(('unit',))}: unknown unit {unit!r}; use one of {', '.join(THROUGHPUT_UNITS)}")
    return ModelSpec(name=name, description=description or f"zoo recipe: {section['command']}",
                     metric_columns=schema.columns(block, where), profiles={PROFILE: {"recipe": section}},
                     default_profile=PROFILE, display_name=name, throughput_unit=unit, curves=CURVES, recipe=True)


class ZooRecipes:
    """A plugin object whose ``modelzoo_models`` are the zoo file's recipes."""

    def __init__(self, specs: list[ModelSpec]):
        self.specs = specs

    @hookimpl
    def modelzoo_models(self) -> list[ModelSpec]:
        return list(self.specs)


def recipe_plugins(zoo: Zoo) -> list[tuple[ZooRecipes, PluginInfo]]:
    """The plugin (with its info) to register for ``zoo``'s recipes; empty when it has none."""
    specs = [recipe_spec(zoo, name, model.recipe, model.description)
             for name, model in zoo.models.items() if model.recipe is not None]
    return [(ZooRecipes(specs), PluginInfo(PLUGIN_NAME, __version__))] if specs else []
