"""The networks are torchvision's, built untrained for each supported arch."""

from __future__ import annotations

import pytest
import torch
from torchvision import models as tv

from modelzoo.contract.api import UserError
from modelzoo_classification.models import ARCHS, build_network, classifier_weight_key


@pytest.mark.parametrize("arch", ARCHS)
def test_every_arch_is_torchvisions_network_with_our_class_count(arch):
    torch.manual_seed(0)
    width = 0.5 if arch.startswith("mobilenet") else 1.0
    network = build_network(arch, 7, width=width)
    assert network.training
    expected = getattr(tv, arch)(weights=None, num_classes=7, **({"width_mult": width} if width != 1.0 else {}))
    assert type(network) is type(expected)
    assert {k: v.shape for k, v in network.state_dict().items()} == \
        {k: v.shape for k, v in expected.state_dict().items()}
    assert network.state_dict()[classifier_weight_key(arch)].shape[0] == 7
    network.eval()
    with torch.no_grad():
        assert network(torch.randn(2, 3, 64, 64)).shape == (2, 7)


def test_resnet50_is_the_25_million_parameter_network():
    network = build_network("resnet50", 1000)
    assert sum(p.numel() for p in network.parameters()) == 25_557_032


def test_options_that_do_not_apply_are_user_errors():
    with pytest.raises(UserError, match="model.arch 'resnet51' is not known"):
        build_network("resnet51", 10)
    with pytest.raises(UserError, match="model.width 0.5 applies to mobilenet"):
        build_network("resnet18", 10, width=0.5)
    with pytest.raises(UserError, match="at least 2"):
        build_network("resnet18", 1)
    residual = build_network("resnet18", 10, zero_init_residual=True)
    assert float(residual.layer1[0].bn2.weight.detach().abs().sum()) == 0.0


def test_topk_counts_a_row_when_its_target_is_among_the_k_best():
    from modelzoo_classification.evaluate import topk_correct

    logits = torch.tensor([[0.9, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0],   # target 0: top-1
                           [0.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.0],   # target 5: 5th best
                           [0.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.0]])  # target 6: last
    assert topk_correct(logits, torch.tensor([0, 5, 6])).tolist() == [1, 2]
    assert topk_correct(logits[:, :3], torch.tensor([0, 2, 1]), ks=(1, 5)).tolist() == [2, 3]  # 3 classes
