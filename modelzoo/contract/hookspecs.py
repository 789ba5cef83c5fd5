"""The plugin contract: every hook a model plugin may implement.

A plugin is a module (or object) registered under the entry-point group ``modelzoo``::

    [project.entry-points.modelzoo]
    facenet = "modelzoo_facenet.plugin"

and decorates its functions with ``modelzoo.hookimpl``. Hooks are called with keyword
arguments only.

**Per-model hooks** (everything but :func:`modelzoo_models`) are called only on the
plugin that declared the model: the core dispatches by model, so a plugin never tests
``context.model`` to stay out of another plugin's way (a plugin with several models
reads it to tell its own apart). Of these, a plugin that declares a model must implement
the :data:`REQUIRED` hooks; the others are optional and the core says plainly when a
verb needs one that is missing. An exception raised inside a hook names the plugin.

The data flows one way: the core resolves a profile into ``context.config`` (the
plugin's values over the core's defaults), asks the plugin for data, model and loss,
trains, and asks the plugin to evaluate. A plugin knows nothing of the CLI, the
launcher or the record format. docs/WRITING_A_PLUGIN.md walks through a plugin.

**Recipes.** A model may instead be a *recipe*: the zoo's own training script, run as an
external command and measured from outside (:mod:`modelzoo.recipe`). A plugin declares one
by returning, from :func:`modelzoo_models`, a :class:`ModelSpec` with ``recipe=True`` whose
profiles each hold a ``recipe`` section (the keys of :data:`modelzoo.recipe.schema.DEFAULTS`:
workdir, command, env, timeout, grace, setup, vars, samples_per_iteration, parse, ...); such a
model needs none of the :data:`REQUIRED` hooks and none is called for it. The core's built-in
plugin ``modelzoo-recipes`` (:mod:`modelzoo.recipe.declare`) does exactly this for every
zoo.yaml model with a ``recipe:`` block, so a zoo maintainer needs no code at all
(docs/WRITING_A_RECIPE.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import pluggy

from modelzoo.contract.api import EvalResult, ModelSpec, PrepareResult, RunContext, TrainData

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import torch

hookspec = pluggy.HookspecMarker("modelzoo")

# Per-model hooks a plugin must implement for each model it declares (checked when the
# plugin registers: a missing one is a warning naming the plugin).
REQUIRED = ("modelzoo_train_data", "modelzoo_build_model", "modelzoo_build_loss", "modelzoo_evaluate")


# --- Declaration ---------------------------------------------------------------------

@hookspec
def modelzoo_models() -> list[ModelSpec]:
    """Declare the models this plugin provides. Required.

    Called once at start-up, without torch imported: keep it cheap and import nothing
    heavy. Returns the plugin's :class:`ModelSpec` list (name, description, metric
    columns, curves, throughput unit, result table, built-in profiles, default profile).
    """


@hookspec(firstresult=True)
def modelzoo_environment(model: str) -> Optional[dict[str, Any]]:
    """Optional. Facts for the ``env`` section of ``model``'s run records (e.g. a vendor
    library's version). Keys the core already sets are not overwritten. The plugin's own
    version and source commit are recorded by the core."""


# --- Data preparation -----------------------------------------------------------------

@hookspec(firstresult=True)
def modelzoo_prepare_arguments(model: str, parser: argparse.ArgumentParser) -> Optional[bool]:
    """Optional. Add the options of ``modelzoo prepare MODEL`` to ``parser``; return ``True``.

    The core adds ``--data-root`` and ``--debug`` itself. Without this hook the model
    has no preparation step.
    """


@hookspec(firstresult=True)
def modelzoo_prepare(model: str, options: dict[str, Any], data_root: Path) -> Optional[PrepareResult]:
    """Optional (with :func:`modelzoo_prepare_arguments`). Build the model's data sets
    under ``data_root`` from raw inputs.

    ``options`` holds the parsed values of the options added by
    :func:`modelzoo_prepare_arguments`. Must be resumable and write each output
    atomically. Raise :class:`~modelzoo.contract.api.UserError` for bad input.
    """


@hookspec(firstresult=True)
def modelzoo_check_data(context: RunContext) -> Optional[list[str]]:
    """Optional. Say whether the data a run with this config needs is there.

    Returns human-readable problems (empty when everything is present); the core turns
    the first into a one-line error before any worker starts, so a missing data set
    fails in a second, not after the launcher has started N processes.
    """


# --- One run --------------------------------------------------------------------------

@hookspec(firstresult=True)
def modelzoo_train_data(context: RunContext) -> Optional[TrainData]:
    """Required. The training data: dataset, sampler, batch structure, identity.

    Called on every rank. Samplers must be sharded for ``context.rank`` /
    ``context.world_size``. May generate data (synthetic profiles) under
    ``context.cache_dir``: rank 0 writes, then every rank calls ``context.barrier()``
    before reading.
    """


@hookspec(firstresult=True)
def modelzoo_build_model(context: RunContext, data: TrainData) -> Optional[torch.nn.Module]:
    """Required. The network, on the CPU, in training mode.

    ``data`` is this run's :class:`TrainData` (its ``info`` carries what the plugin put
    there, e.g. the number of classes). ``forward(data.inputs_of(batch))`` returns what
    :func:`modelzoo_build_loss`'s module takes.
    """


@hookspec(firstresult=True)
def modelzoo_build_loss(context: RunContext, data: TrainData) -> Optional[torch.nn.Module]:
    """Required. The loss: ``forward(outputs, data.targets_of(batch)) -> scalar tensor``.

    It may hold trainable parameters (a classifier, class centres); the core trains them
    with the network's and saves them in checkpoints.
    """


@hookspec(firstresult=True)
def modelzoo_evaluate(context: RunContext, network: torch.nn.Module) -> Optional[EvalResult]:
    """Required. Score ``network`` (on ``context.device``, in eval mode, under no_grad)
    on the model's benchmark.

    The core calls it on rank 0 only, at the end of training and every
    ``train.eval_every_epochs``; the other ranks wait for it. A plugin never needs a
    barrier here (one would pair with another rank's next collective and hang the job).
    The metrics should hold every key of the model's metric columns: a missing one is
    recorded as a warning and shown in the report.
    """


@hookspec(firstresult=True)
def modelzoo_load_weights(context: RunContext, state: dict, path: Path) -> Optional[torch.nn.Module]:
    """Optional (``modelzoo eval`` and ``export`` need it). Build the network and load
    ``state`` into it.

    The core has read ``path`` safely (``torch.load(..., weights_only=True)``) and
    refused files that are not checkpoints; ``state`` is what it held: one of the core's
    own checkpoints (``{"model": network state dict, "loss": ..., ...}``) or a foreign
    format the plugin knows (a published state dict). Raise UserError when it does not
    fit the model, naming the setting that would make it fit.
    """


@hookspec(firstresult=True)
def modelzoo_export(context: RunContext, network: torch.nn.Module, fmt: str, output: Path) -> Optional[str]:
    """Optional. Export ``network`` to ``fmt`` (``onnx`` or ``torchscript``) at ``output``.

    Must check that the exported model reproduces the network's outputs on a few inputs
    and return a one-line summary of the check: :func:`modelzoo.toolkit.export.export_module` does
    all of it (temporary file, reload, comparison, rename) for a module and example inputs.
    """
