"""Fault class 11: a hostile or mistaken zoo.yaml is one line, ``zoo.yaml:LINE: ...``,
before anything runs (``--zoo FILE``)."""

from __future__ import annotations

import time

import pytest
from fault_helpers import assert_no_run_folder, assert_one_line_error

BILLION_LAUGHS = "schema_version: 1\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]\n" for previous, name in zip("abcdefgh", "bcdefghi"))
VALID = "schema_version: 1\nmodels:\n  toy:\n    profiles:\n      fast2: {extends: fast, train: {epochs: 1}}\n"


def _run_with_zoo(ws, text: str, *args: str):
    (ws.root / "zoo.yaml").write_text(text)
    return ws.cli("run", "toy", "--zoo", "zoo.yaml", "--device", "cpu", "--dry-run", *args)


def test_a_billion_laughs_file_is_refused_within_a_second(ws):
    (ws.root / "zoo.yaml").write_text(VALID)
    started = time.monotonic()
    baseline = ws.cli("list", "--zoo", "zoo.yaml")  # the CLI's own start-up (plugins, zoo), for scale
    startup_s = time.monotonic() - started
    assert baseline.returncode == 0 and "fast2" in baseline.stdout, baseline.stderr
    started = time.monotonic()
    result = _run_with_zoo(ws, BILLION_LAUGHS)
    assert time.monotonic() - started < startup_s + 1.0  # expanding it would take minutes and gigabytes
    assert_one_line_error(result, 2, "zoo.yaml:3: YAML aliases (*a) are not supported")
    assert_no_run_folder(ws)


@pytest.mark.parametrize("text, args, expected", [
    ("schema_version: 1\nmodels:\n  toy:\n    default_profile: fast\n    default_profile: default\n", (),
     "zoo.yaml:5: models.toy.default_profile: duplicate key (first at line 4)"),
    ("schema_version: 1\nmodels:\n  toy:\n    references:\n      - {gpu: A, cards: eight}\n", (),
     "zoo.yaml:5: models.toy.references[0].cards: expected a positive integer, got 'eight'"),
    ("schema_version: 1\nmodels:\n  toy:\n    references:\n      - {gpu: A, cards: 1, fps: fast}\n", (),
     "zoo.yaml:5: models.toy.references[0].fps: expected a positive finite number, got 'fast'"),
    ("schema_version: 1\nmodels:\n  toy:\n    profiles:\n      quick:\n        train: {epochs: 1}\n"
     "        extends: nosuch\n", ("--profile", "quick"),
     "zoo.yaml:7: models.toy.profiles.quick.extends: unknown profile 'nosuch'"),
])
def test_a_mistaken_zoo_file_names_its_line(ws, text, args, expected):
    result = _run_with_zoo(ws, text, *args)
    assert_one_line_error(result, 2, expected)
    assert_no_run_folder(ws)
