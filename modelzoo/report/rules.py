"""The report's rules, shared by every table: where a run goes, which row it competes for,
which card a reference belongs to, and the layout a model's tables take.

The layout comes from the model's declaration (its plugin's ``ModelSpec``: title, metric
columns, result table, throughput unit) when the plugin is installed; only a model
without one (records copied from another machine) falls back to its newest record's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from modelzoo.contract.api import ConfigColumn, MetricColumn
from modelzoo.report.cells import MISSING
from modelzoo.report.runs import Run, config_column_of

SYNTHETIC_MARK = "synthetic data — not comparable"


def unit_header(unit: str) -> str:
    """The throughput column's title: the zoo's ``FPS`` for images/s, else the unit itself."""
    return "FPS" if unit == "images/s" else unit


# --- the layout ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """How a model's tables look: the README's layout, columns, unit and title."""

    title: str
    layout: str                          # "metrics" or "configs"
    config_columns: tuple[ConfigColumn, ...]
    columns: tuple[MetricColumn, ...]
    unit: str
    source: str                          # "declaration" or "record <run_id>"


def layout_of(declaration: Any, runs: Sequence[Run]) -> Layout:
    """The model's declared layout (a ``ModelSpec``), else its newest record's.

    Metric columns only older records carry are appended (a plugin may have dropped one),
    so an old run's value is never silently lost.
    """
    if declaration is not None:
        table = declaration.table
        declared = tuple(declaration.metric_columns)
        keys = {c.key for c in declared}
        extra = tuple(c for c in metric_columns_of(list(runs)) if c.key not in keys)
        configs = tuple(table.configs) if table.layout == "configs" else ()
        return Layout(declaration.title, table.layout, configs, declared + extra, declaration.throughput_unit,
                      "declaration")
    newest = runs[-1]
    configs = tuple(newest.config_columns) if newest.layout == "configs" else ()
    return Layout(newest.title, newest.layout, configs, tuple(metric_columns_of(list(runs))),
                  newest.throughput_unit, f"record {newest.run_id}")


def metric_columns_of(runs: list[Run]) -> list[MetricColumn]:
    """The newest record's columns, then any older-only ones (a plugin may have changed)."""
    columns: dict[str, MetricColumn] = {}
    for run in reversed(runs):
        for column in run.columns:
            columns.setdefault(column.key, column)
    return list(columns.values())


# --- where a run goes ---------------------------------------------------------------------

def classify(run: Run) -> str:
    """The table a run belongs to: main, implausible, synthetic, protocol, eval, not_succeeded."""
    if run.status != "success":
        return "not_succeeded"
    if run.implausible():
        return "implausible"
    if run.synthetic:
        return "synthetic"
    if run.protocol:
        return "protocol"
    if run.kind == "eval":
        return "eval"
    return "main"


def place_of(run: Run, config_columns: Sequence[ConfigColumn]) -> str:
    """:func:`classify`, plus ``unmatched`` for a run that fits none of the section's config columns."""
    place = classify(run)
    if place == "main" and config_columns and main_key(run, config_columns)[3] is None:
        return "unmatched"
    return place


def main_key(run: Run, config_columns: Sequence[ConfigColumn] = ()) -> tuple:
    """The main-table row a run competes for: card, count, profile (and config column)."""
    column = config_column_of(run.config, list(config_columns)) if config_columns else None
    return (run.gpu.lower(), run.cards, run.profile, column.title if column else None)


def same_card(reference_gpu: str, measured_gpu: str) -> bool:
    """True when the reference card name is a word of the measured card name."""
    ref = reference_gpu.strip().lower()
    if not ref:
        return False
    if ref == measured_gpu.strip().lower():
        return True
    # Not after a letter, digit or hyphen ("V100" is not "BI-V100"); a suffix after a
    # hyphen is a variant of the same card ("A100" matches "A100-SXM4-80GB").
    return re.search(rf"(?<![\w-]){re.escape(ref)}(?!\w)", measured_gpu.lower()) is not None


# --- references (zoo.yaml) ----------------------------------------------------------------

def reference_list(value: Any) -> list[dict]:
    if not value:
        return []
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)]


def reference_gpu(ref: dict) -> str:
    return str(ref.get("gpu") or MISSING)


def reference_cards(ref: dict) -> int:
    cards = ref.get("cards")
    return cards if isinstance(cards, int) and not isinstance(cards, bool) and cards > 0 else 1


def reference_metrics(ref: dict) -> dict:
    metrics = ref.get("metrics")
    return metrics if isinstance(metrics, dict) else {}


def reference_column(ref: dict, config_columns: Sequence[ConfigColumn]) -> Optional[ConfigColumn]:
    """The config column a reference belongs to: zoo.yaml names it by title (``config: FP32``);
    a mapping of config values (``{"train.amp": "bf16"}``) is matched like a run's config."""
    config = ref.get("config")
    if isinstance(config, str):
        wanted = config.strip().lower()
        return next((c for c in config_columns if c.title.lower() == wanted), None)
    return config_column_of(config if isinstance(config, dict) else {}, list(config_columns))


def reference_env(ref: dict) -> dict:
    env = {k: ref.get(k) for k in ("sdk", "release", "cuda", "driver", "torch", "python", "cpu")}
    if not env["sdk"] and ref.get("sdk_name"):  # tolerate the split spelling
        env["sdk"] = f"{ref['sdk_name']} {ref.get('sdk_version') or ''}".strip()
    return env
