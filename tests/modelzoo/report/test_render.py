"""render_reports: every report staged and replaced together; a long report written on two
cores (results.json and results.csv by a forked child) byte for byte as on one.

The fork runs in a fresh interpreter: pytest's process may hold torch's threads, where the
report rightly writes everything itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from modelzoo.report import html, render_reports

GENERATED = "2026-12-08T00:00:00+00:00"

SCRIPT = """
import json, os, sys
from modelzoo.report import render, writers
records = json.load(open(sys.argv[1]))
render.FORK_FROM_RUNS = int(sys.argv[3])
for name in ("render_json", "render_csv"):
    def wrapped(report, _inner=getattr(writers, name)):
        open(sys.argv[2] + ".pids", "a").write(f"{os.getpid()}\\n")
        return _inner(report)
    setattr(writers, name, wrapped)
FAIL_HTML = len(sys.argv) > 5
if FAIL_HTML:
    def broken(report):
        raise KeyboardInterrupt
    render.html.render_html = broken
try:
    render.render_reports(records, {}, sys.argv[2], generated=sys.argv[4])
except KeyboardInterrupt:
    print("interrupted")
print(os.getpid())
"""


def _render(tmp_path, records, folder: str, fork_from: int, fail_html: bool = False) -> tuple:
    source = tmp_path / "records.json"
    source.write_text(json.dumps(records))
    out = tmp_path / folder
    argv = [sys.executable, "-c", textwrap.dedent(SCRIPT), str(source), str(out), str(fork_from), GENERATED]
    done = subprocess.run(argv + (["fail"] if fail_html else []), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    parent = int(done.stdout.split()[-1])
    writers = {int(p) for p in (tmp_path / f"{folder}.pids").read_text().split()}
    return out, parent, writers


def test_a_long_report_written_on_two_cores_is_the_same_byte_for_byte(tmp_path, history_records):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this test needs two cores (this project's machines have two): the report forks only then")
    inline, parent, writers = _render(tmp_path, history_records, "inline", fork_from=10**9)
    assert writers == {parent}
    forked, parent, writers = _render(tmp_path, history_records, "forked", fork_from=1)
    assert parent not in writers and len(writers) == 1  # results.json and results.csv came from the child
    names = sorted(p.name for p in inline.iterdir())
    assert names == ["index.html", "results.csv", "results.json", "results.md"]
    assert sorted(p.name for p in forked.iterdir()) == names  # no temporary file left
    for name in names:
        assert (forked / name).read_bytes() == (inline / name).read_bytes(), name


def test_a_stop_while_the_child_writes_leaves_the_old_reports_whole_and_no_temporary_file(tmp_path,
                                                                                          history_records):
    out, _, _ = _render(tmp_path, history_records[:10], "out", fork_from=10**9)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tmp_path / "out.pids").unlink()
    out, parent, writers = _render(tmp_path, history_records, "out", fork_from=1, fail_html=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_failing_renderer_leaves_the_old_reports_whole(tmp_path, history_records, monkeypatch):
    render_reports(history_records[:10], {}, tmp_path, generated=GENERATED)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(report):
        raise RuntimeError("a bug in the HTML")

    monkeypatch.setattr(html, "render_html", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        render_reports(history_records, {}, tmp_path, generated=GENERATED)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
