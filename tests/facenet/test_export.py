"""Export of the embedding function to ONNX and TorchScript, verified by reloading."""

from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch
from torch import nn

from modelzoo.contract.api import UserError
from modelzoo.toolkit import export as export_module
from modelzoo_facenet.export import export_model
from modelzoo_facenet.inception_resnet_v1 import InceptionResnetV1
from modelzoo_facenet.mobilenet_v1 import MobileNetV1


@pytest.fixture(scope="module")
def mobilenet():
    torch.manual_seed(0)
    model = MobileNetV1(embedding_size=64, width=0.25)
    # A few training-mode passes give the batch norms non-trivial running statistics.
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 64, 64) * 2 + 0.5)
    return model.train()


def _images(n, size=64, seed=1):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _no_leftovers(folder, keep):
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                    reason="onnxruntime is not installed")
def test_onnx_export_runs_in_onnxruntime_at_any_batch_size(mobilenet, tmp_path):
    import onnxruntime

    output = tmp_path / "facenet.onnx"
    summary = export_model(mobilenet, "onnx", output, _images(4))
    assert summary.startswith(f"exported onnx to {output}; max abs diff ")
    assert "on 4 images (onnxruntime)" in summary
    assert float(summary.split("max abs diff ")[1].split()[0]) < 1e-4
    _no_leftovers(tmp_path, ["facenet.onnx"])
    assert mobilenet.training  # mode restored

    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    images = _images(7, seed=2)
    (embeddings,) = session.run(None, {"images": images.numpy()})
    mobilenet.eval()
    try:
        with torch.no_grad():
            expected = mobilenet.embed(images)
    finally:
        mobilenet.train()
    torch.testing.assert_close(torch.from_numpy(embeddings), expected, atol=1e-5, rtol=1e-4)


def test_onnx_legacy_exporter_when_onnxscript_is_missing(mobilenet, tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(export_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real_find_spec(name, *a))
    summary = export_model(mobilenet, "onnx", tmp_path / "legacy.onnx", _images(2))
    assert "max abs diff" in summary and (tmp_path / "legacy.onnx").stat().st_size > 0


def test_torchscript_export_reloads_and_matches(mobilenet, tmp_path):
    output = tmp_path / "sub" / "facenet.pt"
    summary = export_model(mobilenet, "TorchScript", output, _images(3))
    assert summary.startswith(f"exported torchscript to {output}; max abs diff ")
    assert "on 3 images (torch.jit.load)" in summary
    _no_leftovers(output.parent, ["facenet.pt"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(output))
    images = _images(5, seed=3)
    mobilenet.eval()
    try:
        # Unoptimized execution: the same numbers without seconds of JIT profiling.
        with torch.no_grad(), torch.jit.optimized_execution(False):
            torch.testing.assert_close(loaded(images), mobilenet.embed(images))
    finally:
        mobilenet.train()


def test_inception_resnet_torchscript(tmp_path):
    model = InceptionResnetV1(embedding_size=128).eval()
    summary = export_model(model, "torchscript", tmp_path / "irv1.pt", _images(2, size=96))
    assert "max abs diff" in summary and not model.training


def test_unknown_format_is_a_user_error(mobilenet, tmp_path):
    with pytest.raises(UserError, match="onnx, torchscript"):
        export_model(mobilenet, "tflite", tmp_path / "m.tflite", _images(2))
    with pytest.raises(UserError, match="no embed"):
        export_model(nn.Linear(3, 3), "onnx", tmp_path / "m.onnx", _images(2))
    _no_leftovers(tmp_path, [])


class _Noisy(nn.Module):
    """Its embedding changes on every call, so no exported copy can match it."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 4)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(dim=(2, 3))) + torch.rand(x.shape[0], 4)


def test_mismatch_is_a_user_error_and_keeps_the_old_file(tmp_path):
    output = tmp_path / "noisy.pt"
    output.write_bytes(b"previous export")
    with pytest.raises(UserError, match="differ from the network's.*was not written"):
        export_model(_Noisy(), "torchscript", output, _images(2, size=8))
    assert output.read_bytes() == b"previous export"
    _no_leftovers(tmp_path, ["noisy.pt"])
