"""modelzoo_export of the classification plugin: the classifier's logits on evaluation-normalized images."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from classification_helpers import context, profile, tiny_demo

from modelzoo.contract.api import UserError
from modelzoo_classification import plugin
from modelzoo_classification.imagenet import prepare_imagenet

REPO = Path(__file__).resolve().parents[2]
ONNX_MISSING = "onnx is not installed: the ONNX export is not tested here (pip install onnx onnxscript onnxruntime)"


@pytest.fixture
def demo(tmp_path):
    """The tiny demo profile's context and a fresh ResNet-18 with non-trivial batch-norm statistics."""
    ctx = context(tiny_demo(), tmp_path)
    torch.manual_seed(0)
    network = plugin.build_network(ctx, 3)
    with torch.no_grad():
        for _ in range(3):
            network(torch.randn(8, 3, 14, 14) * 2 + 0.5)
    return ctx, network.eval()


def _eval_input(ctx, n, seed):
    """``n`` random images as evaluation feeds them: centre crop, ImageNet normalization."""
    size = ctx.config["data"]["val_resize"]
    images = torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed),
                           dtype=torch.uint8)
    return plugin.augment(ctx, train=False)(images)


def test_torchscript_without_the_demo_set_uses_random_images_and_generates_nothing(demo, tmp_path):
    ctx, network = demo
    output = tmp_path / "out" / "resnet.pt"
    summary = plugin.modelzoo_export(context=ctx, network=network, fmt="torchscript", output=output)
    assert summary.startswith(f"exported torchscript to {output}; max abs diff ")
    assert summary.endswith(" on 4 random images (torch.jit.load)")
    assert not (tmp_path / "cache").exists() and not network.training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(str(output))
    images = _eval_input(ctx, 5, seed=7)
    assert images.shape == (5, 3, 14, 14)
    with torch.no_grad(), torch.jit.optimized_execution(False):
        logits = loaded(images)
        assert logits.shape == (5, 3)
        torch.testing.assert_close(logits, network(images))


def test_onnx_is_checked_on_held_out_demo_images_and_named_images_logits(demo, tmp_path):
    if importlib.util.find_spec("onnx") is None:
        pytest.skip(ONNX_MISSING)
    ctx, network = demo
    plugin.demo_set(ctx)  # the evaluation set on disk, as after a run
    output = tmp_path / "resnet.onnx"
    summary = plugin.modelzoo_export(context=ctx, network=network, fmt="onnx", output=output)
    assert summary.startswith(f"exported onnx to {output}; max abs diff ")
    assert " on 4 held-out images (" in summary
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "resnet.onnx"]
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("onnxruntime is not installed: the file was checked by onnx.checker only")
    import onnxruntime

    assert summary.endswith("(onnxruntime)")
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape[1:]) for i in session.get_inputs()] == [("images", [3, 14, 14])]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    images = _eval_input(ctx, 7, seed=8)
    (logits,) = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(logits), network(images), atol=1e-4, rtol=1e-4)


def test_example_images_are_evaluation_images_spread_over_classes(tmp_path):
    ctx = context(tiny_demo(), tmp_path)
    assert plugin.example_images(ctx, 4) is None  # not generated: nothing on disk
    plugin.demo_set(ctx)
    examples = plugin.example_images(ctx, 4)
    batches, identity = plugin.eval_batches(ctx)  # what evaluation reads (the decoded cache)
    held_out, labels = (torch.cat(parts) for parts in zip(*batches))
    assert identity.images == 18 and examples.dtype == torch.uint8
    picks = [0, 4, 9, 13]
    assert torch.equal(examples, held_out[picks]) and labels[picks].tolist() == [0, 0, 1, 2]


def test_imagenet_examples_are_resized_and_centre_cropped_val_images(tmp_path, imagenet_raw):
    config = profile("imagenet", data={"val_resize": 20, "val_crop": 16})
    ctx = context(config, tmp_path, profile_name="imagenet")
    assert plugin.example_images(ctx, 4) is None  # not prepared
    prepare_imagenet(imagenet_raw, tmp_path / "data" / "imagenet_index")
    examples = plugin.example_images(ctx, 4)
    assert examples.shape == (4, 3, 16, 16) and examples.dtype == torch.uint8


def test_unknown_format_fails_before_anything_is_read_or_written(demo, tmp_path):
    ctx, network = demo
    with pytest.raises(UserError, match="unknown export format 'tflite'"):
        plugin.modelzoo_export(context=ctx, network=network, fmt="tflite", output=tmp_path / "m.tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_cli_exports_resnet_weights(demo, tmp_path):
    """``modelzoo export resnet50`` end to end: weights file -> load_weights -> the export hook."""
    ctx, network = demo
    weights = tmp_path / "weights.pt"
    torch.save({"model": network.state_dict()}, weights)
    sets = [item for key, value in (("data.demo_classes", 3), ("data.val_resize", 16), ("data.val_crop", 14),
                                    ("model.arch", "resnet18")) for item in ("--set", f"{key}={value}")]
    env = dict(os.environ, MODELZOO_DISABLE_PLUGIN_AUTOLOAD="1", MODELZOO_PLUGINS="modelzoo_classification.plugin",
               MODELZOO_RUNS=str(tmp_path / "runs"), MODELZOO_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "plugins" / "classification"),
                                           os.environ.get("PYTHONPATH", "")]))
    env.pop("MODELZOO_ZOO", None)
    done = subprocess.run([sys.executable, "-m", "modelzoo", "export", "resnet50", "--profile", "demo",
                           "--device", "cpu", "--weights", str(weights), "--format", "torchscript", *sets],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    output = tmp_path / "weights.torchscript.pt"
    assert done.stdout.strip().startswith(f"exported torchscript to {output}; max abs diff ")
    assert output.is_file()
