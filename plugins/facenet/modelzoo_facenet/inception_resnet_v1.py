"""Inception-ResNet-v1, the FaceNet network (Szegedy et al. 2016; Schroff et al. 2015).

The layout follows davidsandberg/facenet's ``inception_resnet_v1`` (the "v1" stem,
5 x Block35 scaled 0.17, Mixed_6a, 10 x Block17 scaled 0.10, Mixed_7a, 5 x Block8
scaled 0.20 and a final Block8 without ReLU, global average pool, dropout, a
bias-free bottleneck Linear and a BatchNorm1d). Module names are those of
facenet-pytorch 2.6.0 (``conv2d_1a``, ``repeat_1.0.branch1.1.conv``, ``last_linear``,
``last_bn``, ``logits``...), so the published PyTorch FaceNet checkpoints (VGGFace2 with
8631 classes, CASIA-WebFace with 10575, both with ``logits``) load with ``strict=True``
into ``InceptionResnetV1(num_classes=8631)`` / ``(num_classes=10575)``.

Outputs (the contract with the trainer and the losses):

- ``forward(x)``: the un-normalized prelogits, ``(N, embedding_size)`` (after
  ``last_linear`` and ``last_bn``). The softmax recipe's cross-entropy and
  prelogits-norm penalty act on these.
- ``embed(x)``: the L2-normalized prelogits, the face embedding (what facenet-pytorch's
  ``forward`` returns with ``classify=False``).
- ``classify(x)``: ``logits(forward(x))``; the attribute exists only when the network was
  built with ``num_classes`` (``hasattr(net, "classify")`` says whether it can).

Input: ``(N, 3, H, W)`` images standardized as ``(x - 127.5) / 128``; 160 x 160 is the
recipe's size, anything from about 75 px up works (adaptive average pool).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

# The recipe's batch norm: TF decay 0.995 is PyTorch momentum 0.005; TF epsilon 1e-3.
DEFAULT_BN_MOMENTUM = 0.005
DEFAULT_BN_EPS = 1e-3

#: Published checkpoint class counts (facenet-pytorch's release files).
CHECKPOINT_CLASSES = {"vggface2": 8631, "casia-webface": 10575}


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 padding=0, *, bn_momentum: float, bn_eps: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum)
        # In-place is safe: batch norm's backward does not need its own output.
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class _Residual(nn.Module):
    """Shared forward of the three residual Inception blocks: relu(x + scale * up(cat))."""

    scale: float
    activate: bool

    def _branches(self, x: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2d(torch.cat(self._branches(x), 1))
        out = x + out * self.scale
        return F.relu(out) if self.activate else out


class Block35(_Residual):
    """Inception-ResNet-A (35 x 35 grid in the paper's 299 px terms), 256 channels."""

    def __init__(self, scale: float, **bn) -> None:
        super().__init__()
        self.scale, self.activate = scale, True
        self.branch0 = BasicConv2d(256, 32, 1, **bn)
        self.branch1 = nn.Sequential(BasicConv2d(256, 32, 1, **bn),
                                     BasicConv2d(32, 32, 3, padding=1, **bn))
        self.branch2 = nn.Sequential(BasicConv2d(256, 32, 1, **bn),
                                     BasicConv2d(32, 32, 3, padding=1, **bn),
                                     BasicConv2d(32, 32, 3, padding=1, **bn))
        self.conv2d = nn.Conv2d(96, 256, 1)

    def _branches(self, x):
        return [self.branch0(x), self.branch1(x), self.branch2(x)]


class Block17(_Residual):
    """Inception-ResNet-B (17 x 17), 896 channels, factorized 1x7 / 7x1."""

    def __init__(self, scale: float, **bn) -> None:
        super().__init__()
        self.scale, self.activate = scale, True
        self.branch0 = BasicConv2d(896, 128, 1, **bn)
        self.branch1 = nn.Sequential(BasicConv2d(896, 128, 1, **bn),
                                     BasicConv2d(128, 128, (1, 7), padding=(0, 3), **bn),
                                     BasicConv2d(128, 128, (7, 1), padding=(3, 0), **bn))
        self.conv2d = nn.Conv2d(256, 896, 1)

    def _branches(self, x):
        return [self.branch0(x), self.branch1(x)]


class Block8(_Residual):
    """Inception-ResNet-C (8 x 8), 1792 channels, factorized 1x3 / 3x1."""

    def __init__(self, scale: float = 1.0, activate: bool = True, **bn) -> None:
        super().__init__()
        self.scale, self.activate = scale, activate
        self.branch0 = BasicConv2d(1792, 192, 1, **bn)
        self.branch1 = nn.Sequential(BasicConv2d(1792, 192, 1, **bn),
                                     BasicConv2d(192, 192, (1, 3), padding=(0, 1), **bn),
                                     BasicConv2d(192, 192, (3, 1), padding=(1, 0), **bn))
        self.conv2d = nn.Conv2d(384, 1792, 1)

    def _branches(self, x):
        return [self.branch0(x), self.branch1(x)]


class Mixed_6a(nn.Module):
    """Reduction-A: 256 -> 896 channels, stride 2."""

    def __init__(self, **bn) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, stride=2, **bn)
        self.branch1 = nn.Sequential(BasicConv2d(256, 192, 1, **bn),
                                     BasicConv2d(192, 192, 3, padding=1, **bn),
                                     BasicConv2d(192, 256, 3, stride=2, **bn))
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed_7a(nn.Module):
    """Reduction-B: 896 -> 1792 channels, stride 2."""

    def __init__(self, **bn) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(896, 256, 1, **bn),
                                     BasicConv2d(256, 384, 3, stride=2, **bn))
        self.branch1 = nn.Sequential(BasicConv2d(896, 256, 1, **bn),
                                     BasicConv2d(256, 256, 3, stride=2, **bn))
        self.branch2 = nn.Sequential(BasicConv2d(896, 256, 1, **bn),
                                     BasicConv2d(256, 256, 3, padding=1, **bn),
                                     BasicConv2d(256, 256, 3, stride=2, **bn))
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x),
                          self.branch3(x)), 1)


class InceptionResnetV1(nn.Module):
    """FaceNet's Inception-ResNet-v1 with an embedding head.

    Args:
        embedding_size: size of the bottleneck (prelogits); 512 is the recipe's and the
            only size the published checkpoints fit; 128 is the FaceNet paper's.
        num_classes: when given, adds ``logits = Linear(embedding_size, num_classes)``
            and the ``classify`` method (needed to load the published checkpoints, which
            include their classifier). Training losses bring their own classifier, so
            the trainer builds the network without it.
        dropout_keep: keep probability of the dropout before the bottleneck (TF style;
            the dropout probability is ``1 - dropout_keep``).
        bn_momentum: PyTorch batch-norm momentum for every batch norm (0.005 = TF decay
            0.995). Affects only how running statistics move in training.
        bn_eps: batch-norm epsilon (1e-3, as in TF and in the checkpoints).

    Weights start from Xavier-uniform (TF-slim's default in the original recipe), with
    zero biases and unit/zero batch-norm affine parameters.
    """

    def __init__(self, embedding_size: int = 512, num_classes: Optional[int] = None,
                 dropout_keep: float = 0.8, bn_momentum: float = DEFAULT_BN_MOMENTUM,
                 bn_eps: float = DEFAULT_BN_EPS) -> None:
        super().__init__()
        if not 0.0 < dropout_keep <= 1.0:
            raise ValueError(f"dropout_keep must be in (0, 1], got {dropout_keep}")
        self.embedding_size = embedding_size
        self.num_classes = num_classes
        bn = {"bn_momentum": bn_momentum, "bn_eps": bn_eps}

        self.conv2d_1a = BasicConv2d(3, 32, 3, stride=2, **bn)
        self.conv2d_2a = BasicConv2d(32, 32, 3, **bn)
        self.conv2d_2b = BasicConv2d(32, 64, 3, padding=1, **bn)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, 1, **bn)
        self.conv2d_4a = BasicConv2d(80, 192, 3, **bn)
        self.conv2d_4b = BasicConv2d(192, 256, 3, stride=2, **bn)
        self.repeat_1 = nn.Sequential(*(Block35(0.17, **bn) for _ in range(5)))
        self.mixed_6a = Mixed_6a(**bn)
        self.repeat_2 = nn.Sequential(*(Block17(0.10, **bn) for _ in range(10)))
        self.mixed_7a = Mixed_7a(**bn)
        self.repeat_3 = nn.Sequential(*(Block8(0.20, **bn) for _ in range(5)))
        self.block8 = Block8(1.0, activate=False, **bn)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(1.0 - dropout_keep)
        self.last_linear = nn.Linear(1792, embedding_size, bias=False)
        self.last_bn = nn.BatchNorm1d(embedding_size, eps=bn_eps, momentum=bn_momentum)
        self.logits = nn.Linear(embedding_size, num_classes) if num_classes else None
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Un-normalized prelogits, ``(N, embedding_size)``."""
        x = self.conv2d_1a(x)
        x = self.conv2d_2a(x)
        x = self.conv2d_2b(x)
        x = self.maxpool_3a(x)
        x = self.conv2d_3b(x)
        x = self.conv2d_4a(x)
        x = self.conv2d_4b(x)
        x = self.repeat_1(x)
        x = self.mixed_6a(x)
        x = self.repeat_2(x)
        x = self.mixed_7a(x)
        x = self.repeat_3(x)
        x = self.block8(x)
        x = self.avgpool_1a(x).flatten(1)
        x = self.dropout(x)
        return self.last_bn(self.last_linear(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalized embedding, ``(N, embedding_size)``."""
        return F.normalize(self.forward(x), p=2, dim=1)

    @property
    def classify(self):
        """``classify(x) -> logits``; absent (AttributeError) without ``num_classes``."""
        if self.logits is None:
            raise AttributeError("classify")  # falls through to nn.Module's message
        return self._classify

    def _classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.forward(x))


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module, exclude: tuple[str, ...] = ("logits.",)) -> int:
    """Number of trainable parameters, leaving out those whose names start with ``exclude``."""
    return sum(p.numel() for name, p in module.named_parameters()
               if p.requires_grad and not name.startswith(exclude))
