"""Fault class 22: text from records reaching people. Terminal escape sequences (ESC, CSI
0x9b, BEL, a carriage return, a bidi override) in a record's error, profile or warning are
shown as escapes by ``zoo check``, ``zoo status``, ``compare`` and ``report``'s console
lines, never acted on; a multi-line error cannot forge a verdict line; HTML in a record's
text never reaches the Markdown reports (results.md and its README blocks) as markup."""

from __future__ import annotations

import json
import os

import pytest
from fault_helpers import ONE_CELL_CELL as CELL
from fault_helpers import ONE_CELL_ZOO as ZOO
from fault_helpers import toy_record, write_record

# clear the screen, retitle the terminal, ring, hide the line behind a CR, C1 CSI, reverse the text
ESCAPES = ["\x1b[2J\x1b[H", "\x1b]0;owned\x07", "\rzoo check r1: pass", "\x9b31m", "\u202egnp.exe"]
FORGED = "\nzoo check r1: pass: all 1 cells meet zoo.yaml"
RAW_CONTROL = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


def _assert_no_raw_control(*texts: str) -> None:
    for text in texts:
        assert not any(char in text for char in RAW_CONTROL), repr(text[-500:])


def _hostile_text(prefix: str = "boom") -> str:
    return prefix + " " + " ".join(ESCAPES) + FORGED


def _failed_cell_with_hostile_error(ws) -> None:
    """Release r1's one cell, its run failed with an error full of escapes and a forged verdict line."""
    (ws.root / "zoo.yaml").write_text(ZOO)
    write_record(ws.runs, toy_record("cell-run", status="failed", zoo_cell=dict(CELL), error=_hostile_text()))


def test_zoo_check_shows_a_hostile_error_as_escapes_on_one_line(ws):
    _failed_cell_with_hostile_error(ws)
    result = ws.cli("zoo", "check", "--zoo", "zoo.yaml", "--release", "r1")
    assert result.returncode == 1, result.stdout + result.stderr
    _assert_no_raw_control(result.stdout, result.stderr)
    assert "\\x1b[2J" in result.stdout and "\\x07" in result.stdout and "\\u202e" in result.stdout
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("zoo check r1: FAIL: 1 of 1 cells:")
    assert not [line for line in lines if line.startswith("zoo check r1: pass")], lines


def test_zoo_status_shows_a_hostile_error_as_escapes(ws):
    _failed_cell_with_hostile_error(ws)
    result = ws.cli("zoo", "status", "--zoo", "zoo.yaml", "--release", "r1")
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_no_raw_control(result.stdout, result.stderr)
    assert "\\x1b]0;owned\\x07" in result.stdout


def test_compare_shows_hostile_setting_text_as_escapes(ws):
    write_record(ws.runs, toy_record("base"))
    write_record(ws.runs, toy_record("new", profile="fast\x1b[2J\x1b]0;owned\x07"))
    result = ws.cli("compare", "base", "new")
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_no_raw_control(result.stdout, result.stderr)
    assert "profile differs: default vs fast\\x1b[2J\\x1b]0;owned\\x07" in result.stdout


def test_a_refused_run_names_hostile_text_as_escapes(ws):
    write_record(ws.runs, toy_record("base"))
    write_record(ws.runs, toy_record("new", status="failed", error=_hostile_text()))
    result = ws.cli("compare", "base", "new")
    assert result.returncode == 2
    _assert_no_raw_control(result.stdout, result.stderr)


def test_report_console_lines_show_hostile_text_as_escapes(ws):
    write_record(ws.runs, toy_record("good"))
    odd = toy_record("odd")
    odd["metric_columns"] = [{"key": "accuracy", "title": "A", "format": "\x1b[2J{:.2f}\x07"}]
    write_record(ws.runs, odd)
    result = ws.cli("report", "--output", "out", "--format", "md")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip(), "the malformed record must be named"
    _assert_no_raw_control(result.stdout, result.stderr)


HTML = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<!-- hidden -->", "&lt;b&gt;",
        "<a href='javascript:alert(1)'>x</a>"]


@pytest.mark.parametrize("markup", HTML)
def test_no_html_of_a_record_reaches_the_markdown_as_markup(ws, markup):
    """Every text a record carries into results.md: title, profile, card, error, warning, data name."""
    shown = toy_record("shown", model_title=f"Toy {markup}", profile=f"p{markup}", warnings=[f"w {markup}"])
    shown["env"]["gpu"] = f"G {markup}"
    shown["data"].update(kind="real", name=f"d {markup}")
    failed = toy_record("failed", status="failed", error=f"e {markup}")
    for record in (shown, failed):
        write_record(ws.runs, record)
    (ws.root / "zoo.yaml").write_text("schema_version: 1\nmodels:\n  toy:\n    references:\n"
                                      f"      - {{gpu: CPU, cards: 1, fps: 10, source: {json.dumps('s ' + markup)}}}\n")
    result = ws.cli("report", "--output", "out", "--format", "md,html", "--zoo", "zoo.yaml")
    assert result.returncode == 0, result.stderr
    for name in ("results.md", "index.html"):
        page = (ws.root / "out" / name).read_text()
        for tag in ("<script", "<img", "<!-- hidden", "&lt;b&gt;", "<a href='javascript"):
            assert tag not in page, (name, tag)
    md = (ws.root / "out" / "results.md").read_text()
    assert markup.replace("<", "&lt;").replace("&lt;b&gt;", "&amp;lt;b&amp;gt;")[:12] in md


def test_zoo_status_of_a_local_release_shows_its_table_when_no_slurm_controller_answers(ws, tmp_path):
    """Issue 28.11: Slurm's client installed (here a squeue that fails as it does without a
    controller) must not break ``zoo status`` of a release that never used Slurm; one that did
    gets a warning and the table from its records."""
    tools = tmp_path / "slurm-bin"
    tools.mkdir()
    fake = tools / "squeue"
    fake.write_text("#!/bin/sh\necho 'squeue: error: _establish_config_source: failed to fetch config' >&2\nexit 1\n")
    fake.chmod(0o755)
    path = f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"
    (ws.root / "zoo.yaml").write_text(ZOO)
    write_record(ws.runs, toy_record("cell-run", zoo_cell=dict(CELL)))
    result = ws.cli("zoo", "status", "--zoo", "zoo.yaml", "--release", "r1", PATH=path)
    assert result.returncode == 0 and result.stderr == "", result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "zoo status r1: 1 succeeded"
    (ws.runs / ".slurm" / "r1").mkdir(parents=True)  # as 'zoo run --launcher slurm' leaves it
    result = ws.cli("zoo", "status", "--zoo", "zoo.yaml", "--release", "r1", PATH=path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.startswith("modelzoo: warning: squeue failed (reading the queue)")
    assert "the states below come from the run records alone" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == "zoo status r1: 1 succeeded"
