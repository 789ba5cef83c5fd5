"""A toy model plugin for the core's tests: two models on generated data.

- ``toy``: a few-layer CNN on four classes of 16x16 images, each class a colour pattern
  plus noise, generated from the seed; accuracy on held-out samples. Knobs for the
  tests: ``data.delay_s`` slows each sample (so a signal lands mid-run),
  ``loss.nan_at_step`` poisons the loss, ``loss.raise_at_step`` crashes it (an error
  inside the training loop), ``data.fail_in`` makes a hook raise,
  ``data.skip_metric`` leaves the accuracy out of the evaluation. Knobs that slow one
  phase each, so that a signal lands there (the fault tests): ``data.build_delay_s``
  (building the data set), ``model.state_dict_delay_s`` (gathering the weights for a
  checkpoint), ``eval.delay_s`` (the evaluation), ``loss.delay_s`` from the
  ``loss.delay_from_call``-th loss call on (the compute-only timing, which follows the
  training steps); each logs a ``toy: slow ...`` line when its delay starts.
- ``toyseq``: not an image model: a tiny next-token model on generated sequences,
  dict batches (``{"tokens", "next"}``), throughput in tokens/s and a lower-is-better
  metric (the held-out loss), with a declared curve.
"""

from __future__ import annotations

import time

from modelzoo import hookimpl
from modelzoo.contract.api import CurveSpec, DataIdentity, EvalResult, MetricColumn, ModelSpec, TrainData

__version__ = "0.0.1"

PROFILE = {
    "data": {"classes": 4, "images": 256, "size": 16, "delay_s": 0.0, "fail_in": "", "skip_metric": False,
             "build_delay_s": 0.0},
    "model": {"width": 8, "state_dict_delay_s": 0.0},
    "loss": {"nan_at_step": 0, "raise_at_step": 0, "delay_from_call": 0, "delay_s": 0.0},
    "eval": {"delay_s": 0.0},
    "train": {"epochs": 2, "batch_size": 16, "num_workers": 0, "log_every": 4,
              "fps_warmup_steps": 2, "compute_fps_steps": 4},
    "optimizer": {"name": "sgd", "lr": 0.05},
}
SEQ_PROFILE = {
    "data": {"vocabulary": 16, "length": 12, "sequences": 256},
    "model": {"width": 16},
    "train": {"epochs": 2, "batch_size": 16, "num_workers": 0, "log_every": 4,
              "fps_warmup_steps": 2, "compute_fps_steps": 4},
    "optimizer": {"name": "adam", "lr": 0.01},
}


@hookimpl
def modelzoo_models():
    return [ModelSpec(name="toy", description="toy CNN on generated colour patterns",
                      metric_columns=(MetricColumn("accuracy", "Accuracy", "{:.4f}", lowest=0.0, highest=1.0),),
                      profiles={"default": PROFILE,
                                "fast": {**PROFILE, "train": {**PROFILE["train"], "epochs": 1}}},
                      default_profile="default"),
            ModelSpec(name="toyseq", description="toy next-token model on generated sequences",
                      metric_columns=(MetricColumn("heldout_loss", "Loss", "{:.4f}", higher_is_better=False,
                                                   lowest=0.0),),
                      profiles={"default": SEQ_PROFILE}, default_profile="default",
                      throughput_unit="tokens/s",
                      curves=(CurveSpec("position_loss", x="position", y="loss", title="Loss by position",
                                        x_label="position", y_label="loss", caption_metric="heldout_loss"),))]


def _fail(context, hook_name):
    if context.config["data"].get("fail_in") == hook_name:
        raise RuntimeError(f"toy failure in {hook_name}")


def _slow(context, section, key, phase):
    """Sleep ``config[section][key]`` seconds (a knob of the fault tests), saying so in the log."""
    delay = context.config.get(section, {}).get(key, 0.0)
    if delay:
        context.log(f"toy: slow {phase} ({delay} s)")
        time.sleep(delay)


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
    return []


@hookimpl
def modelzoo_train_data(context):
    _fail(context, "modelzoo_train_data")
    if context.model == "toyseq":
        return _sequence_data(context)
    _slow(context, "data", "build_delay_s", "data set")
    images, labels = _make_samples(context.config, context.seed, context.config["data"]["images"])
    return TrainData(dataset=_SlowDataset(images, labels, context.config["data"]["delay_s"]),
                     identity=DataIdentity(name="toy patterns", kind="synthetic", path="(generated)",
                                           images=len(labels), identities=context.config["data"]["classes"]),
                     info={"num_classes": context.config["data"]["classes"]})


@hookimpl
def modelzoo_build_model(context, data):
    from torch import nn

    _fail(context, "modelzoo_build_model")
    width = context.config["model"]["width"]
    if context.model == "toyseq":
        return _NextToken(context.config["data"]["vocabulary"], width)
    num_classes = data.info["num_classes"]
    network = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))
    if context.config["model"].get("state_dict_delay_s"):
        network.register_state_dict_pre_hook(
            lambda *_: _slow(context, "model", "state_dict_delay_s", "checkpoint"))
    return network



@hookimpl
def modelzoo_build_loss(context, data):
    import torch
    from torch import nn

    if context.model == "toyseq":
        return _TokenLoss()
    nan_at = context.config["loss"]["nan_at_step"]
    raise_at = context.config["loss"].get("raise_at_step", 0)
    delay_from = context.config["loss"].get("delay_from_call", 0)

    class PoisonableCrossEntropy(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros((), dtype=torch.long))

        def forward(self, logits, targets):
            self.calls += 1
            if delay_from and int(self.calls) >= delay_from:
                _slow(context, "loss", "delay_s", f"loss call {int(self.calls)}")
            if raise_at and int(self.calls) >= raise_at:
                raise RuntimeError(f"toy failure in the loss at call {int(self.calls)}")
            loss = nn.functional.cross_entropy(logits, targets)
            if nan_at and int(self.calls) >= nan_at:
                loss = loss * float("nan")
            return loss

    return PoisonableCrossEntropy()


@hookimpl
def modelzoo_evaluate(context, network):
    _fail(context, "modelzoo_evaluate")
    if context.model == "toyseq":
        return _evaluate_sequences(context, network)
    _slow(context, "eval", "delay_s", "evaluation")
    if context.config["data"]["skip_metric"]:
        return EvalResult(metrics={"other": 1.0})
    images, labels = _make_samples(context.config, context.seed + 1, 128)
    predictions = network(images.to(context.device)).argmax(1).cpu()
    return EvalResult(metrics={"accuracy": float((predictions == labels).float().mean())})


@hookimpl
def modelzoo_load_weights(context, state, path):
    from modelzoo.contract.api import UserError

    data = TrainData(dataset=None, identity=None, info={"num_classes": context.config["data"]["classes"]})
    network = modelzoo_build_model(context=context, data=data)
    try:
        network.load_state_dict(state.get("model", state))
    except RuntimeError as exc:
        raise UserError(f"{path} does not fit the toy model ({str(exc).splitlines()[0]})") from None
    return network


# --- toyseq: dict batches, tokens/s, a lower-is-better metric ---------------------------

def _sequences(config, seed, count):
    """Sequences that count up modulo the vocabulary from a random start: learnable."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    vocabulary, length = config["data"]["vocabulary"], config["data"]["length"]
    starts = torch.randint(0, vocabulary, (count, 1), generator=generator)
    return (starts + torch.arange(length + 1)) % vocabulary


class _SequenceDataset:
    def __init__(self, sequences):
        self.sequences = sequences

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, index):
        row = self.sequences[index]
        return {"tokens": row[:-1], "next": row[1:]}


def _sequence_data(context):
    sequences = _sequences(context.config, context.seed, context.config["data"]["sequences"])
    return TrainData(dataset=_SequenceDataset(sequences),
                     identity=DataIdentity(name="counting sequences", kind="synthetic", path="(generated)",
                                           images=len(sequences), identities=context.config["data"]["vocabulary"]),
                     inputs_of=lambda batch: batch["tokens"], targets_of=lambda batch: batch["next"],
                     samples_of=lambda tokens: int(tokens.numel()))


def _NextToken(vocabulary, width):
    from torch import nn

    return nn.Sequential(nn.Embedding(vocabulary, width), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, vocabulary))


def _TokenLoss():
    from torch import nn

    class TokenLoss(nn.Module):
        def forward(self, logits, targets):
            return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    return TokenLoss()


def _evaluate_sequences(context, network):
    import torch

    held_out = _sequences(context.config, context.seed + 1, 64).to(context.device)
    logits = network(held_out[:, :-1])
    per_position = torch.nn.functional.cross_entropy(logits.transpose(1, 2), held_out[:, 1:],
                                                     reduction="none").mean(0)
    return EvalResult(metrics={"heldout_loss": float(per_position.mean())},
                      curves={"position_loss": {"position": list(range(len(per_position))),
                                                "loss": per_position.tolist()}})
