"""safe_load: any bytes are a value or one UnreadableData naming the cause."""

from __future__ import annotations

import math
import os

import pytest

from modelzoo.store import safe_load
from modelzoo.store.safe_load import MAX_DEPTH, UnreadableData


@pytest.mark.parametrize("text, reason", [
    ("[" * 100_000 + "]" * 100_000, f"nested deeper than {MAX_DEPTH} levels"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested deeper"),
    ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested deeper"),  # parses, but past the limit
    ('{"k": "\\udc80"}', "lone surrogate"),
    ('{"\\ud800": 1}', "lone surrogate"),
    ("9" * 5000, "not usable JSON (Exceeds the limit (4300 digits)"),
    ("{'a': 1}", "not valid JSON (Expecting property name enclosed in double quotes at line 1)"),
])
def test_json_that_python_cannot_read_safely_is_one_reason(text, reason):
    with pytest.raises(UnreadableData) as caught:
        safe_load.json_text(text)
    assert reason in str(caught.value) and "\n" not in str(caught.value)


def test_json_at_the_depth_limit_and_nan_where_allowed_are_values():
    assert safe_load.json_text("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    assert math.isnan(safe_load.json_text('{"loss": NaN}')["loss"])
    with pytest.raises(UnreadableData, match="holds NaN"):
        safe_load.json_text('{"loss": NaN}', allow_nan=False)
    with pytest.raises(UnreadableData, match="holds -Infinity"):
        safe_load.json_text("[-Infinity]", allow_nan=False)


@pytest.mark.parametrize("text, reason, line", [
    ("[" * 100_000 + "]" * 100_000, "nested deeper", 1),
    ("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 200)), "nested deeper", MAX_DEPTH),
    ("a: &x [1]\nb: *x\n", "uses a YAML alias (*x) at line 2", 2),
    ("a: 1\nb:\n  c: 2020-13-45\n", "holds a value YAML cannot read (month must be in 1..12)", 3),
    ("a: " + "9" * 5000, "holds a value YAML cannot read (Exceeds the limit", 1),
    ("a: {b: 1", "has a YAML syntax error at line 1", 1),
    ('a: "\\ud800"', "lone surrogate", None),
])
def test_yaml_that_python_cannot_read_safely_is_one_reason_with_its_line(text, reason, line):
    with pytest.raises(UnreadableData) as caught:
        safe_load.yaml_text(text)
    assert reason in str(caught.value) and caught.value.line == line


def test_yaml_values_are_read_as_safe_load_reads_them():
    assert safe_load.yaml_text("a: [1, 2.5, x]\nb: {c: null}\n") == {"a": [1, 2.5, "x"], "b": {"c": None}}
    assert safe_load.yaml_text("") is None


def test_files_that_are_too_large_not_utf8_or_not_regular_are_refused(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 2048 + b"1")
    with pytest.raises(UnreadableData, match="larger than"):
        safe_load.json_file(big, limit=1024)
    assert safe_load.json_file(big) == 1
    junk = tmp_path / "junk.json"
    junk.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(UnreadableData, match=r"not UTF-8 \(byte 7\)"):
        safe_load.json_file(junk)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # opening it would block for ever
    with pytest.raises(UnreadableData, match="not a regular file"):
        safe_load.json_file(fifo)
    with pytest.raises(FileNotFoundError):
        safe_load.json_file(tmp_path / "missing.json")


def test_brackets_inside_strings_are_text_not_nesting():
    text = '{"error": "' + "[{" * 500 + '\\" still text ]", "ok": [[1]]}'
    assert safe_load.json_text(text)["ok"] == [[1]]
    with pytest.raises(UnreadableData, match="nested deeper"):
        safe_load.json_text('{"s": "x\\\\", "deep": ' + "[" * 100 + "]" * 100 + "}")  # the string ends at \\"


@pytest.mark.parametrize("content, reason", [
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),  # orjson takes 1024 levels; we take 64
    (b'{"a": "[[[[", "b": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}", "nested deeper"),
    (b'[{"a":' * 33 + b"1" + b"}]" * 33, "nested deeper"),                  # 66 levels, arrays and objects in turn
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),                   # orjson's own limit, no recursion
    (b'{"loss": NaN}', "not valid JSON"),                                  # not JSON: the index never holds one
    (b'{"k": "\\udc80"}', "not valid JSON"),                               # a lone surrogate
    (b"\xff\xfe{}", "not valid JSON"),
    (b"", "not valid JSON"),
])
def test_strict_json_files_are_refused_with_one_reason(tmp_path, content, reason):
    path = tmp_path / "index.json"
    path.write_bytes(content)
    with pytest.raises(UnreadableData) as caught:
        safe_load.strict_json_file(path)
    assert reason in str(caught.value) and "\n" not in str(caught.value)


def test_strict_json_at_the_depth_limit_with_brackets_and_escapes_in_strings_is_a_value(tmp_path):
    path = tmp_path / "index.json"
    deep = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    text = '{"s": "x\\\\", "q": "\\"[{", "t": "]]]]", "e": "", "deep": ' + deep + "}"
    path.write_text(text)
    assert safe_load.strict_json_file(path) == safe_load.json_text(text)
    path.write_text(text.replace(deep, "[" + deep + "]"))  # one more level: 65
    with pytest.raises(UnreadableData, match="nested deeper"):
        safe_load.strict_json_file(path)
