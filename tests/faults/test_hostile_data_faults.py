"""Fault class 20: hostile JSON and YAML. Any bytes in a record.json or a zoo.yaml give a
warning (a record skipped, the rest shown) or one error line, never a crash: nesting deep
enough to exhaust Python's recursion (at the top, or inside metrics), binary junk, a lone
surrogate, an integer of 5000 digits, an impossible YAML date. Through ``report``,
``zoo check``, ``compare`` and ``list``."""

from __future__ import annotations

import json

import pytest
from fault_helpers import assert_one_line_error, toy_record, write_raw_record, write_record

DEEP = 100_000  # far past Python's recursion limit; 200 kB of brackets


def _deep_array() -> bytes:
    return b"[" * DEEP + b"]" * DEEP


def _deep_object() -> bytes:
    return b'{"a":' * DEEP + b"1" + b"}" * DEEP


def _deep_in_metrics(run_id: str) -> bytes:
    text = json.dumps(toy_record(run_id))
    return text.replace('"accuracy": 0.9', '"accuracy": ' + "[" * DEEP + "]" * DEEP).encode()


def _shallow_but_past_the_limit(run_id: str) -> bytes:
    """500 levels: json parses it, but every later recursive walk would be at risk."""
    record = toy_record(run_id)
    record["env"]["nested"] = json.loads("[" * 500 + "]" * 500)
    return json.dumps(record).encode()


HOSTILE = {
    "deep-array": lambda run_id: _deep_array(),
    "deep-object": lambda run_id: _deep_object(),
    "deep-in-metrics": _deep_in_metrics,
    "shallow-500": _shallow_but_past_the_limit,
    "binary-junk": lambda run_id: bytes(range(256)) * 40,
    "lone-surrogate": lambda run_id: json.dumps(toy_record(run_id)).replace(
        '"toy patterns"', '"toy \\ud800 patterns"').encode(),
    "huge-integer": lambda run_id: json.dumps(toy_record(run_id)).replace(
        '"seed": 0', '"seed": ' + "9" * 5000, 1).encode(),
}
ZOO = """\
schema_version: 1
models:
  toy:
    target: {metric: accuracy, value: 0.5}
    references:
      - {gpu: CPU, cards: 1, fps: 10, source: written for this test}
releases:
  r1:
    models:
      toy: {profiles: [default], cards: [1]}
"""
CELL = {"release": "r1", "model": "toy", "profile": "default", "cards": 1, "max_steps": None}


def _cell_record(run_id: str) -> dict:
    return toy_record(run_id, zoo_cell=dict(CELL))


def test_report_skips_each_hostile_record_with_one_warning_and_shows_the_rest(ws):
    paths = {name: write_raw_record(ws.runs, name, make(name)) for name, make in HOSTILE.items()}
    write_record(ws.runs, toy_record("good"))
    result = ws.cli("report", "--output", "out", "--format", "json,md,html,csv")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == len(HOSTILE) and all(w.startswith("modelzoo: warning: ") for w in warnings), warnings
    for path in paths.values():
        (line,) = [w for w in warnings if str(path) in w]
        assert len(line) < 400, line  # one readable line, never the file's bytes
    reasons = " ".join(warnings)
    assert "nested deeper than 64 levels" in reasons and "not UTF-8" in reasons and "lone surrogate" in reasons
    shown = json.loads((ws.root / "out" / "results.json").read_text())["records"]
    assert [r["run_id"] for r in shown] == ["good"]
    # a second report reads the same (nothing the first one cached turns a skipped record into a crash)
    again = ws.cli("report", "--output", "out", "--format", "json")
    assert again.returncode == 0 and again.stderr.strip().splitlines() == warnings


@pytest.mark.parametrize("kind", ["deep-array", "deep-in-metrics", "binary-junk"])
def test_compare_refuses_a_hostile_record_in_one_line(ws, kind):
    write_record(ws.runs, toy_record("base"))
    path = write_raw_record(ws.runs, "new", HOSTILE[kind]("new"))
    for args in (("base", "new"), ("new", "base")):
        result = ws.cli("compare", *args)
        assert_one_line_error(result, 2, f"run record {path}", "remove it or restore it")


def test_zoo_check_skips_a_hostile_record_in_a_cell_and_judges_the_cell_from_what_it_can_read(ws):
    (ws.root / "zoo.yaml").write_text(ZOO)
    for name, make in HOSTILE.items():
        write_raw_record(ws.runs, name, make(name))
    result = ws.cli("zoo", "check", "--zoo", "zoo.yaml", "--release", "r1")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    warnings = [w for w in result.stderr.splitlines() if w.startswith("modelzoo: warning: skipped")]
    assert len(warnings) == len(HOSTILE), result.stderr
    assert "no run of this cell" in result.stdout
    write_record(ws.runs, _cell_record("good"))
    result = ws.cli("zoo", "check", "--zoo", "zoo.yaml", "--release", "r1")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "pass" in result.stdout.splitlines()[-1]


DEEP_YAML = {
    "flow at the top": "[" * DEEP + "]" * DEEP,
    "flow inside models": "schema_version: 1\nmodels:\n  toy: {profiles: {p: {train: " + "[" * DEEP + "]" * DEEP
                          + "}}}\n",
    "block mappings": "schema_version: 1\nmodels:\n" + "".join(" " * (2 * i) + f"k{i}:\n" for i in range(1, 3000)),
    "block sequences": "schema_version: 1\nmodels:\n  " + "- " * 3000 + "1\n",
}
BAD_YAML = {
    "binary junk": (bytes(range(256)) * 40, "is not UTF-8"),
    "an impossible date": (b"schema_version: 1\nmodels:\n  toy:\n    profiles:\n      p: {data: {day: 2020-13-45}}\n",
                           "zoo.yaml:5: the zoo file holds a value YAML cannot read (month must be in 1..12)"),
    "a 5000-digit integer": (b"schema_version: 1\nmodels:\n  toy:\n    profiles:\n      p: {train: {epochs: "
                             + b"9" * 5000 + b"}}\n", "integer string conversion"),
    "a date as a key": (b"schema_version: 1\nmodels:\n  2020-13-45: {}\n", "month must be in 1..12"),
    "a lone surrogate escape": (b'schema_version: 1\nmodels:\n  toy:\n    title: "a \\ud800 b"\n', "lone surrogate"),
}


VERBS = [("list",), ("report", "--output", "out"), ("zoo", "check", "--release", "r1"),
         ("run", "toy", "--device", "cpu", "--dry-run")]


# every verb with the first shape; every shape through list and zoo check (each call costs a CLI start)
@pytest.mark.parametrize("name, verb", [("flow at the top", verb) for verb in VERBS]
                         + [(name, verb) for name in list(DEEP_YAML)[1:] for verb in (VERBS[0], VERBS[2])])
def test_a_deeply_nested_zoo_file_is_one_line_for_every_verb(ws, name, verb):
    (ws.root / "zoo.yaml").write_text(DEEP_YAML[name])
    write_record(ws.runs, toy_record("good"))  # report reads zoo.yaml only when there is a record
    result = ws.cli(*verb[:1], *verb[1:], "--zoo", "zoo.yaml")
    assert_one_line_error(result, 2, "zoo.yaml", "nested deeper than 64 levels", "fix the file")
    assert [p.name for p in ws.run_dirs()] == ["good"]


@pytest.mark.parametrize("name", list(BAD_YAML))
def test_a_zoo_file_holding_what_python_cannot_hold_is_one_line(ws, name):
    content, expected = BAD_YAML[name]
    (ws.root / "zoo.yaml").write_bytes(content)
    result = ws.cli("list", "--zoo", "zoo.yaml")
    assert_one_line_error(result, 2, "zoo.yaml", expected)


# one argument holds at most 128 kB: 30000 levels, still far past Python's recursion limit
@pytest.mark.parametrize("raw", ["[" * 30_000 + "]" * 30_000, "*alias", "2020-13-45", "9" * 5000])
def test_set_values_python_cannot_hold_are_taken_as_text_and_refused_by_type(ws, raw):
    result = ws.cli("run", "toy", "--device", "cpu", "--dry-run", "--set", f"train.epochs={raw}")
    assert_one_line_error(result, 2, "--set train.epochs: train.epochs: expected an integer, got '" + raw[:50])
    assert ws.run_dirs() == []
