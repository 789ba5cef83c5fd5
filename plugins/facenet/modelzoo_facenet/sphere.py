"""sphere20 (Liu et al. 2017, SphereFace's 20-layer CNN), the backbone of the zoo's CosFace recipe.

As MuggleWang/CosFace_pytorch's ``sphere20`` builds it (module names as there): four
stages, each a 3x3 stride-2 convolution with PReLU followed by residual units of two 3x3
convolutions with PReLU (1, 2, 4, 1 units at 64, 128, 256, 512 channels), then ``fc5``,
a linear layer from the flattened 512-channel map to the 512-d embedding. 4 + 2 x 8 = 20
convolutional layers (SphereFace's count: 3 + 5 + 9 + 3), then fc5; no batch norm. Convolutions carry biases;
weights are Xavier-uniform with zero biases, as there.

At the recipe's 112 x 96 input the map is 7 x 6 (1/16, rounded up), so ``fc5`` reads
512 x 7 x 6 values; ``input_size`` sizes it for other inputs (the demo's). ``width``
scales every channel count (1.0: the recipe's network, about 22.9 M parameters; smaller
for CPU demos).

Outputs follow the other networks' contract: ``forward(x)`` is ``fc5``'s output
``(N, embedding_size)``, ``embed(x)`` its L2-normalized rows. The classifier
(CosFace's MarginCosineProduct weights) lives in the loss.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from modelzoo_facenet.sizes import checked_input

from .mobilefacenet import downsampled

UNITS = (1, 2, 4, 1)          # residual units per stage (sphere20)
CHANNELS = (64, 128, 256, 512)


class Residual(nn.Module):
    """x + PReLU(conv(PReLU(conv(x)))), two 3x3 convolutions at constant shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu1 = nn.PReLU(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu2 = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.relu2(self.conv2(self.relu1(self.conv1(x))))


def _stage(in_channels: int, out_channels: int, units: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1),
                         nn.PReLU(out_channels), *(Residual(out_channels) for _ in range(units)))


class Sphere20(nn.Module):
    """sphere20 for ``input_size`` (an int or (height, width); 112 x 96 in the recipe) inputs."""

    def __init__(self, embedding_size: int = 512, input_size: int | tuple[int, int] = (112, 96),
                 width: float = 1.0) -> None:
        super().__init__()
        height, width_px = checked_input(input_size, width, "sphere20")
        self.embedding_size = embedding_size
        self.input_size = (int(height), int(width_px))
        channels = [max(int(round(c * width)), 8) for c in CHANNELS]
        previous = 3
        for i, (out, units) in enumerate(zip(channels, UNITS), start=1):
            setattr(self, f"layer{i}", _stage(previous, out, units))
            previous = out
        self.map_size = (downsampled(height, 4), downsampled(width_px, 4))
        self.fc5 = nn.Linear(previous * self.map_size[0] * self.map_size[1], embedding_size)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``fc5``'s output, the un-normalized embedding ``(N, embedding_size)``."""
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"sphere20 was built for {self.input_size[0]}x{self.input_size[1]} inputs, "
                             f"got {x.shape[-2]}x{x.shape[-1]}")
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc5(x.flatten(1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """L2-normalized embedding, ``(N, embedding_size)``."""
        return F.normalize(self.forward(x), p=2, dim=1)
