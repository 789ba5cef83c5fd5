"""sphere20: shapes at the recipe's 112 x 96 and at demo sizes, its size, embed()."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelzoo_facenet.sphere import Sphere20


def _parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _conv(c_in, c_out):  # 3x3 with bias
    return c_in * c_out * 9 + c_out


@pytest.mark.parametrize("size, width, grid", [
    ((112, 96), 1.0, (7, 6)),    # the recipe: fc5 reads 512 x 7 x 6
    ((48, 40), 0.25, (3, 3)),    # a demo rectangle
    (32, 0.25, (2, 2)),          # a small square
])
def test_output_shapes(size, width, grid):
    model = Sphere20(input_size=size, width=width).eval()
    h, w = (size, size) if isinstance(size, int) else size
    with torch.no_grad():
        out = model(torch.randn(2, 3, h, w))
    assert out.shape == (2, 512)
    assert model.map_size == grid
    assert model.fc5.in_features == int(512 * width) * grid[0] * grid[1]


def test_size_matches_the_layer_table():
    # 4 stride-2 convolutions, 1 + 2 + 4 + 1 residual units of two convolutions, fc5, PReLUs.
    model = Sphere20()
    convs = (_conv(3, 64) + 2 * _conv(64, 64) + _conv(64, 128) + 4 * _conv(128, 128)
             + _conv(128, 256) + 8 * _conv(256, 256) + _conv(256, 512) + 2 * _conv(512, 512))
    prelus = 64 * 3 + 128 * 5 + 256 * 9 + 512 * 3
    fc5 = 512 * 7 * 6 * 512 + 512
    assert _parameters(model) == convs + prelus + fc5
    assert _parameters(model) == pytest.approx(22.7e6, rel=0.01)
    # SphereFace's count: 20 convolutional layers (3 + 5 + 9 + 3), then fc5
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 20
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == 1
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_embed_in_eval_mode_is_the_normalized_forward():
    model = Sphere20(input_size=(48, 40), width=0.25).eval()
    x = torch.randn(3, 3, 48, 40)
    with torch.no_grad():
        forward, embedding = model(x), model.embed(x)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(embedding, forward / forward.norm(dim=1, keepdim=True))
    # no batch statistics: an image embeds alike alone or in a batch
    with torch.no_grad():
        torch.testing.assert_close(model.embed(x[:1]), embedding[:1], atol=1e-5, rtol=1e-4)


def test_gradients_reach_the_first_layer():
    model = Sphere20(input_size=(32, 28), width=0.25)
    model(torch.randn(2, 3, 32, 28)).pow(2).sum().backward()
    assert model.layer1[0].weight.grad.abs().sum() > 0


def test_wrong_input_size_is_named():
    with pytest.raises(ValueError, match="built for 112x96 inputs, got 112x112"):
        Sphere20()(torch.randn(1, 3, 112, 112))
