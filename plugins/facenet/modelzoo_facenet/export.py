"""Export a trained FaceNet network's embedding function and check the exported file.

:func:`export_model` writes ``network.embed`` (images ``(N, 3, H, W)`` standardized as
``(x - 127.5) / 128`` -> L2-normalized embeddings ``(N, D)``) through the core's
:func:`modelzoo.toolkit.export.export_module` (see there for the formats, the check and the
atomic placement): ONNX input ``images``, output ``embeddings``, dynamic batch size,
spatial size fixed to the example's; TorchScript a trace of :class:`EmbeddingModule`.
What is FaceNet's here: the wrapper, the checks of the network and example, and their
messages.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from modelzoo.contract.api import UserError
from modelzoo.toolkit.export import DEFAULT_TOLERANCE, FORMATS, check_format, export_module

__all__ = ["DEFAULT_TOLERANCE", "FORMATS", "EmbeddingModule", "export_model"]


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
    Raises :class:`~modelzoo.contract.api.UserError` for an unknown format, a network without
    ``embed``, a missing exporter package, or an exported file whose embeddings differ
    from the network's by more than ``tolerance``.
    """
    fmt = check_format(fmt)
    if not callable(getattr(network, "embed", None)):
        raise UserError(f"{type(network).__name__} has no embed() to export; export a "
                        "FaceNet network (InceptionResnetV1 or MobileNetV1)")
    if example.dim() != 4 or len(example) == 0:
        raise UserError(f"the export example must be a non-empty (N, 3, H, W) image batch, "
                        f"got shape {tuple(example.shape)}; pass a few aligned faces")
    return export_module(EmbeddingModule(network), fmt, output, example, input_name="images",
                         output_name="embeddings", tolerance=tolerance)
