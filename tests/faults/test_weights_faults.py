"""Fault class 14 (weights): ``eval --weights`` with a file that is not a checkpoint, and
``--resume`` over a corrupt checkpoint, are one line ``not a checkpoint: <path> (...)``,
never torch's advice about ``weights_only``; the attempt's record says so."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from fault_helpers import Workspace, assert_one_line_error, assert_runs_folder_sound, run_together, write_record

from modelzoo.store import records

BAD_WEIGHTS = ("truncated", "garbage", "empty", "/etc/passwd")


def _bad_file(kind: str, folder: Path, good: Path) -> Path:
    if kind.startswith("/"):
        return Path(kind)
    path = folder / f"{kind}.pt"
    content = {"truncated": good.read_bytes()[: good.stat().st_size // 2],
               "garbage": random.Random(12).randbytes(4096), "empty": b""}[kind]
    path.write_bytes(content)
    return path


@pytest.fixture(scope="module")
def refused(tmp_path_factory, finished_run):
    """Each bad weights file through eval, and a resume over a corrupt checkpoint, at once."""
    good = finished_run / "checkpoint.pt"
    calls, paths = [], {}
    for kind in BAD_WEIGHTS:
        space = Workspace(tmp_path_factory.mktemp("weights") / "work", tmp_path_factory.mktemp("cache"))
        paths[kind] = _bad_file(kind, space.root, good)
        calls.append((space, ("eval", "toy", "--device", "cpu", "--weights", str(paths[kind]))))

    space = Workspace(tmp_path_factory.mktemp("resume") / "work", tmp_path_factory.mktemp("cache"))
    record = space.adopt(finished_run)
    record = records.mark_finished(records.mark_running(record), "interrupted", "stopped by a signal")
    write_record(space.runs, record)
    paths["checkpoint"] = space.runs / record["run_id"] / "checkpoint.pt"
    paths["checkpoint"].write_bytes(b"PK\x03\x04" + b"\x00" * 100)  # a zip header, then nothing
    calls.append((space, ("run", "toy", "--resume", record["run_id"])))

    results = run_together(*calls)
    return {kind: (space, result, paths[kind])
            for kind, (space, _), result in zip((*BAD_WEIGHTS, "checkpoint"), calls, results)}


@pytest.mark.parametrize("kind", [*BAD_WEIGHTS, "checkpoint"])
def test_a_file_that_is_not_a_checkpoint_is_one_line_naming_it(refused, kind):
    space, result, path = refused[kind]
    line = assert_one_line_error(result, 2, f"not a checkpoint: {path} (")
    assert "weights_only" not in result.stderr.lower()
    (record,) = space.records()
    assert record["status"] == "failed" and record["error"] in line
    assert_runs_folder_sound(space.runs)
