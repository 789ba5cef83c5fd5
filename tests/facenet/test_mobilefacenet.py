"""MobileFaceNet: shapes at the recipe's and the demo's sizes, the paper's size, embed()."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from modelzoo_facenet.mobilefacenet import MobileFaceNet, downsampled


def _parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("size, embedding, width, grid", [
    (112, 128, 1.0, (7, 7)),         # the recipe: 1/16 of the input
    (112, 512, 1.0, (7, 7)),         # the recipe's other embedding size
    (48, 128, 0.5, (3, 3)),          # a demo size: the global depthwise kernel follows the input
    ((40, 34), 64, 0.5, (3, 3)),     # a rectangle
])
def test_output_shapes(size, embedding, width, grid):
    model = MobileFaceNet(embedding_size=embedding, input_size=size, width=width).eval()
    h, w = (size, size) if isinstance(size, int) else size
    with torch.no_grad():
        out = model(torch.randn(3, 3, h, w))
    assert out.shape == (3, embedding)
    assert model.map_size == grid
    assert model.GDC_dw[0].kernel_size == grid


def test_size_of_the_papers_network():
    # Chen et al. 2018, Table 2: MobileFaceNet 0.99 M parameters, 221 M MAdds at 112 x 112.
    model = MobileFaceNet().eval()
    assert _parameters(model) == pytest.approx(0.99e6, rel=0.02)
    with FlopCounterMode(display=False) as flops:
        model(torch.randn(1, 3, 112, 112))
    assert flops.get_total_flops() / 2 == pytest.approx(221e6, rel=0.01)
    # 512-d adds only the last 1x1 convolution and batch norm's extra rows
    assert _parameters(MobileFaceNet(512)) - _parameters(model) == 512 * 384 + 2 * 384


def test_embed_in_eval_mode_is_the_normalized_forward_and_deterministic():
    model = MobileFaceNet(input_size=48, width=0.5)
    model.train()
    model(torch.randn(8, 3, 48, 48))  # move the batch-norm statistics off their start
    model.eval()
    x = torch.randn(4, 3, 48, 48)
    with torch.no_grad():
        forward, embedding, again = model(x), model.embed(x), model.embed(x)
    torch.testing.assert_close(embedding.norm(dim=1), torch.ones(4))
    torch.testing.assert_close(embedding, forward / forward.norm(dim=1, keepdim=True))
    torch.testing.assert_close(embedding, again)
    # eval mode uses running statistics: one image embeds alike alone or in a batch
    with torch.no_grad():
        torch.testing.assert_close(model.embed(x[:1]), embedding[:1], atol=1e-5, rtol=1e-4)


def test_gradients_reach_the_first_layer():
    model = MobileFaceNet(input_size=32, width=0.25)
    model(torch.randn(4, 3, 32, 32)).pow(2).sum().backward()
    assert model.conv1[0].weight.grad.abs().sum() > 0


def test_wrong_input_size_is_named():
    with pytest.raises(ValueError, match="built for 48x48 inputs, got 56x56"):
        MobileFaceNet(input_size=48)(torch.randn(1, 3, 56, 56))


def test_downsampled_rounds_up():
    assert [downsampled(n, 4) for n in (112, 96, 48, 40, 17, 16)] == [7, 6, 3, 3, 2, 1]
