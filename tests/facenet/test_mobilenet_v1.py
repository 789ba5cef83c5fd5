"""MobileNetV1 with the FaceNet head: shapes, the prelogits/embed/classify contract, training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelzoo_facenet.inception_resnet_v1 import count_parameters
from modelzoo_facenet.mobilenet_v1 import MobileNetV1


@pytest.mark.parametrize("size", [32, 64, 96, 112, 160])
def test_any_input_size_gives_embedding_rows(size):
    model = MobileNetV1(embedding_size=64, width=0.25).eval()
    with torch.no_grad():
        prelogits = model(torch.randn(3, 3, size, size))
        embedding = model.embed(torch.randn(3, 3, size, size))
    assert prelogits.shape == embedding.shape == (3, 64)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(3))


def test_embed_is_the_normalized_forward():
    model = MobileNetV1(width=0.5).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        prelogits, embedding = model(x), model.embed(x)
    assert not torch.allclose(prelogits.norm(dim=1), torch.ones(2), atol=1e-2)
    torch.testing.assert_close(embedding, prelogits / prelogits.norm(dim=1, keepdim=True))


def test_parameter_count_of_the_paper_backbone():
    # MobileNetV1 1.0 has 4,231,976 trainable parameters with its 1000-way classifier
    # (1024 x 1000 + 1000 of them), so 3,206,976 in the convolution stack.
    model = MobileNetV1(width=1.0, embedding_size=128)
    assert count_parameters(model.features) == 3_206_976
    assert model.feature_channels == 1024
    head = 1024 * 128 + 2 * 128  # last_linear (no bias) + last_bn affine
    assert count_parameters(model) == 3_206_976 + head


def test_parameters_scale_with_width():
    counts = [count_parameters(MobileNetV1(width=w).features) for w in (0.25, 0.5, 1.0)]
    assert counts[0] < counts[1] < counts[2]
    # Pointwise convolutions dominate, so parameters grow about as width squared.
    assert 3.0 < counts[1] / counts[0] < 4.5
    assert 3.3 < counts[2] / counts[1] < 4.2
    assert MobileNetV1(width=0.25).feature_channels == 256


def test_classifier_only_with_num_classes():
    assert not hasattr(MobileNetV1(width=0.25), "classify")
    model = MobileNetV1(width=0.25, num_classes=7).eval()
    with torch.no_grad():
        assert model.classify(torch.randn(2, 3, 64, 64)).shape == (2, 7)
    assert model.last_linear.bias is None
    assert "logits.weight" in model.state_dict()


def test_recipe_batch_norm_and_dropout_settings():
    model = MobileNetV1(width=0.25, dropout_keep=0.6, bn_momentum=0.01, bn_eps=1e-5)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == 1 + 2 * 13 + 1
    assert all(m.momentum == 0.01 and m.eps == 1e-5 for m in bns)
    assert model.dropout.p == pytest.approx(0.4)
    assert MobileNetV1().last_bn.momentum == 0.005


def test_a_few_steps_fit_a_tiny_fixed_batch():
    torch.manual_seed(0)
    model = MobileNetV1(embedding_size=32, width=0.25, num_classes=4, dropout_keep=1.0)
    x = torch.randn(8, 3, 64, 64)
    y = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(model.classify(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_pool_grid_keeps_the_layout_of_the_feature_map():
    torch.manual_seed(0)
    net = MobileNetV1(embedding_size=16, width=0.25, pool_grid=3).eval()
    assert net.last_linear.in_features == net.feature_channels * 9
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        # A 96 px input leaves a 3x3 map: swapping two of its cells changes a grid-3
        # embedding, while a global average pool could not tell them apart.
        features = net.features(x)
        swapped = features.clone()
        swapped[..., 0, 0], swapped[..., 2, 2] = features[..., 2, 2], features[..., 0, 0]
        head = lambda f: net.last_bn(net.last_linear(net.avgpool(f).flatten(1)))  # noqa: E731
        assert torch.allclose(head(features), net(x), atol=1e-5)
        assert not torch.allclose(head(features), head(swapped), atol=1e-3)
    with pytest.raises(ValueError, match="pool_grid"):
        MobileNetV1(pool_grid=0)
