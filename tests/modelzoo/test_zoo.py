"""zoo.yaml validation and profile resolution, with file:line in every error."""

from __future__ import annotations

import textwrap

import pytest

from modelzoo.api import MetricColumn, ModelSpec, UserError
from modelzoo.zoo import apply_sets, load_zoo, resolve_profile

SPEC = ModelSpec(
    name="toy", description="", metric_columns=(MetricColumn("accuracy", "Accuracy"),),
    profiles={"base": {"train": {"batch_size": 32, "lr": 0.1, "amp": "none", "compile": False,
                                 "steps": None},
                       "schedule": {"milestones": {0: 0.1, 10: 0.01}}},
              "demo": {"train": {"batch_size": 8, "lr": 0.1, "amp": "none", "compile": False,
                                 "steps": None},
                       "schedule": {"milestones": {0: 0.1}}}},
    default_profile="base")


def _zoo(tmp_path, text):
    path = tmp_path / "zoo.yaml"
    path.write_text(textwrap.dedent(text))
    return load_zoo(path)


GOOD = """\
schema_version: 1
models:
  toy:
    plugin: modelzoo-toy
    default_profile: big
    profiles:
      big:
        extends: base
        train: {batch_size: 256}
      base:
        train: {lr: 1}
    references:
      - {gpu: BI-V100, cards: 1, sdk: "IXUCA SDK 3.1.0", release: "23.09", fps: 216.96,
         metrics: {accuracy: 0.9}}
"""


def test_profiles_extend_and_override(tmp_path):
    zoo = _zoo(tmp_path, GOOD)
    name, config = resolve_profile(SPEC, zoo, None)
    assert name == "big"
    assert config["train"]["batch_size"] == 256
    assert config["train"]["lr"] == 1.0 and isinstance(config["train"]["lr"], float)  # int widened
    assert resolve_profile(SPEC, zoo, "demo")[1]["train"]["batch_size"] == 8
    assert zoo.references()["toy"][0]["fps"] == 216.96


@pytest.mark.parametrize("text, expected", [
    ("schema_version: 1\nmodels:\n  toy:\n    profilez: {}\n",
     "zoo.yaml:4: models.toy.profilez: unknown key (did you mean 'profiles'?)"),
    ("models: {}\n", "zoo.yaml:1: top level: missing required key 'schema_version'"),
    ("schema_version: 1\nmodels:\n  toy:\n    profiles:\n      p: [1, 2\n",
     "zoo.yaml:6:1: YAML syntax error"),
    ("schema_version: 2\nmodels: {}\n", "zoo.yaml:1: schema_version 2 is not supported"),
    ("schema_version: 1\nmodels:\n  toy:\n    references:\n      - {gpu: X}\n",
     "models.toy.references[0]: missing required key 'cards'"),
])
def test_invalid_files_name_file_line_and_problem(tmp_path, text, expected):
    with pytest.raises(UserError) as error:
        _zoo(tmp_path, text)
    assert expected in str(error.value)


def test_profile_keys_and_types_are_checked_with_lines(tmp_path):
    zoo = _zoo(tmp_path, """\
        schema_version: 1
        models:
          toy:
            profiles:
              typo:
                train:
                  batch_sise: 4
              wrongtype:
                train:
                  compile: "yes"
        """)
    with pytest.raises(UserError, match=r"zoo.yaml:7: models.toy.profiles.typo.train.batch_sise: "
                                        r"unknown key \(did you mean 'batch_size'\?\)"):
        resolve_profile(SPEC, zoo, "typo")
    with pytest.raises(UserError, match=r"zoo.yaml:10: .*train.compile: expected a boolean, got 'yes'"):
        resolve_profile(SPEC, zoo, "wrongtype")


def test_unknown_profile_lists_known_ones(tmp_path):
    zoo = _zoo(tmp_path, GOOD)
    with pytest.raises(UserError, match="unknown profile 'nope' for model 'toy'; known profiles: base, demo, big"):
        resolve_profile(SPEC, zoo, "nope")


def test_set_overrides_with_type_checks(tmp_path):
    config = resolve_profile(SPEC, load_zoo(None), "base")[1]
    applied = apply_sets(config, ["train.batch_size=64", "train.amp=bf16", "train.steps=5",
                                  "schedule.milestones={0: 0.5}"])
    assert config["train"]["batch_size"] == 64 and config["train"]["amp"] == "bf16"
    assert config["train"]["steps"] == 5  # null in the profile accepts any value
    assert config["schedule"]["milestones"] == {0: 0.5}
    assert applied["train.batch_size"] == 64
    with pytest.raises(UserError, match="--set train.batch_size: train.batch_size: expected an integer, got 'big'"):
        apply_sets(config, ["train.batch_size=big"])
    with pytest.raises(UserError, match=r"train.bach_size: unknown key \(did you mean 'batch_size'"):
        apply_sets(config, ["train.bach_size=3"])
    with pytest.raises(UserError, match="expected key=value"):
        apply_sets(config, ["train.batch_size"])
    with pytest.raises(UserError, match="expected a boolean"):
        apply_sets(config, ["train.compile=1"])
