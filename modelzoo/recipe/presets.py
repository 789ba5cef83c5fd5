"""Parse rules: what a recipe's output lines mean, and the presets for the log styles the zoo prints.

A :class:`Rule` is a regular expression and what its named groups are:

- ``step``: one training iteration was logged. ``iter`` (required) is the iteration number;
  ``epoch`` and ``total`` (iterations per epoch), when present, make it a global step
  (``epoch * total + iter``); ``seconds`` with ``count`` (default 1) is the time the script
  itself measured for ``count`` iterations (its own throughput: ``count * samples / seconds``);
  ``loss`` a loss value on the same line.
- ``throughput``: the script's own throughput, ``value`` in samples/s, or ``it_s``
  (iterations/s, times the samples per iteration).
- ``metric``: ``value`` (and optionally ``std``) of the rule's metric ``key``.
- ``loss``: ``value``, the training loss (curves.loss; the last one is metrics.loss).
- ``train_start`` / ``train_end``: steps count only between them (a validation progress bar
  that looks like the training one is not training); without them every step counts.

Every match also goes into the record's curves (``curves.recipe_<key>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("step", "throughput", "metric", "loss", "train_start", "train_end")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern
    key: str = ""  # metric rules: the metric key

    @property
    def groups(self) -> set:
        return set(self.pattern.groupindex)


def rule(kind: str, pattern: str, key: str = "") -> Rule:
    return Rule(kind, re.compile(pattern.replace("NUM", _NUMBER)), key)


# The PyTorch ImageNet example's ProgressMeter ("Epoch: [0][ 10/100]\tTime  0.123 ( 0.150)\t...
# Loss 6.9e+00 (6.9e+00)") and its summary line (" *   Acc@1 12.500 Acc@5 50.000").
PROGRESS_METER = (
    rule("step", r"Epoch: \[(?P<epoch>\d+)\]\[\s*(?P<iter>\d+)/(?P<total>\d+)\]\s+Time\s+(?P<seconds>NUM)"
                 r".*?Loss\s+(?P<loss>NUM)"),
    rule("metric", r"^\s*\*\s+Acc@1\s+(?P<value>NUM)", "acc1"),
    rule("metric", r"^\s*\*\s+Acc@1\s+NUM\s+Acc@5\s+(?P<value>NUM)", "acc5"),
)

# torchvision's references MetricLogger, as DeepSparkHub's ResNet-50 train.py prints it
# ("Epoch: [0]  [ 10/5005]  eta: ...  lr: 0.1  img/s: 330.5  loss: 6.9 (6.9) ...") and
# its evaluation summary (" * Acc@1 76.020 Acc@5 92.930").
METRIC_LOGGER = (
    rule("step", r"Epoch: \[(?P<epoch>\d+)\]\s+\[\s*(?P<iter>\d+)/(?P<total>\d+)\].*?loss: (?P<loss>NUM)"),
    rule("throughput", r"Epoch: \[\d+\]\s+\[.*?img/s: (?P<value>NUM)"),
    rule("metric", r"^\s*\*\s+Acc@1\s+(?P<value>NUM)", "acc1"),
    rule("metric", r"^\s*\*\s+Acc@1\s+NUM\s+Acc@5\s+(?P<value>NUM)", "acc5"),
)

# The face section's bubbliiiing scripts (facenet, arcface): a tqdm bar per epoch between
# "Start Train" and "Finish Train" ("Epoch 1/100:  10%|#  | 10/100 [00:05<00:45,  2.00it/s,
# total_loss=...]"), then "LFW_Accuracy: 0.97933+-0.00624" and "Total Loss: 0.1234".
FACE_TQDM = (
    rule("train_start", r"^Start Train"),
    rule("train_end", r"^Finish Train"),
    rule("step", r"^Epoch (?P<epoch>\d+)/\d+:.*?\|\s*(?P<iter>\d+)/(?P<total>\d+) \["),
    rule("throughput", r"^Epoch \d+/\d+:.*?\|\s*\d+/\d+ \[[^\]]*?(?P<it_s>NUM)it/s"),
    rule("metric", r"LFW_Accuracy: (?P<value>NUM)\+-(?P<std>NUM)", "lfw_accuracy"),
    rule("loss", r"^Total Loss: (?P<value>NUM)"),
)

# CosFace_pytorch (MuggleWang): "2023-06-01 10:00:00 Train Epoch: 1 [51200/490623 (10%)]100,
# Loss: 21.123456, Elapsed time: 35.1234s(100 iters) Margin: ..." (the number after the bracket
# is the global iteration) and "LFWACC=0.9865 std=0.0043 thd=0.2990".
COSFACE = (
    rule("step", r"Train Epoch: \d+ \[\d+/\d+ \(\d+%\)\](?P<iter>\d+), Loss: (?P<loss>NUM), "
                 r"Elapsed time: (?P<seconds>NUM)s\((?P<count>\d+) iters\)"),
    rule("metric", r"LFWACC=(?P<value>NUM) std=(?P<std>NUM)", "lfw_accuracy"),
)

PRESETS: dict[str, tuple[Rule, ...]] = {
    "progress-meter": PROGRESS_METER,
    "metric-logger": METRIC_LOGGER,
    "face-tqdm": FACE_TQDM,
    "cosface": COSFACE,
    # key=value pairs or a JSON object per line: modelzoo.recipe.logparse reads them itself
    "keyvalue": (),
}

# The key=value / JSON-lines form: these keys have a meaning; any other number is a metric.
KV_STEP_KEYS = ("step", "iter", "iteration")
KV_THROUGHPUT_KEYS = ("fps", "images_per_s", "samples_per_s", "img_s")
KV_LOSS_KEYS = ("loss",)
KV_IGNORED_KEYS = ("epoch", "lr", "time", "seconds")
KV_PAIR = re.compile(r"(?<![\w.])([A-Za-z_][\w.@/-]*)=(" + _NUMBER + r")(?![\w.])")


def required_groups(kind: str) -> tuple[str, ...]:
    """The named groups a rule of ``kind`` must have (one of each tuple entry)."""
    return {"step": ("iter",), "metric": ("value",), "loss": ("value",), "throughput": ("value|it_s",)}.get(kind, ())
