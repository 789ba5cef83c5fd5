"""Export a network to ONNX or TorchScript, check the file, and only then put it in place.

The core's half of ``modelzoo export``: a plugin's ``modelzoo_export`` hook builds the
module to export (the network itself, or a wrapper whose ``forward`` is what a
deployment calls, e.g. FaceNet's ``embed``) and a small example batch, and calls
:func:`export_module`, which writes

- ``onnx``: through ``torch.onnx.export`` (the torch.export-based exporter when
  onnxscript is installed, else the legacy TorchScript-based one), one named input and
  one named output, dynamic batch size, the other dimensions fixed to the example's; the
  weights are inside the one file. Checked by running it in onnxruntime (when installed;
  otherwise only ``onnx.checker`` runs, and the summary says so).
- ``torchscript``: ``torch.jit.trace`` of the module, loaded back with
  ``torch.jit.load``. (TorchScript is deprecated in recent PyTorch but still what many
  deployment stacks load; the deprecation warnings are silenced here.)

The file is written to a temporary name beside ``output``, reloaded, run on the example
and compared with the module; only a file that matches is renamed to ``output``, so a
failed export never leaves a half-written or wrong model behind (an older file at
``output`` stays as it was).

The CLI imports this module only inside a plugin's hook, so ``import modelzoo.cli``
still imports no torch.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from modelzoo.contract.api import UserError
from modelzoo.store.records import check_replaceable

FORMATS = ("onnx", "torchscript")
DEFAULT_TOLERANCE = 1e-4


def check_format(fmt: str) -> str:
    """``fmt`` in lower case; UserError naming the formats when it is not one of :data:`FORMATS`."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    return fmt


def export_module(module: nn.Module, fmt: str, output: Path, example: torch.Tensor, *,
                  input_name: str = "input", output_name: str = "output",
                  tolerance: float = DEFAULT_TOLERANCE, relative_tolerance: float = 0.0,
                  inputs: str = "images") -> str:
    """Export ``module`` (``forward(example) -> one tensor``) to ``output`` in format ``fmt``
    and verify the file.

    ``example`` is a small batch (a few items suffice), on any device: it is moved to the
    module's, fixes the exported shape but for the batch dimension, and is what the
    reloaded file is compared on, in eval mode. Run the module on the CPU to compare
    like with like (onnxruntime runs on the CPU). Every submodule is put in eval mode for
    the export and returned to its own previous mode. ``input_name`` / ``output_name``
    name the ONNX graph's input and output (TorchScript keeps ``forward``'s argument).

    The file matches when the largest absolute difference between its outputs and the
    module's is at most ``tolerance + relative_tolerance * max|module's outputs|`` (the
    relative part for outputs such as logits whose scale is not fixed).

    Returns a one-line summary, e.g.
    ``"exported onnx to model.onnx; max abs diff 3.1e-07 on 4 images (onnxruntime)"``
    (``inputs`` is the noun after the count). Raises :class:`~modelzoo.contract.api.UserError` for
    an unknown format, an empty example, a missing exporter package, or an exported file
    whose outputs differ from the module's by more than the tolerance.
    """
    fmt = check_format(fmt)
    if not isinstance(example, torch.Tensor) or example.dim() == 0 or len(example) == 0:
        shape = tuple(example.shape) if isinstance(example, torch.Tensor) else type(example).__name__
        raise UserError(f"the export example must be a non-empty batch (N, ...), got {shape}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")

    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        parameter = next(module.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        example = example.detach().to(device=device, dtype=torch.float32).contiguous()
        with torch.no_grad():
            expected = module(example)
        if not isinstance(expected, torch.Tensor):
            raise UserError(f"{type(module).__name__} returns {type(expected).__name__}, not one tensor; "
                            "export a module whose forward returns a tensor")
        expected = expected.float().cpu()
        names = (input_name, output_name)
        count = len(example)
        try:
            if fmt == "onnx":
                _export_onnx(module, example, temporary, names)
                actual, checked_by = _run_onnx(temporary, example, names)
            else:
                _export_torchscript(module, example, temporary)
                actual, checked_by = _run_torchscript(temporary, example, device)
            if actual is None:
                difference_text = "not compared"
            else:
                difference = (actual.float().cpu() - expected).abs().max().item()
                scale = expected.abs().max().item() if expected.numel() else 0.0
                allowed = tolerance + relative_tolerance * scale
                if not difference <= allowed:  # also catches NaN
                    raise UserError(
                        f"the exported {fmt} model's {output_name} differ from the network's by "
                        f"{difference:.3g} (tolerance {allowed:.3g}) on {count} {inputs}; "
                        f"{output} was not written: try the other format or report a bug")
                difference_text = f"max abs diff {difference:.1e}"
            check_replaceable(output)  # a device node or link that appeared meanwhile is never swapped out
            os.replace(temporary, output)
        finally:
            temporary.unlink(missing_ok=True)
    finally:
        for submodule, training in modes:
            submodule.training = training
    return f"exported {fmt} to {output}; {difference_text} on {count} {inputs} ({checked_by})"


def _export_onnx(module: nn.Module, example: torch.Tensor, path: Path, names: tuple[str, str]) -> None:
    if importlib.util.find_spec("onnx") is None:
        raise UserError("ONNX export needs the onnx package; pip install onnx onnxscript onnxruntime "
                        "(the 'export' extra: pip install -e '.[export]', which 'bash init.sh' installs)")
    input_name, output_name = names
    named = {"input_names": [input_name], "output_names": [output_name]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
        if importlib.util.find_spec("onnxscript") is not None:
            torch.onnx.export(module, (example,), str(path), dynamo=True, verbose=False,
                              external_data=False,  # one self-contained file
                              dynamic_shapes=({0: torch.export.Dim("batch")},), **named)
        else:  # the legacy exporter needs no onnxscript
            torch.onnx.export(module, (example,), str(path), dynamo=False,
                              dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}}, **named)


def _run_onnx(path: Path, example: torch.Tensor,
              names: tuple[str, str]) -> tuple[torch.Tensor | None, str]:
    import onnx

    onnx.checker.check_model(str(path))
    if importlib.util.find_spec("onnxruntime") is None:
        return None, "onnx.checker only: onnxruntime is not installed"
    import onnxruntime

    input_name, output_name = names
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (result,) = session.run([output_name], {input_name: example.cpu().numpy()})
    return torch.from_numpy(result), "onnxruntime"


def _export_torchscript(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        # check_trace would run the network twice more; the reload check covers it.
        traced = torch.jit.trace(module, example, check_trace=False)
        traced.save(str(path))


def _run_torchscript(path: Path, example: torch.Tensor,
                     device: torch.device) -> tuple[torch.Tensor, str]:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(path), map_location=device)
        return loaded(example), "torch.jit.load"
