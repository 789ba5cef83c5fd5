"""MobileFaceNet (Chen et al. 2018), the backbone of the zoo's ArcFace recipe.

The layer table follows the paper's Table 1 as bubbliiiing/arcface-pytorch builds it
(module names as there, so its checkpoints' structure is recognisable):

    conv1        3x3 conv, 64, stride 2                       conv + BN + PReLU
    conv2_dw     3x3 depthwise, 64
    conv_23      bottleneck 64 -> 64, expansion 128, stride 2
    conv_3       4 residual bottlenecks 64, expansion 128
    conv_34      bottleneck 64 -> 128, expansion 256, stride 2
    conv_4       6 residual bottlenecks 128, expansion 256
    conv_45      bottleneck 128 -> 128, expansion 512, stride 2
    conv_5       2 residual bottlenecks 128, expansion 256
    sep          1x1 conv 128 -> 512                          conv + BN + PReLU
    GDC_dw       global depthwise conv over the whole map     conv + BN (linear)
    features     1x1 conv 512 -> embedding_size, last_bn      (linear)

A bottleneck is 1x1 expansion (conv + BN + PReLU), 3x3 depthwise at the stride (conv +
BN + PReLU), 1x1 linear projection (conv + BN), with the input added when it is a
residual one. The feature map is 1/16 of the input (7x7 at 112 px); the global
depthwise kernel is sized from the input (``input_size``), so smaller inputs (the demo's)
work too. ``width`` scales every channel count (1.0: the paper's network, about 1.0 M
parameters with a 128-d embedding; smaller for CPU demos).

Outputs follow the other networks' contract (:mod:`modelzoo_facenet.mobilenet_v1`):
``forward(x)`` is the un-normalized embedding ``(N, embedding_size)`` (after ``last_bn``,
as the recipe's head returns it before normalizing), ``embed(x)`` its L2-normalized rows.
The classifier (ArcFace margin weights) lives in the loss.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from modelzoo_facenet.sizes import checked_input


def downsampled(size: int, halvings: int) -> int:
    """The side of a map after ``halvings`` 3x3 stride-2 pad-1 convolutions: ceil(n / 2) each."""
    for _ in range(halvings):
        size = (size - 1) // 2 + 1
    return size


def _scaled(channels: int, width: float) -> int:
    return max(int(round(channels * width)), 8)


class ConvBlock(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> PReLU (``linear=True``: no PReLU)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int | tuple[int, int] = 1,
                 stride: int = 1, padding: int = 0, groups: int = 1, linear: bool = False) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding,
                      groups=groups, bias=False),
            nn.BatchNorm2d(out_channels)]
        if not linear:
            layers.append(nn.PReLU(out_channels))
        super().__init__(*layers)


class DepthWise(nn.Module):
    """Inverted bottleneck: 1x1 expand, 3x3 depthwise (``stride``), 1x1 linear projection."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int = 1,
                 residual: bool = False) -> None:
        super().__init__()
        if residual and (stride != 1 or in_channels != out_channels):
            raise ValueError("a residual bottleneck keeps the shape (stride 1, same channels)")
        self.residual = residual
        self.conv = ConvBlock(in_channels, expansion, 1)
        self.conv_dw = ConvBlock(expansion, expansion, 3, stride=stride, padding=1, groups=expansion)
        self.project = ConvBlock(expansion, out_channels, 1, linear=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.conv_dw(self.conv(x)))
        return x + out if self.residual else out


def _residual(channels: int, expansion: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*(DepthWise(channels, channels, expansion, residual=True) for _ in range(blocks)))


class MobileFaceNet(nn.Module):
    """MobileFaceNet for ``input_size`` (an int or (height, width)) inputs.

    Args:
        embedding_size: 128 in the recipe for MobileFaceNet (512 for its other backbones).
        input_size: the training/evaluation input; sizes the global depthwise kernel.
        width: channel multiplier (1.0: the paper).
    """

    def __init__(self, embedding_size: int = 128, input_size: int | tuple[int, int] = 112,
                 width: float = 1.0) -> None:
        super().__init__()
        height, width_px = checked_input(input_size, width, "MobileFaceNet")
        self.embedding_size = embedding_size
        self.input_size = (int(height), int(width_px))
        c64, c128, c256, c512 = (_scaled(c, width) for c in (64, 128, 256, 512))
        self.conv1 = ConvBlock(3, c64, 3, stride=2, padding=1)
        self.conv2_dw = ConvBlock(c64, c64, 3, padding=1, groups=c64)
        self.conv_23 = DepthWise(c64, c64, c128, stride=2)
        self.conv_3 = _residual(c64, c128, 4)
        self.conv_34 = DepthWise(c64, c128, c256, stride=2)
        self.conv_4 = _residual(c128, c256, 6)
        self.conv_45 = DepthWise(c128, c128, c512, stride=2)
        self.conv_5 = _residual(c128, c256, 2)
        self.sep = ConvBlock(c128, c512, 1)
        self.map_size = (downsampled(height, 4), downsampled(width_px, 4))
        self.GDC_dw = ConvBlock(c512, c512, self.map_size, groups=c512, linear=True)
        self.features = nn.Conv2d(c512, embedding_size, 1, bias=False)
        self.last_bn = nn.BatchNorm2d(embedding_size)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Un-normalized embedding, ``(N, embedding_size)``."""
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"MobileFaceNet was built for {self.input_size[0]}x{self.input_size[1]} "
                             f"inputs, got {x.shape[-2]}x{x.shape[-1]}")
        x = self.conv2_dw(self.conv1(x))
        x = self.conv_5(self.conv_45(self.conv_4(self.conv_34(self.conv_3(self.conv_23(x))))))
        x = self.GDC_dw(self.sep(x))
        return self.last_bn(self.features(x)).flatten(1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalized embedding, ``(N, embedding_size)``."""
        return F.normalize(self.forward(x), p=2, dim=1)
