"""Export a trained FaceNet network's embedding function and check the exported file.

:func:`export_model` writes ``network.embed`` (images ``(N, 3, H, W)`` standardized as
``(x - 127.5) / 128`` -> L2-normalized embeddings ``(N, D)``) as

- ``onnx``: through ``torch.onnx.export`` (the torch.export-based exporter when
  onnxscript is installed, else the legacy TorchScript-based one), input ``images``,
  output ``embeddings``, dynamic batch size, spatial size fixed to the example's; the
  weights are inside the one file. Checked by running it in onnxruntime (when
  installed; otherwise only ``onnx.checker`` runs, and the summary says so).
- ``torchscript``: ``torch.jit.trace`` of a wrapper whose ``forward`` is ``embed``,
  loaded back with ``torch.jit.load``. (TorchScript is deprecated in recent PyTorch but
  still what many deployment stacks load; the deprecation warnings are silenced here.)

The file is written to a temporary name beside ``output``, reloaded, run on the example
images and compared with the network; only a file that matches is renamed to
``output``, so a failed export never leaves a half-written or wrong model behind.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from modelzoo.api import UserError

FORMATS = ("onnx", "torchscript")
DEFAULT_TOLERANCE = 1e-4


class EmbeddingModule(nn.Module):
    """``forward(images) = network.embed(images)``: what the exported file computes."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network.embed(images)


def export_model(network: nn.Module, fmt: str, output: Path, example: torch.Tensor,
                 tolerance: float = DEFAULT_TOLERANCE) -> str:
    """Export ``network.embed`` to ``output`` in format ``fmt`` and verify the file.

    ``example`` is a small batch of images (a few suffice): it fixes the exported
    input size and is what the reloaded file is compared on, in eval mode. The network
    is put in eval mode for the export and returned to its previous mode.

    Returns a one-line summary, e.g.
    ``"exported onnx to model.onnx; max abs diff 3.1e-07 on 4 images (onnxruntime)"``.
    Raises :class:`~modelzoo.api.UserError` for an unknown format, a network without
    ``embed``, a missing exporter package, or an exported file whose embeddings differ
    from the network's by more than ``tolerance``.
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if not callable(getattr(network, "embed", None)):
        raise UserError(f"{type(network).__name__} has no embed() to export; export a "
                        "FaceNet network (InceptionResnetV1 or MobileNetV1)")
    if example.dim() != 4 or len(example) == 0:
        raise UserError(f"the export example must be a non-empty (N, 3, H, W) image batch, "
                        f"got shape {tuple(example.shape)}; pass a few aligned faces")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")

    was_training = network.training
    network.eval()
    try:
        parameter = next(network.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        example = example.detach().to(device=device, dtype=torch.float32)
        module = EmbeddingModule(network).eval()
        with torch.no_grad():
            expected = module(example).float().cpu()
        try:
            if fmt == "onnx":
                _export_onnx(module, example, temporary)
                actual, checked_by = _run_onnx(temporary, example)
            else:
                _export_torchscript(module, example, temporary)
                actual, checked_by = _run_torchscript(temporary, example, device)
            count = len(example)
            if actual is None:
                difference_text = "not compared"
            else:
                difference = (actual.float().cpu() - expected).abs().max().item()
                if not difference <= tolerance:  # also catches NaN
                    raise UserError(
                        f"the exported {fmt} model's embeddings differ from the network's by "
                        f"{difference:.3g} (tolerance {tolerance:g}) on {count} images; "
                        f"{output} was not written: try the other format or report a bug")
                difference_text = f"max abs diff {difference:.1e}"
            os.replace(temporary, output)
        finally:
            temporary.unlink(missing_ok=True)
    finally:
        network.train(was_training)
    return f"exported {fmt} to {output}; {difference_text} on {count} images ({checked_by})"


def _export_onnx(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    if importlib.util.find_spec("onnx") is None:
        raise UserError("ONNX export needs the onnx package; pip install onnx onnxscript "
                        "onnxruntime")
    names = {"input_names": ["images"], "output_names": ["embeddings"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
        if importlib.util.find_spec("onnxscript") is not None:
            torch.onnx.export(module, (example,), str(path), dynamo=True, verbose=False,
                              external_data=False,  # one self-contained file
                              dynamic_shapes=({0: torch.export.Dim("batch")},), **names)
        else:  # the legacy exporter needs no onnxscript
            torch.onnx.export(module, (example,), str(path), dynamo=False,
                              dynamic_axes={"images": {0: "batch"},
                                            "embeddings": {0: "batch"}}, **names)


def _run_onnx(path: Path, example: torch.Tensor) -> tuple[torch.Tensor | None, str]:
    import onnx

    onnx.checker.check_model(str(path))
    if importlib.util.find_spec("onnxruntime") is None:
        return None, "onnx.checker only: onnxruntime is not installed"
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (result,) = session.run(["embeddings"], {"images": example.cpu().numpy()})
    return torch.from_numpy(result), "onnxruntime"


def _export_torchscript(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        # check_trace would run the network twice more; the reload check below covers it.
        traced = torch.jit.trace(module, example, check_trace=False)
        traced.save(str(path))


def _run_torchscript(path: Path, example: torch.Tensor,
                     device: torch.device) -> tuple[torch.Tensor, str]:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(path), map_location=device)
        return loaded(example), "torch.jit.load"
