"""The plugin contract: every hook a model plugin may implement.

A plugin is a module (or object) registered under the entry-point group ``modelzoo``::

    [project.entry-points.modelzoo]
    facenet = "modelzoo_facenet.plugin"

and decorates its functions with ``modelzoo.hookimpl``. Hooks are called with keyword
arguments only. Per-run hooks receive a :class:`~modelzoo.api.RunContext`; a plugin
answers only for the models it declared (``context.model``) and returns ``None``
otherwise, so ``firstresult`` hooks reach the plugin that owns the model.

The data flows one way: the core resolves a profile into ``context.config``, then asks
the plugin for data, model and loss, trains, and asks the plugin to evaluate. A plugin
knows nothing of the CLI, the launcher or the record format.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import pluggy

from modelzoo.api import EvalResult, ModelSpec, PrepareResult, RunContext, TrainData

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import torch

hookspec = pluggy.HookspecMarker("modelzoo")


# --- Declaration ---------------------------------------------------------------------

@hookspec
def modelzoo_models() -> list[ModelSpec]:
    """Declare the models this plugin provides.

    Called once at start-up, without torch imported: keep it cheap and import nothing
    heavy. Returns the plugin's :class:`ModelSpec` list (name, description, metric
    columns, built-in profiles, default profile).
    """


@hookspec
def modelzoo_environment() -> dict[str, Any]:
    """Add facts to every run record's ``env`` section (e.g. a vendor SDK version).

    Results of all plugins are merged; later keys do not overwrite the core's.
    """


# --- Data preparation -----------------------------------------------------------------

@hookspec(firstresult=True)
def modelzoo_prepare_arguments(model: str, parser: argparse.ArgumentParser) -> Optional[bool]:
    """Add the options of ``modelzoo prepare MODEL`` to ``parser``.

    Return ``True`` when this plugin owns ``model``. The core adds ``--data-root`` and
    ``--debug`` itself.
    """


@hookspec(firstresult=True)
def modelzoo_prepare(model: str, options: dict[str, Any], data_root: Path) -> Optional[PrepareResult]:
    """Build the model's data sets under ``data_root`` from raw inputs.

    ``options`` holds the parsed values of the options added by
    :func:`modelzoo_prepare_arguments`. Must be resumable and write each output
    atomically. Raise :class:`~modelzoo.api.UserError` for bad input.
    """


@hookspec(firstresult=True)
def modelzoo_check_data(context: RunContext) -> Optional[list[str]]:
    """Say what data a run with this config needs and whether it is there.

    Returns a list of human-readable problems (empty when everything is present); the
    core turns the first into a one-line error before any worker starts. Used by
    ``modelzoo run`` (and ``--dry-run``) so a missing data set fails in a second, not
    after the launcher has started N processes.
    """


# --- One run --------------------------------------------------------------------------

@hookspec(firstresult=True)
def modelzoo_train_data(context: RunContext) -> Optional[TrainData]:
    """Return the training data: dataset, sampler, on-device transform, identity.

    Samplers must be sharded for ``context.rank`` / ``context.world_size``. May generate
    data (synthetic profiles) under ``context.cache_dir``: rank 0 writes, then every rank
    calls ``context.barrier()`` before reading.
    """


@hookspec(firstresult=True)
def modelzoo_build_model(context: RunContext, num_classes: int) -> Optional["torch.nn.Module"]:
    """Return the network, on the CPU, in training mode.

    Its ``forward(inputs)`` output is what :func:`modelzoo_build_loss`'s module takes.
    """


@hookspec(firstresult=True)
def modelzoo_build_loss(context: RunContext, num_classes: int) -> Optional["torch.nn.Module"]:
    """Return the loss module: ``forward(outputs, targets) -> scalar tensor``.

    It may hold trainable parameters (a classifier, class centres); the core trains them
    with the network's and saves them in checkpoints.
    """


@hookspec(firstresult=True)
def modelzoo_evaluate(context: RunContext, network: "torch.nn.Module") -> Optional[EvalResult]:
    """Score ``network`` (already on ``context.device``, in eval mode) on the model's benchmark.

    Called on every rank (a plugin may shard the work); only rank 0's result is recorded.
    """


@hookspec(firstresult=True)
def modelzoo_load_weights(context: RunContext, path: Path) -> Optional["torch.nn.Module"]:
    """Build the network and load a weights file into it, for ``modelzoo eval``.

    Accepts the core's own checkpoints (``{"model": state_dict, ...}``) and any foreign
    format the plugin knows (e.g. published state dicts). Use
    ``torch.load(..., weights_only=True)``.
    """


@hookspec(firstresult=True)
def modelzoo_export(context: RunContext, network: "torch.nn.Module", fmt: str, output: Path) -> Optional[str]:
    """Export ``network`` to ``fmt`` (``onnx`` or ``torchscript``) at ``output``.

    Must check that the exported model reproduces the network's outputs on a few inputs
    and return a one-line summary of the check.
    """
