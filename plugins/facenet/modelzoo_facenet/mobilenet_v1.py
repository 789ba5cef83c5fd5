"""MobileNetV1 (Howard et al. 2017) with FaceNet's embedding head.

The backbone is the paper's Table 1: a 3x3 stride-2 convolution, then 13 depthwise
separable blocks (3x3 depthwise + 1x1 pointwise, each followed by batch norm and ReLU),
five of the 14 convolutions at stride 2, channels 32 -> 1024 scaled by the width
multiplier (TF-slim's rule: ``max(int(c * width), 8)``). Then the same head as
:class:`~modelzoo_facenet.inception_resnet_v1.InceptionResnetV1`: global average pool,
dropout, ``last_linear`` (no bias) and ``last_bn``, and an optional ``logits``.

``pool_grid`` > 1 pools to a grid of that many cells a side instead of one, and
``last_linear`` reads the flattened grid: where the eyes, nose and mouth sit is kept
(face networks' flatten / global-depthwise heads do the same; at 96 px the map is 3x3,
so a grid of 3 keeps it whole).

The zoo's PyTorch FaceNet port used this backbone (128-d embedding); here it also
serves the demo (64 px synthetic faces, width 0.25 to 0.5) and quick CPU runs.

Outputs follow the Inception network's contract: ``forward(x)`` is the un-normalized
prelogits ``(N, embedding_size)``; ``embed(x)`` their L2-normalized rows; ``classify(x)``
(only when built with ``num_classes``) the logits. Any input of 32 px or more works
(the feature map is 1/32 of the input, then pooled).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from .inception_resnet_v1 import DEFAULT_BN_EPS, DEFAULT_BN_MOMENTUM

# (output channels, stride) of the 13 depthwise separable blocks; paper Table 1.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _scaled(channels: int, width: float) -> int:
    return max(int(channels * width), 8)


class ConvBNReLU(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> ReLU; ``groups=in_channels`` makes it depthwise."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 groups: int, bn_momentum: float, bn_eps: float) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                      padding=kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum),
            nn.ReLU(inplace=True),
        )


class DepthwiseSeparable(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, stride: int, **bn) -> None:
        super().__init__()
        self.depthwise = ConvBNReLU(in_channels, in_channels, 3, stride, in_channels, **bn)
        self.pointwise = ConvBNReLU(in_channels, out_channels, 1, 1, 1, **bn)


class MobileNetV1(nn.Module):
    """MobileNetV1 backbone + FaceNet embedding head.

    Args:
        embedding_size: size of the prelogits / embedding (128 in the zoo's port).
        width: the width multiplier alpha (1.0, 0.75, 0.5, 0.25...).
        dropout_keep: keep probability of the dropout before ``last_linear``.
        bn_momentum, bn_eps: batch-norm settings for every batch norm (PyTorch
            momentum; 0.005 is TF decay 0.995).
        num_classes: when given, adds ``logits`` and ``classify``.
        pool_grid: cells a side of the pooled feature map (1: global average pool).
    """

    def __init__(self, embedding_size: int = 128, width: float = 1.0,
                 dropout_keep: float = 0.8, bn_momentum: float = DEFAULT_BN_MOMENTUM,
                 bn_eps: float = DEFAULT_BN_EPS, num_classes: Optional[int] = None,
                 pool_grid: int = 1) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        if not 0.0 < dropout_keep <= 1.0:
            raise ValueError(f"dropout_keep must be in (0, 1], got {dropout_keep}")
        if pool_grid < 1:
            raise ValueError(f"pool_grid must be 1 or more, got {pool_grid}")
        self.embedding_size = embedding_size
        self.width = width
        self.num_classes = num_classes
        bn = {"bn_momentum": bn_momentum, "bn_eps": bn_eps}

        channels = _scaled(32, width)
        layers: list[nn.Module] = [ConvBNReLU(3, channels, 3, 2, 1, **bn)]
        for out, stride in _BLOCKS:
            out = _scaled(out, width)
            layers.append(DepthwiseSeparable(channels, out, stride, **bn))
            channels = out
        self.features = nn.Sequential(*layers)
        self.feature_channels = channels
        self.pool_grid = pool_grid
        self.avgpool = nn.AdaptiveAvgPool2d(pool_grid)
        self.dropout = nn.Dropout(1.0 - dropout_keep)
        self.last_linear = nn.Linear(channels * pool_grid * pool_grid, embedding_size, bias=False)
        self.last_bn = nn.BatchNorm1d(embedding_size, eps=bn_eps, momentum=bn_momentum)
        self.logits = nn.Linear(embedding_size, num_classes) if num_classes else None
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He init on fan-in keeps activations at scale even before batch norm
                # has statistics (a fresh net in eval mode). fan_out would count all
                # C x 9 outputs of a depthwise conv and shrink its weights to nothing.
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Un-normalized prelogits, ``(N, embedding_size)``."""
        x = self.avgpool(self.features(x)).flatten(1)
        return self.last_bn(self.last_linear(self.dropout(x)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalized embedding, ``(N, embedding_size)``."""
        return F.normalize(self.forward(x), p=2, dim=1)

    @property
    def classify(self):
        """``classify(x) -> logits``; absent (AttributeError) without ``num_classes``."""
        if self.logits is None:
            raise AttributeError("classify")
        return self._classify

    def _classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.forward(x))
