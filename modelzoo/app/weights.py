"""Score or export a weights file: :func:`evaluate` (``modelzoo eval``) and :func:`export`.

Both load the weights through the model's plugin (``torch.load(weights_only=True)`` first,
so a file is never unpickled as code). ``evaluate`` writes an ``eval`` record as a run does.
A stop signal (Ctrl-C, SIGTERM) inside either raises
:class:`~modelzoo.toolkit.stopping.Stopped`, as it does in ``run``: an evaluation's record
says ``interrupted``; the caller's signal handlers come back afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from modelzoo.app.resolve import Overrides, new_record, resolve, run_context
from modelzoo.app.session import Session, session_or_default
from modelzoo.contract.api import UserError
from modelzoo.store import records
from modelzoo.toolkit import stopping
from modelzoo.toolkit.runtime import choose_device, writable_dir

EXPORT_SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}


def _load_network(session: Session, model: str, weights: Path, context):
    from modelzoo.train.checkpoint import read_state

    state = read_state(weights)
    hooks = session.registry().hooks_for(model)
    if not hooks.implements("modelzoo_load_weights"):
        raise UserError(f"the plugin of '{model}' cannot load weights files")
    network = hooks.modelzoo_load_weights(context=context, state=state, path=weights)
    return network.to(context.device).eval()


def evaluate(model: str, weights: str | Path, *, session: Optional[Session] = None, profile: Optional[str] = None,
             overrides: Overrides = (), seed: Optional[int] = None,
             device: Optional[str] = None) -> records.RunRecord:
    """Score ``weights`` on ``model``'s benchmark; the ``eval`` record (also saved in the runs folder)."""
    with stopping.stop_signals_raise():
        return _evaluate(model, weights, session, profile, overrides, seed, device)


def _evaluate(model: str, weights: str | Path, session: Optional[Session], profile: Optional[str],
              overrides: Overrides, seed: Optional[int], device: Optional[str]) -> records.RunRecord:
    session = session_or_default(session)
    registry = session.registry()
    resolved = resolve(session, model, profile, overrides, seed)
    device = choose_device(device or "auto")
    runs_dir = writable_dir(session.runs_dir, "runs directory", "--runs-dir")
    run_id = records.new_run_id(model, resolved.profile, 1, kind="eval")
    record = new_record(session, resolved, run_id=run_id, kind="eval", cards=1, device=device, log=None,
                        weights=str(Path(weights).resolve()))
    try:
        import torch

        from modelzoo.measure import env as envinfo

        context = run_context(session, model, resolved.profile, resolved.config, device, runs_dir / run_id)
        network = _load_network(session, model, Path(weights), context)
        with torch.no_grad():
            result = registry.hooks_for(model).modelzoo_evaluate(context=context, network=network)
        if result is None:
            raise UserError(f"the plugin of '{model}' does not evaluate models")
        known = len(registry.warnings)
        facts = registry.environment_facts(model)
        record["warnings"] += registry.warnings[known:]  # a failing environment hook: said, not swallowed
        record.update(metrics=result.metrics, curves=result.curves,
                      data=result.identity.as_dict() if result.identity else None,
                      env=envinfo.capture(device, extra=facts))
        record["warnings"] += [f"evaluation did not return metric '{c.key}'" for c in resolved.spec.metric_columns
                               if not isinstance(result.metrics.get(c.key), (int, float))]
        records.mark_finished(record, "success")
    except BaseException as exc:
        records.mark_failed(record, exc)
        raise
    finally:
        records.save(record, runs_dir)
    return record


def export(model: str, weights: str | Path, *, fmt: str = "onnx", output: Optional[str | Path] = None,
           session: Optional[Session] = None, profile: Optional[str] = None, overrides: Overrides = (),
           seed: Optional[int] = None, device: Optional[str] = None, force: bool = False) -> str:
    """Export ``weights`` to ONNX or TorchScript, checked against the network's own output;
    the plugin's one-line summary (file, size, largest difference). An existing file at an
    explicit ``output`` is replaced only with ``force``; never one that is not a regular file."""
    if fmt not in EXPORT_SUFFIX:
        raise UserError(f"format {fmt!r} is not known; choose from {', '.join(EXPORT_SUFFIX)}")
    with stopping.stop_signals_raise():
        return _export(model, weights, fmt, output, session, profile, overrides, seed, device, force)


def _export(model: str, weights: str | Path, fmt: str, output: Optional[str | Path], session: Optional[Session],
            profile: Optional[str], overrides: Overrides, seed: Optional[int], device: Optional[str],
            force: bool) -> str:
    session = session_or_default(session)
    resolved = resolve(session, model, profile, overrides, seed)
    device = choose_device(device or "auto")
    context = run_context(session, model, resolved.profile, resolved.config, device, session.runs_dir)
    given, output = output, Path(output) if output else Path(weights).with_suffix(EXPORT_SUFFIX[fmt])
    writable_dir(output.parent, "output directory", "--output")
    records.check_replaceable(output, "--output")
    if given and output.exists() and not force:
        raise UserError(f"refusing to replace --output {output}: the file exists; pass --force to replace it, or "
                        "choose another --output")
    network = _load_network(session, model, Path(weights), context)
    summary = session.registry().hooks_for(model).modelzoo_export(context=context, network=network, fmt=fmt,
                                                                  output=output)
    if summary is None:
        raise UserError(f"the plugin of '{model}' does not export models")
    return summary
