"""A toy model plugin for the core's tests: a few-layer CNN on generated data.

Four classes of 16x16 images, each class a colour pattern plus noise, generated from the
seed. The metric is classification accuracy on held-out samples. Knobs for the tests:
``data.delay_s`` slows each sample (so a signal lands mid-run), ``loss.nan_at_step``
poisons the loss, ``data.fail_in`` makes a hook raise.
"""

from __future__ import annotations

import time

from modelzoo import hookimpl
from modelzoo.api import (DataIdentity, EvalResult, MetricColumn, ModelSpec, TrainData,
                          with_core_defaults)

__version__ = "0.0.1"

PROFILE = with_core_defaults({
    "data": {"classes": 4, "images": 256, "size": 16, "delay_s": 0.0, "fail_in": ""},
    "model": {"width": 8},
    "loss": {"nan_at_step": 0},
    "train": {"epochs": 2, "batch_size": 16, "num_workers": 0, "log_every": 4,
              "fps_warmup_steps": 2, "compute_fps_steps": 4},
    "optimizer": {"name": "sgd", "lr": 0.05},
})


@hookimpl
def modelzoo_models():
    return [ModelSpec(name="toy", description="toy CNN on generated colour patterns",
                      metric_columns=(MetricColumn("accuracy", "Accuracy", "{:.4f}"),),
                      profiles={"default": PROFILE,
                                "fast": with_core_defaults({**PROFILE, "train": {**PROFILE["train"], "epochs": 1}})},
                      default_profile="default")]


def _fail(context, hook_name):
    if context.config["data"]["fail_in"] == hook_name:
        raise RuntimeError(f"toy failure in {hook_name}")


def _make_samples(config, seed, count):
    import torch

    generator = torch.Generator().manual_seed(seed)
    classes, size = config["data"]["classes"], config["data"]["size"]
    labels = torch.randint(0, classes, (count,), generator=generator)
    palette = torch.linspace(-1, 1, classes * 3).reshape(classes, 3, 1, 1)
    images = palette[labels] + 0.5 * torch.randn(count, 3, size, size, generator=generator)
    return images, labels


class _SlowDataset:
    def __init__(self, images, labels, delay):
        self.images, self.labels, self.delay = images, labels, delay

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        if self.delay:
            time.sleep(self.delay)
        return self.images[index], self.labels[index]


@hookimpl
def modelzoo_check_data(context):
    if context.model != "toy":
        return None
    return []


@hookimpl
def modelzoo_train_data(context):
    if context.model != "toy":
        return None
    _fail(context, "modelzoo_train_data")
    images, labels = _make_samples(context.config, context.seed, context.config["data"]["images"])
    return TrainData(dataset=_SlowDataset(images, labels, context.config["data"]["delay_s"]),
                     identity=DataIdentity(name="toy patterns", kind="synthetic", path="(generated)",
                                           images=len(labels), identities=context.config["data"]["classes"]),
                     num_classes=context.config["data"]["classes"])


@hookimpl
def modelzoo_build_model(context, num_classes):
    if context.model != "toy":
        return None
    from torch import nn

    _fail(context, "modelzoo_build_model")
    width = context.config["model"]["width"]
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))



@hookimpl
def modelzoo_build_loss(context, num_classes):
    if context.model != "toy":
        return None
    import torch
    from torch import nn

    nan_at = context.config["loss"]["nan_at_step"]

    class PoisonableCrossEntropy(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros((), dtype=torch.long))

        def forward(self, logits, targets):
            self.calls += 1
            loss = nn.functional.cross_entropy(logits, targets)
            if nan_at and int(self.calls) >= nan_at:
                loss = loss * float("nan")
            return loss

    return PoisonableCrossEntropy()


@hookimpl
def modelzoo_evaluate(context, network):
    if context.model != "toy":
        return None
    _fail(context, "modelzoo_evaluate")
    images, labels = _make_samples(context.config, context.seed + 1, 128)
    predictions = network(images.to(context.device)).argmax(1).cpu()
    return EvalResult(metrics={"accuracy": float((predictions == labels).float().mean())})


@hookimpl
def modelzoo_load_weights(context, path):
    if context.model != "toy":
        return None
    import torch

    network = modelzoo_build_model(context=context, num_classes=context.config["data"]["classes"])
    state = torch.load(path, map_location="cpu", weights_only=True)
    network.load_state_dict(state.get("model", state))
    return network
