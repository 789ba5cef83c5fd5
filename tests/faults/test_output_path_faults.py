"""Fault class 23: output paths. Nothing outside the runs folder is written through a run
folder that is a symbolic link; no write replaces what is not a regular file (a device
node, a named pipe, a link, a folder), ``--force`` or not; replacing an existing file the
command did not make needs ``--force``. Every verb that takes an output path: ``export
--output``, ``report --output``, and the run folders ``run --resume`` writes into."""

from __future__ import annotations

import os
import stat

import pytest
from fault_helpers import TINY, assert_one_line_error, toy_record, write_record


def _snapshot(folder) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_resume_of_a_run_folder_that_is_a_link_out_of_the_runs_folder_is_refused(ws, finished_run, tmp_path):
    outside = tmp_path / "outside"
    record = ws.adopt(finished_run)  # a real run, copied, then moved out and linked back in
    (ws.runs / record["run_id"]).rename(outside)
    (ws.runs / record["run_id"]).symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    result = ws.cli("run", "toy", "--resume", record["run_id"], *TINY[:2])
    assert_one_line_error(result, 2, f"run folder {ws.runs / record['run_id']} is a symbolic link",
                          "move the run there or remove the link")
    assert _snapshot(outside) == before  # no byte written there: no lock, no record, no checkpoint


def test_report_and_compare_do_not_read_through_a_linked_run_folder(ws, tmp_path):
    outside = tmp_path / "elsewhere"
    write_record(outside, toy_record("linked"))
    (ws.runs / "linked").parent.mkdir(parents=True, exist_ok=True)
    (ws.runs / "linked").symlink_to(outside / "linked", target_is_directory=True)
    write_record(ws.runs, toy_record("good"))
    result = ws.cli("report", "--output", "out", "--format", "json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith("modelzoo: warning: skipped run folder") and "is a symbolic link" in warning
    assert_one_line_error(ws.cli("compare", "good", "linked"), 2, "is a symbolic link")


def _special(kind: str, path) -> str:
    """Make ``path`` a ``kind`` of thing that is not a regular file; the word the refusal uses."""
    if kind == "pipe":
        os.mkfifo(path)
        return "a named pipe"
    if kind == "link":
        target = path.parent / "victim.txt"
        target.write_text("not ours\n")
        path.symlink_to(target)
        return "a symbolic link"
    if kind == "folder":
        path.mkdir()
        return "a folder"
    try:  # the /dev/full of the issue, made here so that nothing real is at risk
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("making a device node needs root (the case of the issue: /dev/full as root)")
    return "a character device"


@pytest.mark.parametrize("kind, force", [("device", False), ("device", True), ("pipe", False), ("link", True),
                                         ("folder", False)])
def test_export_never_replaces_what_is_not_a_regular_file(ws, tmp_path, kind, force):
    target = tmp_path / "model.onnx"
    word = _special(kind, target)
    before = os.lstat(target)
    args = ("export", "toy", "--weights", str(tmp_path / "w.pt"), "--output", str(target), "--device", "cpu")
    result = ws.cli(*args, *(("--force",) if force else ()))
    assert_one_line_error(result, 2, f"refusing to replace --output {target}: it is {word}, not a regular file")
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)


def test_export_replaces_an_existing_file_only_with_force(ws, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("a file the user made\n")
    args = ("export", "toy", "--weights", str(tmp_path / "w.pt"), "--output", str(target), "--device", "cpu")
    assert_one_line_error(ws.cli(*args), 2, f"refusing to replace --output {target}: the file exists",
                          "pass --force")
    assert target.read_text() == "a file the user made\n"
    forced = ws.cli(*args, "--force")  # past the refusal: the toy's weights are the next thing checked
    assert forced.returncode == 2 and "refusing to replace" not in forced.stderr, forced.stderr


@pytest.mark.parametrize("name", ["results.md", "index.html", "results.json", "results.csv"])
def test_report_replaces_a_file_it_did_not_write_only_with_force(ws, name):
    write_record(ws.runs, toy_record("good"))
    out = ws.root / "out"
    out.mkdir()
    (out / name).write_text("my own notes\n")
    result = ws.cli("report", "--output", "out")
    assert_one_line_error(result, 2, f"refusing to replace out/{name}: it was not written by 'modelzoo report'",
                          "pass --force")
    assert sorted(p.name for p in out.iterdir()) == [name] and (out / name).read_text() == "my own notes\n"
    again = ws.cli("report", "--output", "out", "--force")
    assert again.returncode == 0, again.stderr
    assert (out / name).read_text() != "my own notes\n"
    assert ws.cli("report", "--output", "out").returncode == 0  # its own files: replaced without --force


@pytest.mark.parametrize("kind", ["pipe", "link", "folder"])
def test_report_never_replaces_what_is_not_a_regular_file(ws, kind):
    write_record(ws.runs, toy_record("good"))
    out = ws.root / "out"
    out.mkdir()
    word = _special(kind, out / "results.md")
    for extra in ((), ("--force",)):
        result = ws.cli("report", "--output", "out", *extra)
        assert_one_line_error(result, 2, f"refusing to replace --output out/results.md: it is {word}")
    assert "index.html" not in os.listdir(out)  # nothing half-written: the check comes before every write
