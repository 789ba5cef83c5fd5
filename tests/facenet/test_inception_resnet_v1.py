"""Inception-ResNet-v1: checkpoint compatibility with facenet-pytorch 2.6.0 and the head contract."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelzoo_facenet.inception_resnet_v1 import (
    CHECKPOINT_CLASSES,
    InceptionResnetV1,
    count_parameters,
)

facenet_pytorch = pytest.importorskip("facenet_pytorch")


def _randomize(model: nn.Module, seed: int) -> None:
    """Give every parameter and batch-norm statistic non-default values.

    Default BN statistics (mean 0, var 1) and affine (1, 0) would hide a mixed-up BN
    layer or a wrong eps; random ones make every tensor matter.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=g) * 1.5 + 0.5)
            elif name.endswith("running_mean"):
                tensor.copy_(torch.randn(tensor.shape, generator=g) * 0.1)
            elif name.endswith("bn.weight") or name.endswith("last_bn.weight"):
                tensor.copy_(torch.rand(tensor.shape, generator=g) * 0.5 + 0.75)
            else:
                # Keep the activations of the 20+ residual blocks in a sane range.
                fan_in = tensor[0].numel() if tensor.dim() > 1 else tensor.numel()
                tensor.copy_(torch.randn(tensor.shape, generator=g) / fan_in ** 0.5)


def _images(size: int, seed: int) -> torch.Tensor:
    """Two unlike images: noise, and a horizontal ramp under weaker noise.

    Two noise images pool to nearly the same features; the ramp makes the input
    visibly matter for the output.
    """
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(seed))
    x[1] = x[1] * 0.3 + torch.linspace(-2, 2, size).view(1, 1, size)
    return x


@pytest.fixture(scope="module")
def reference_and_ours():
    torch.manual_seed(0)
    reference = facenet_pytorch.InceptionResnetV1(pretrained=None, classify=True,
                                                  num_classes=37).eval()
    _randomize(reference, seed=1)
    ours = InceptionResnetV1(num_classes=37).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


@pytest.mark.parametrize("size", [160, 128])
def test_embedding_matches_facenet_pytorch(reference_and_ours, size):
    reference, ours = reference_and_ours
    x = _images(size, seed=size)
    with torch.no_grad():
        reference.classify = False
        try:
            theirs = reference(x)
        finally:
            reference.classify = True
        mine = ours.embed(x)
        prelogits = ours(x)
    assert mine.shape == (2, 512)
    assert (mine[0] - mine[1]).abs().max().item() > 1e-2  # the input matters
    assert (mine - theirs).abs().max().item() < 1e-5
    # forward() is the un-normalized prelogits of which embed() is the unit vector.
    assert not torch.allclose(prelogits.norm(dim=1), torch.ones(2), atol=1e-2)
    torch.testing.assert_close(nn.functional.normalize(prelogits, dim=1), mine)


def test_logits_match_facenet_pytorch(reference_and_ours):
    reference, ours = reference_and_ours
    x = _images(160, seed=7)
    with torch.no_grad():
        theirs = reference(x)
        mine = ours.classify(x)
    assert mine.shape == (2, 37)
    scale = theirs.abs().max().item()
    assert (mine - theirs).abs().max().item() < 1e-5 * max(1.0, scale)


@pytest.mark.parametrize("checkpoint", sorted(CHECKPOINT_CLASSES))
def test_state_dict_keys_and_shapes_match_published_checkpoints(checkpoint):
    classes = CHECKPOINT_CLASSES[checkpoint]
    reference = facenet_pytorch.InceptionResnetV1(pretrained=None, classify=True,
                                                  num_classes=classes).state_dict()
    ours = InceptionResnetV1(num_classes=classes)
    mine = ours.state_dict()
    assert list(mine) == list(reference)
    assert {k: tuple(v.shape) for k, v in mine.items()} == \
        {k: tuple(v.shape) for k, v in reference.items()}
    assert "repeat_1.0.branch1.1.conv.weight" in mine and "logits.weight" in mine
    ours.load_state_dict(reference, strict=True)


def test_parameter_count_matches_brief():
    # facenet-pytorch's Inception-ResNet-v1 and davidsandberg's: 23.48 M parameters without the classifier.
    model = InceptionResnetV1(num_classes=10575)
    assert count_parameters(model) == 23_482_624
    assert count_parameters(model, exclude=()) == 23_482_624 + 512 * 10575 + 10575
    assert count_parameters(InceptionResnetV1()) == 23_482_624


def test_head_contract_without_classifier():
    model = InceptionResnetV1(embedding_size=128).eval()
    assert not hasattr(model, "classify")
    assert model.logits is None
    assert not any(k.startswith("logits") for k in model.state_dict())
    assert model.last_linear.weight.shape == (128, 1792)
    assert model.last_linear.bias is None
    with torch.no_grad():
        out = model.embed(torch.randn(2, 3, 160, 160))
    assert out.shape == (2, 128)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))


def test_recipe_batch_norm_and_dropout_settings():
    model = InceptionResnetV1(dropout_keep=0.8)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(bns) > 100
    assert all(m.momentum == 0.005 and m.eps == 1e-3 for m in bns)
    assert model.dropout.p == pytest.approx(0.2)
    with pytest.raises(ValueError):
        InceptionResnetV1(dropout_keep=0.0)


def test_train_mode_backward_reaches_the_stem():
    model = InceptionResnetV1(embedding_size=128).train()
    out = model(torch.randn(2, 3, 96, 96))
    out.pow(2).sum().backward()
    grad = model.conv2d_1a.conv.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # momentum 0.005: one training step barely moves the running mean from 0.
    assert model.conv2d_1a.bn.running_mean.abs().max() < 0.05
