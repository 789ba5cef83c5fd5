"""The core's export machinery (modelzoo.toolkit.export): write beside, reload, compare, rename into place."""

from __future__ import annotations

import importlib.util
import os
import stat
import warnings

import pytest
import torch
from torch import nn

from modelzoo.contract.api import UserError
from modelzoo.toolkit import export
from modelzoo.toolkit.export import export_module

HAS_ONNX = importlib.util.find_spec("onnx") is not None
HAS_ONNXRUNTIME = importlib.util.find_spec("onnxruntime") is not None


class _Small(nn.Module):
    """conv + batch norm + pooling + linear: (N, 3, H, W) -> (N, 5)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@pytest.fixture
def small():
    torch.manual_seed(0)
    model = _Small()
    with torch.no_grad():  # non-trivial running statistics
        for _ in range(3):
            model(torch.randn(6, 3, 12, 12) * 3 + 1)
    return model.train()


def _batch(n, size=12, seed=1):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_torchscript_is_placed_after_it_reloads_and_matches(small, tmp_path):
    small.features[1].eval()  # a submodule in its own mode keeps it
    output = tmp_path / "out" / "small.pt"
    summary = export_module(small, "TorchScript", output, _batch(3), inputs="crops")
    assert summary.startswith(f"exported torchscript to {output}; max abs diff ")
    assert summary.endswith(" on 3 crops (torch.jit.load)")
    assert _files(output.parent) == ["small.pt"]
    assert small.training and small.head.training and not small.features[1].training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(output))
    images = _batch(5, seed=2)
    small.eval()
    with torch.no_grad(), torch.jit.optimized_execution(False):
        torch.testing.assert_close(loaded(images), small(images))


@pytest.mark.skipif(not HAS_ONNX, reason="onnx is not installed")
@pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="onnxruntime is not installed")
def test_onnx_has_the_given_names_and_any_batch_size(small, tmp_path):
    import onnxruntime

    output = tmp_path / "small.onnx"
    summary = export_module(small, "onnx", output, _batch(4), input_name="pixels", output_name="scores")
    assert summary.startswith(f"exported onnx to {output}; max abs diff ")
    assert summary.endswith(" on 4 images (onnxruntime)")
    assert _files(tmp_path) == ["small.onnx"] and small.training
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["pixels"]
    assert [o.name for o in session.get_outputs()] == ["scores"]
    images = _batch(7, seed=3)
    (scores,) = session.run(None, {"pixels": images.numpy()})
    small.eval()
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(scores), small(images), atol=1e-5, rtol=1e-4)


@pytest.mark.skipif(not HAS_ONNX, reason="onnx is not installed")
def test_onnx_without_onnxruntime_is_checked_by_onnx_checker_only(small, tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(export.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real_find_spec(name, *a))
    summary = export_module(small, "onnx", tmp_path / "m.onnx", _batch(2))
    assert summary.endswith("; not compared on 2 images (onnx.checker only: onnxruntime is not installed)")
    assert _files(tmp_path) == ["m.onnx"]


def test_onnx_without_the_onnx_package_is_a_user_error(small, tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(export.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnx" else real_find_spec(name, *a))
    with pytest.raises(UserError, match="needs the onnx package; pip install onnx"):
        export_module(small, "onnx", tmp_path / "m.onnx", _batch(2))
    assert _files(tmp_path) == [] and small.training


class _TwoOutputs(nn.Module):
    def forward(self, x):
        return x, x


def test_bad_format_example_or_output_are_user_errors(small, tmp_path):
    with pytest.raises(UserError, match="unknown export format 'tflite'; use one of: onnx, torchscript"):
        export_module(small, "tflite", tmp_path / "m.tflite", _batch(2))
    with pytest.raises(UserError, match="non-empty batch"):
        export_module(small, "torchscript", tmp_path / "m.pt", _batch(0))
    with pytest.raises(UserError, match="returns tuple, not one tensor"):
        export_module(_TwoOutputs(), "torchscript", tmp_path / "m.pt", _batch(2))
    assert _files(tmp_path) == [] and small.training


class _Noisy(nn.Module):
    """Outputs near 1000 plus fresh noise in [0, 1) on every call: no exported copy matches exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)) * 0 + 1000 + torch.rand(x.shape[0], 3)


def test_mismatch_keeps_the_old_file_and_relative_tolerance_scales(tmp_path):
    output = tmp_path / "noisy.pt"
    output.write_bytes(b"previous export")
    with pytest.raises(UserError, match=r"model's scores differ from the network's by .* \(tolerance 0.0001\) "
                                        r"on 2 images; .*noisy.pt was not written"):
        export_module(_Noisy(), "torchscript", output, _batch(2, size=4), output_name="scores")
    assert output.read_bytes() == b"previous export" and _files(tmp_path) == ["noisy.pt"]

    # A difference below 1 on outputs of ~1000 is within 1e-2 of their scale.
    summary = export_module(_Noisy(), "torchscript", output, _batch(2, size=4), relative_tolerance=1e-2)
    assert "max abs diff" in summary and output.read_bytes() != b"previous export"
    assert _files(tmp_path) == ["noisy.pt"]


def test_an_output_that_is_not_a_regular_file_is_never_replaced(small, tmp_path):
    """A plugin calling export_module directly gets the same rule as the CLI (issue 28.5)."""
    pipe = tmp_path / "small.pt"
    os.mkfifo(pipe)
    with pytest.raises(UserError, match=f"refusing to replace {pipe}: it is a named pipe, not a regular file"):
        export_module(small, "torchscript", pipe, _batch(2))
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode) and _files(tmp_path) == ["small.pt"]  # no temp file left
