"""Fault class 28.1/28.3 (the run index): the report and the gate read the same truth.

The run index (``runs/.report-index.json``) is a file anyone who writes the runs folder can
write. Whatever bytes it holds, ``report`` warns once, rebuilds it and reports what the
record files say; an entry is checked as its record file would be; a record rewritten with
its size and mtime restored (rsync, tar, an in-place edit) is read again.
"""

from __future__ import annotations

import json
import os

import pytest
from fault_helpers import toy_record, write_record

from modelzoo.store import records
from modelzoo.store.index import INDEX_FILE, INDEX_VERSION, load_all_indexed


def _report_fps(ws) -> tuple[dict, str]:
    result = ws.cli("report", "--output", "out", "--format", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    shown = json.loads((ws.root / "out" / "results.json").read_text())["records"]
    return {r["run_id"]: r["metrics"]["fps"] for r in shown}, result.stderr


def _two_runs(ws) -> None:
    write_record(ws.runs, toy_record("run-a", fps=100.0))
    write_record(ws.runs, toy_record("run-b", fps=200.0))


def _deep(opening: str, closing: str, depth: int = 100_000) -> bytes:
    return (opening * depth + closing * depth).encode()


@pytest.mark.parametrize("content", [
    _deep("[", "]"),                                                       # 200 kB of nested arrays
    _deep('{"a":', "}").replace(b"}}", b"1}}", 1),                          # nested objects
    b'{"version": %d, "shared": [], "layouts": [], "entries": {"run-a": ' % INDEX_VERSION + _deep("[", "]", 50_000)
    + b"}}",                                                               # deep inside an entry
    b"\xff\xfe not utf-8",
    b"",                                                                   # empty (a crash while writing elsewhere)
    b'{"version": %d, "shared": 5, "layouts": [], "entries": []}' % INDEX_VERSION,          # ours by version, wrong shapes
], ids=["nested-arrays", "nested-objects", "deep-entry", "not-utf8", "empty", "wrong-shapes"])
def test_a_hostile_index_is_one_warning_and_is_rebuilt(ws, content):
    _two_runs(ws)
    _report_fps(ws)
    (ws.runs / INDEX_FILE).write_bytes(content)
    fps, stderr = _report_fps(ws)
    assert fps == {"run-a": 100.0, "run-b": 200.0}
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelzoo: warning: run index ") and "rebuilt" in lines[0], lines
    # rebuilt: the next report reads it without a word (never a permanently broken report)
    assert json.loads((ws.runs / INDEX_FILE).read_text())["version"] == INDEX_VERSION
    fps, stderr = _report_fps(ws)
    assert fps == {"run-a": 100.0, "run-b": 200.0} and stderr == ""


def test_an_index_that_is_a_folder_warns_and_the_report_still_reads_every_record(ws):
    _two_runs(ws)
    (ws.runs / INDEX_FILE).mkdir()
    fps, stderr = _report_fps(ws)
    assert fps == {"run-a": 100.0, "run-b": 200.0} and "run index" in stderr


def _edit_in_place(path, old: bytes, new: bytes) -> None:
    """Rewrite a record as rsync --inplace or an editor might: same inode, same size, old mtime."""
    stat = path.stat()
    content = path.read_bytes()
    assert len(old) == len(new) and old in content
    with open(path, "r+b") as handle:
        handle.write(content.replace(old, new))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (stat.st_size, stat.st_mtime_ns, stat.st_ino)


@pytest.mark.parametrize("how", ["in-place", "replaced"])
def test_a_rewrite_with_size_and_mtime_restored_is_read_again_by_report_and_gate(ws, how):
    _two_runs(ws)
    _report_fps(ws)
    path = ws.runs / "run-b" / records.RECORD_FILE
    if how == "in-place":
        _edit_in_place(path, b'"fps": 200.0', b'"fps": 900.0')
    else:  # a new file (new inode) given the old mtime, as tar -x does
        stat = path.stat()
        path.unlink()
        write_record(ws.runs, toy_record("run-b", fps=900.0))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    fps, _ = _report_fps(ws)
    assert fps["run-b"] == 900.0
    indexed, _ = load_all_indexed(ws.runs)
    assert [r["metrics"]["fps"] for r in indexed] == [r["metrics"]["fps"] for r in records.load_all(ws.runs)]


def _forge(ws, run_id: str, change) -> None:
    """Edit one entry of the index, keeping the signature that matches the record file.
    ``change(fields, data, shared)``: ``fields`` maps the entry's field names to its values
    (a shared field's value is its number in ``data["shared"]``); names added to ``shared``
    are stored as shared fields."""
    data = json.loads((ws.runs / INDEX_FILE).read_text())
    sig, number, values = data["entries"][run_id]
    layout = data["layouts"][number]
    shared = {k[1:] for k in layout if k.startswith("=")}
    fields = {k.lstrip("="): v for k, v in zip(layout, values)}
    change(fields, data, shared)
    data["layouts"].append([("=" + k) if k in shared else k for k in fields])
    data["entries"][run_id] = [sig, len(data["layouts"]) - 1, list(fields.values())]
    (ws.runs / INDEX_FILE).write_text(json.dumps(data))


@pytest.mark.parametrize("change", [
    lambda fields, data, shared: fields.update(run_id="../../x"),          # an invalid run id
    lambda fields, data, shared: fields.update(run_id="run-a"),            # another folder's id
    lambda fields, data, shared: fields.update(schema_version=99),
    lambda fields, data, shared: fields.update(metrics="fast"),
    lambda fields, data, shared: fields.update(metric_columns=10_000),     # a dangling shared value
    lambda fields, data, shared: shared.add("metrics"),                    # a field that is never shared
    lambda fields, data, shared: data["entries"].update({"run-b": [None, 0, []]}),  # a malformed entry
], ids=["bad-run-id", "other-id", "schema", "metrics-text", "dangling-share", "unshared-field", "malformed"])
def test_an_index_entry_is_checked_as_its_record_file_is(ws, change):
    _two_runs(ws)
    _report_fps(ws)
    _forge(ws, "run-b", change)
    fps, stderr = _report_fps(ws)
    assert fps == {"run-a": 100.0, "run-b": 200.0}, stderr   # the record file's word, not the entry's
    assert "Traceback" not in stderr


def test_a_hostile_format_in_an_index_entry_cannot_blow_up_the_report(ws):
    _two_runs(ws)
    _report_fps(ws)

    def hostile(fields, data, shared):
        data["shared"].append([{"key": "accuracy", "title": "Accuracy", "format": "{:>20000000}"}])
        fields["metric_columns"] = len(data["shared"]) - 1

    _forge(ws, "run-b", hostile)
    result = ws.cli("report", "--output", "out")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert max(p.stat().st_size for p in (ws.root / "out").iterdir()) < 500_000


@pytest.mark.parametrize("what", ["folder", "record"])
def test_a_run_folder_or_record_turned_into_a_link_is_never_served_from_the_index(ws, tmp_path, what):
    import shutil

    _two_runs(ws)
    _report_fps(ws)  # indexed as a real folder
    outside = tmp_path / "elsewhere"
    shutil.move(str(ws.runs / "run-b"), outside)
    if what == "folder":
        (ws.runs / "run-b").symlink_to(outside, target_is_directory=True)
    else:
        (ws.runs / "run-b").mkdir()
        (ws.runs / "run-b" / records.RECORD_FILE).symlink_to(outside / records.RECORD_FILE)
    fps, stderr = _report_fps(ws)
    assert fps == {"run-a": 100.0}
    (line,) = stderr.strip().splitlines()
    assert line.startswith("modelzoo: warning: skipped ") and "symbolic link" in line, line
