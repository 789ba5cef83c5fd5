"""zoo.yaml validation and profile resolution, with file:line in every error."""

from __future__ import annotations

import textwrap

import pytest

from modelzoo.contract.api import MetricColumn, ModelSpec, UserError
from modelzoo.zoo.zoofile import apply_sets, load_zoo, resolve_profile

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


# --- Safe, strict loading -------------------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_billion_laughs_file_is_refused_at_once_without_expanding_it(tmp_path):
    import time

    path = tmp_path / "zoo.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS.encode()) < 600
    started = time.perf_counter()
    with pytest.raises(UserError) as error:
        load_zoo(path)
    assert time.perf_counter() - started < 1.0
    assert str(error.value) == f"{path}:2: YAML aliases (*a) are not supported; write the values out"


def test_an_alias_deep_inside_a_profile_is_refused_with_its_line(tmp_path):
    with pytest.raises(UserError, match=r"zoo.yaml:7: YAML aliases \(\*fast\) are not supported"):
        _zoo(tmp_path, """\
            schema_version: 1
            models:
              toy:
                profiles:
                  a: &fast {train: {batch_size: 4}}
                  b:
                    train: *fast
            """)


@pytest.mark.parametrize("text, expected", [
    ("schema_version: 1\nmodels:\n  toy:\n    default_profile: a\n    default_profile: b\n",
     "zoo.yaml:5: models.toy.default_profile: duplicate key (first at line 4)"),
    ("schema_version: 1\nmodels:\n  toy:\n    profiles:\n      p:\n        train: {lr: 1}\n"
     "        train: {batch_size: 2}\n",
     "zoo.yaml:7: models.toy.profiles.p.train: duplicate key (first at line 6)"),
    ("schema_version: 1\nschema_version: 1\nmodels: {}\n",
     "zoo.yaml:2: schema_version: duplicate key (first at line 1)"),
    ("schema_version: 1\nmodels:\n  toy:\n    references:\n      - {gpu: A, cards: 1, gpu: B}\n",
     "zoo.yaml:5: models.toy.references[0].gpu: duplicate key (first at line 5)"),
])
def test_a_key_given_twice_is_an_error_naming_both_lines(tmp_path, text, expected):
    with pytest.raises(UserError) as error:
        _zoo(tmp_path, text)
    assert expected in str(error.value)


def _reference(tmp_path, entry):
    return _zoo(tmp_path, f"schema_version: 1\nmodels:\n  toy:\n    references:\n      - {entry}\n")


@pytest.mark.parametrize("entry, expected", [
    ("{gpu: '', cards: 1}", "models.toy.references[0].gpu: expected a non-empty string"),
    ("{gpu: 100, cards: 1}", "models.toy.references[0].gpu: expected a non-empty string, got 100"),
    ("{gpu: A, cards: eight}", "models.toy.references[0].cards: expected a positive integer, got 'eight'"),
    ("{gpu: A, cards: 0}", "references[0].cards: expected a positive integer, got 0"),
    ("{gpu: A, cards: true}", "references[0].cards: expected a positive integer, got True"),
    ("{gpu: A, cards: 1, fps: fast}", "references[0].fps: expected a positive finite number, got 'fast'"),
    ("{gpu: A, cards: 1, fps: .nan}", "references[0].fps: expected a positive finite number, got nan"),
    ("{gpu: A, cards: 1, fps: -2}", "references[0].fps: expected a positive finite number, got -2"),
    ("{gpu: A, cards: 1, metrics: [1, 2]}", "references[0].metrics: expected a mapping of metric names to numbers"),
    ("{gpu: A, cards: 1, metrics: {acc: high}}", "references[0].metrics.acc: expected a finite number, got 'high'"),
    ("{gpu: A, cards: 1, metrics: {acc: .inf}}", "references[0].metrics.acc: expected a finite number, got inf"),
    ("{gpu: A, cards: 1, source: 3}", "references[0].source: expected a string, got 3 (quote it)"),
])
def test_reference_entries_are_type_checked_with_their_line(tmp_path, entry, expected):
    with pytest.raises(UserError) as error:
        _reference(tmp_path, entry)
    assert str(error.value).startswith(f"{tmp_path / 'zoo.yaml'}:5: ") and expected in str(error.value)


def test_an_unquoted_release_or_sdk_number_is_kept_as_written(tmp_path):
    zoo = _reference(tmp_path, "{gpu: A, cards: 1, release: 23.10, sdk: 3.1, fps: 5, metrics: {acc: 1}}")
    (ref,) = zoo.models["toy"].references
    assert ref["release"] == "23.10" and ref["sdk"] == "3.1"  # not 23.1: the text, not the float
    assert ref["fps"] == 5 and ref["metrics"] == {"acc": 1}


def test_extends_naming_a_missing_profile_points_at_the_extends_line(tmp_path):
    zoo = _zoo(tmp_path, """\
        schema_version: 1
        models:
          toy:
            profiles:
              fast:
                train: {batch_size: 4}
                extends: bsae
        """)
    with pytest.raises(UserError, match=r"zoo.yaml:7: models.toy.profiles.fast.extends: unknown profile 'bsae' "
                                        r"\(did you mean 'base'\?\)"):
        resolve_profile(SPEC, zoo, "fast")


def test_extends_must_name_a_profile(tmp_path):
    with pytest.raises(UserError, match=r"zoo.yaml:6: models.toy.profiles.fast.extends: expected a profile name"):
        _zoo(tmp_path, "schema_version: 1\nmodels:\n  toy:\n    profiles:\n      fast:\n        extends: [base]\n")


@pytest.mark.parametrize("text, expected", [
    ("plugin: [a]", "zoo.yaml:4: models.toy.plugin: expected a string"),
    ("default_profile: 3", "zoo.yaml:4: models.toy.default_profile: expected a string"),
])
def test_model_keys_are_type_checked(tmp_path, text, expected):
    with pytest.raises(UserError, match=expected):
        _zoo(tmp_path, f"schema_version: 1\nmodels:\n  toy:\n    {text}\n")


# --- Convergence target and tolerances for the release gate ---------------------------

GATE = """\
schema_version: 1
models:
  toy:
    target: {metric: accuracy, value: 0.9905, higher_is_better: true}
    tolerances:
      fps_pct: 5
      metrics:
        accuracy: {abs: 0.005}
        loss: {rel_pct: 2}
"""


def test_target_and_tolerances_are_read_for_the_release_gate(tmp_path):
    model = _zoo(tmp_path, GATE).models["toy"]
    assert model.target == {"metric": "accuracy", "value": 0.9905, "higher_is_better": True}
    assert model.tolerances == {"fps_pct": 5, "metrics": {"accuracy": {"abs": 0.005}, "loss": {"rel_pct": 2}}}
    bare = _zoo(tmp_path, "schema_version: 1\nmodels:\n  toy:\n    target: {metric: loss, value: 0.1}\n")
    assert bare.models["toy"].target["higher_is_better"] is True and bare.models["toy"].tolerances == {}


@pytest.mark.parametrize("old, new, expected", [
    ("value: 0.9905", "value: high", "zoo.yaml:4: models.toy.target.value: expected a finite number"),
    ("metric: accuracy, ", "", "zoo.yaml:4: models.toy.target: missing required key 'metric'"),
    ("higher_is_better: true", "higher_is_better: yes please", "target.higher_is_better: expected true or false"),
    ("fps_pct: 5", "fps_pct: -5", "zoo.yaml:6: models.toy.tolerances.fps_pct: expected a finite number >= 0"),
    ("{abs: 0.005}", "{abs: 0.005, rel_pct: 1}",
     "zoo.yaml:8: models.toy.tolerances.metrics.accuracy: expected {abs: X} or {rel_pct: Y}"),
    ("{rel_pct: 2}", "{rel: 2}", "zoo.yaml:9: models.toy.tolerances.metrics.loss: expected {abs: X} or {rel_pct: Y}"),
    ("fps_pct: 5", "fps: 5", "zoo.yaml:6: models.toy.tolerances.fps: unknown key (did you mean 'fps_pct'?)"),
])
def test_target_and_tolerances_are_checked_with_lines(tmp_path, old, new, expected):
    assert old in GATE
    with pytest.raises(UserError) as error:
        _zoo(tmp_path, GATE.replace(old, new))
    assert expected in str(error.value)


def test_a_zoo_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "zoo.yaml"
    path.write_bytes(b"schema_version: 1\nmodels: {\xff}\n")
    with pytest.raises(UserError, match="is not UTF-8"):
        load_zoo(path)


def test_a_zero_fps_tolerance_is_kept_as_a_limit(tmp_path):
    zoo = _zoo(tmp_path, GATE.replace("fps_pct: 5", "fps_pct: 0"))
    assert zoo.models["toy"].tolerances["fps_pct"] == 0  # no drop at all, not "not given"


# --- Releases: the matrix `modelzoo zoo run` runs and `zoo check` judges ------------------

RELEASES = """\
schema_version: 1
models:
  toy: {}
  toyseq: {}
releases:
  23.10:
    description: SDK 3.1 validation
    models:
      toy: {profiles: [fast, base], cards: [1, 8], max_steps: 12}
      toyseq: {profiles: [default], cards: [2]}
    tolerances: {fps_pct: 0, metrics: {accuracy: {abs: 0.01}}}
"""


def test_a_release_matrix_is_read_with_its_id_as_written(tmp_path):
    from modelzoo.zoo.zoofile import ReleaseModel

    zoo = _zoo(tmp_path, RELEASES)
    release = zoo.releases["23.10"]  # a YAML float (23.1) as a key: the text is the id
    assert release.id == "23.10" and release.description == "SDK 3.1 validation"
    assert release.models == {"toy": ReleaseModel(["fast", "base"], [1, 8], 12),
                              "toyseq": ReleaseModel(["default"], [2], None)}
    assert release.tolerances == {"fps_pct": 0, "metrics": {"accuracy": {"abs": 0.01}}}
    assert _zoo(tmp_path, RELEASES.split("releases:")[0]).releases == {}


@pytest.mark.parametrize("old, new, expected", [
    ("toy: {profiles", "toyz: {profiles",
     "zoo.yaml:9: releases.23.10.models.toyz: not a model of models: (did you mean 'toy'?); add it there"),
    ("cards: [1, 8]", "cards: [0, 8]", "zoo.yaml:9: releases.23.10.models.toy.cards[0]: expected a positive integer"),
    ("cards: [1, 8]", "cards: [1, true]", "releases.23.10.models.toy.cards[1]: expected a positive integer, got True"),
    ("cards: [1, 8]", "cards: ['8']", "models.toy.cards[0]: expected a positive integer, got '8'"),
    ("cards: [1, 8]", "cards: 8", "releases.23.10.models.toy.cards: expected a non-empty list of card counts, got 8"),
    ("cards: [1, 8]", "cards: [8, 1, 8]", "models.toy.cards: lists 8 twice; keep one"),
    ("cards: [1, 8]", "card: [1, 8]", "zoo.yaml:9: releases.23.10.models.toy.card: unknown key (did you mean 'cards'?)"),
    ("[fast, base]", "[]", "models.toy.profiles: expected a non-empty list of profile names, got []"),
    ("[fast, base]", "[fast, 3]", "models.toy.profiles[1]: expected a profile name, got 3"),
    ("{profiles: [default], cards: [2]}", "{cards: [2]}",
     "zoo.yaml:10: releases.23.10.models.toyseq: missing required key 'profiles'"),
    ("max_steps: 12", "max_steps: 0", "models.toy.max_steps: expected a positive integer (or leave it out"),
    ("    tolerances: {fps_pct: 0,", "    tolerance: {fps_pct: 0,",
     "zoo.yaml:11: releases.23.10.tolerance: unknown key (did you mean 'tolerances'?)"),
    ("fps_pct: 0,", "fps_pct: -1,", "zoo.yaml:11: releases.23.10.tolerances.fps_pct: expected a finite number >= 0"),
    ("description: SDK 3.1 validation", "description: [a]", "zoo.yaml:7: releases.23.10.description: expected a string"),
])
def test_release_entries_are_checked_with_lines(tmp_path, old, new, expected):
    assert old in RELEASES
    with pytest.raises(UserError) as error:
        _zoo(tmp_path, RELEASES.replace(old, new))
    assert expected in str(error.value)


@pytest.mark.parametrize("text, expected", [
    ("releases: [r1]\n", "zoo.yaml:2: releases: expected a mapping of release ids to matrices"),
    ("releases:\n  r1: {models: {}}\n", "zoo.yaml:3: releases.r1.models: expected a mapping of model names"),
    ("releases:\n  r1: [toy]\n", "zoo.yaml:3: releases.r1: expected a mapping with 'models'"),
    ("releases:\n  r1: {description: x}\n", "zoo.yaml:3: releases.r1: missing required key 'models'"),
])
def test_a_malformed_releases_section_is_one_line(tmp_path, text, expected):
    with pytest.raises(UserError) as error:
        _zoo(tmp_path, "schema_version: 1\n" + text + "models: {}\n")
    assert expected in str(error.value)


def test_a_release_id_written_twice_is_an_error(tmp_path):
    entry = "{models: {toy: {profiles: [a], cards: [1]}}}"
    with pytest.raises(UserError, match=r"zoo.yaml:5: releases.23.10: release id given twice; keep one"):
        _zoo(tmp_path, f"schema_version: 1\nmodels: {{toy: {{}}}}\nreleases:\n  23.10: {entry}\n  '23.10': {entry}\n")
