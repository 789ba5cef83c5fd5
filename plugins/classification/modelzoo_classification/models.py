"""The networks: torchvision's own classification models, built untrained.

``resnet50`` is the zoo's model; the smaller ones let a CPU or a small card run the
same recipe (``--set model.arch=resnet18``). Nothing here re-implements a network.
"""

from __future__ import annotations

from torch import nn
from torchvision import models

from modelzoo.contract.api import UserError

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101")
MOBILENETS = ("mobilenet_v3_small", "mobilenet_v3_large")
ARCHS = RESNETS + MOBILENETS


def check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise UserError(f"model.arch '{arch}' is not known; use one of {', '.join(ARCHS)}")


def build_network(arch: str, num_classes: int, *, width: float = 1.0, dropout: float = 0.2,
                  zero_init_residual: bool = False) -> nn.Module:
    """torchvision's ``arch`` with ``num_classes`` outputs, randomly initialized, in training mode.

    ``width`` is MobileNetV3's width multiplier and ``dropout`` its classifier dropout
    (torchvision's default 0.2); ResNets have neither. ``zero_init_residual`` starts each
    ResNet residual branch at zero (torchvision's option; its reference recipe leaves it off).
    """
    check_arch(arch)
    if num_classes < 2:
        raise UserError(f"the training set has {num_classes} class; a classifier needs at least 2")
    builder = getattr(models, arch)
    if arch in RESNETS:
        if width != 1.0:
            raise UserError(f"model.width {width} applies to mobilenet_v3_small/large only; "
                            f"pass --set model.width=1.0 for {arch}")
        network = builder(weights=None, num_classes=num_classes, zero_init_residual=zero_init_residual)
    else:
        if not 0.0 <= dropout < 1.0:
            raise UserError(f"model.dropout {dropout} is out of range; use 0 <= dropout < 1")
        network = builder(weights=None, num_classes=num_classes, width_mult=width, dropout=dropout)
    return network.train()


def classifier_weight_key(arch: str) -> str:
    """The state-dict key of the last layer's weight (its rows are the classes)."""
    check_arch(arch)
    return "fc.weight" if arch in RESNETS else "classifier.3.weight"
