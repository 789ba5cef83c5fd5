"""The run index beside the records: the same answer as reading every record, a changed,
added or removed record seen at once, an index that lies or cannot be written never trusted,
curves read from the record file on demand."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from modelzoo.store import index, records
from modelzoo.store.index import INDEX_FILE, load_all_indexed


def _record(run_id: str, fps: float = 100.0) -> dict:
    record = records.new_record(run_id=run_id, kind="train", model="toy", model_title="Toy",
                                plugin={"name": "toy", "version": "0"}, profile="demo", config={"train": {}},
                                overrides={}, cards=1, world_size=1, device="cpu", seed=0, metric_columns=[],
                                log=None)
    record["status"] = "success"
    record["metrics"] = {"fps": fps}
    record["curves"] = {"loss": {"step": [0, 1, 2], "loss": [3.0, 2.0, 1.0]}}
    return record


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    folder = tmp_path / "runs"
    for i, fps in enumerate((100.0, 200.0, 300.0)):
        records.save(_record(f"run-{i}", fps), folder)
    return folder


def _plain(found) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "curves"} for r in found]


def _same_as_the_files(runs: Path) -> list[dict]:
    indexed, problems = load_all_indexed(runs)
    direct, direct_problems = records.load_all_with_problems(runs)
    assert _plain(indexed) == _plain(direct) and problems == direct_problems
    return indexed


def test_the_second_read_comes_from_the_index_without_curves_and_says_the_same(runs):
    first = _same_as_the_files(runs)
    assert (runs / INDEX_FILE).is_file() and "curves" in first[0]  # read from the file this time
    second = _same_as_the_files(runs)
    assert "curves" not in second[0]                                # from the index
    assert second[0].load_curves() == {"loss": {"step": [0, 1, 2], "loss": [3.0, 2.0, 1.0]}}


def test_a_changed_record_is_seen_even_with_the_same_size_and_mtime(runs):
    _same_as_the_files(runs)
    path = runs / "run-1" / records.RECORD_FILE
    stat = path.stat()
    records.save(_record("run-1", 900.0), runs)  # same length: 200.0 -> 900.0
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the old mtime: the new inode still tells
    assert path.stat().st_size == stat.st_size
    found = _same_as_the_files(runs)
    assert [r["metrics"]["fps"] for r in found] == [100.0, 900.0, 300.0]


def test_added_and_removed_records_are_seen(runs):
    _same_as_the_files(runs)
    records.save(_record("run-3", 400.0), runs)
    (runs / "run-0" / records.RECORD_FILE).unlink()
    found = _same_as_the_files(runs)
    assert [r["run_id"] for r in found] == ["run-1", "run-2", "run-3"]
    assert set(json.loads((runs / INDEX_FILE).read_text())["entries"]) == {"run-1", "run-2", "run-3"}


def test_a_broken_record_is_listed_every_time_and_a_repaired_one_returns(runs):
    _same_as_the_files(runs)
    path = runs / "run-2" / records.RECORD_FILE
    path.write_text("{trunc")
    for _ in range(2):
        found, problems = load_all_indexed(runs)
        assert [r["run_id"] for r in found] == ["run-0", "run-1"] and "not valid JSON" in problems[0]
    records.save(_record("run-2", 301.0), runs)
    assert [r["metrics"]["fps"] for r in _same_as_the_files(runs)] == [100.0, 200.0, 301.0]


@pytest.mark.parametrize("content", ["{not json", '{"version": 99, "entries": {}}', '[]',
                                     '{"version": 1, "entries": {"run-0": "x"}}',
                                     '{"version": 3, "shared": [], "layouts": [], "entries": {"run-0": "x"}}'])
def test_an_unreadable_or_foreign_index_is_rebuilt(runs, content):
    _same_as_the_files(runs)
    (runs / INDEX_FILE).write_text(content)
    _same_as_the_files(runs)
    assert json.loads((runs / INDEX_FILE).read_text())["version"] == index.INDEX_VERSION


def test_an_index_entry_with_a_stale_signature_is_not_trusted(runs):
    _same_as_the_files(runs)
    data = json.loads((runs / INDEX_FILE).read_text())
    signature, number, values = data["entries"]["run-0"]
    values[data["layouts"][number].index("metrics")]["fps"] = -1.0  # the index says one thing...
    signature[0] -= 1                                                # ...about another version of the file
    (runs / INDEX_FILE).write_text(json.dumps(data))
    assert _same_as_the_files(runs)[0]["metrics"]["fps"] == 100.0


def test_a_read_only_runs_folder_still_reports(runs, monkeypatch):
    monkeypatch.setattr(records, "write_atomic", lambda *a, **k: (_ for _ in ()).throw(OSError("read-only")))
    assert [r["run_id"] for r in _same_as_the_files(runs)] == ["run-0", "run-1", "run-2"]
    assert not (runs / INDEX_FILE).exists()


def test_the_index_is_written_atomically(runs, monkeypatch):
    written = []
    real = records.write_atomic
    monkeypatch.setattr(records, "write_atomic", lambda path, text: (written.append(Path(path)), real(path, text)))
    _same_as_the_files(runs)
    assert written == [runs / INDEX_FILE]
    _same_as_the_files(runs)          # nothing changed: not rewritten
    assert written == [runs / INDEX_FILE]
    assert not [p for p in runs.iterdir() if p.name.startswith(f".{INDEX_FILE}.")]  # no temporary left


def test_the_report_reads_curves_of_an_indexed_record_from_its_file(runs, tmp_path):
    from modelzoo.report import build_report

    _same_as_the_files(runs)
    found, _ = load_all_indexed(runs)
    assert "curves" not in found[0]
    report = build_report(found, {})
    assert report.runs[0].curves["loss"]["loss"] == [3.0, 2.0, 1.0]


def test_keep_narrows_what_is_returned_and_every_entry_stays_indexed(runs):
    _same_as_the_files(runs)
    records.save(_record("run-1", 250.0), runs)  # changed since: re-read, and still filtered
    found, problems = load_all_indexed(runs, keep=lambda record: record.get("metrics", {}).get("fps", 0) > 150)
    assert [(r["run_id"], r["metrics"]["fps"]) for r in found] == [("run-1", 250.0), ("run-2", 300.0)]
    assert problems == []
    assert set(json.loads((runs / INDEX_FILE).read_text())["entries"]) == {"run-0", "run-1", "run-2"}
    assert [r["metrics"]["fps"] for r in _same_as_the_files(runs)] == [100.0, 250.0, 300.0]


@pytest.mark.parametrize("odd", [float("nan"), float("inf"), 2**70], ids=["nan", "inf", "int-past-64-bits"])
def test_a_record_strict_json_cannot_hold_is_read_from_its_file_and_the_index_left_alone(runs, odd):
    record = _record("run-9")
    record["metrics"]["loss"] = odd
    records.save(record, runs)
    first = _same_as_the_files(runs)
    entry = json.loads((runs / INDEX_FILE).read_text())["entries"]["run-9"]
    assert entry[1:] == [None, None]  # its signature only: nothing that would read back as null
    before = (runs / INDEX_FILE).stat().st_mtime_ns
    again = _same_as_the_files(runs)
    loss = next(r for r in again if r["run_id"] == "run-9")["metrics"]["loss"]
    assert loss == odd or (math.isnan(loss) and math.isnan(odd))
    assert (runs / INDEX_FILE).stat().st_mtime_ns == before and len(again) == len(first) == 4
    # once the record is fixed, it is indexed like any other
    record["metrics"]["loss"] = 1.5
    records.save(record, runs)
    _same_as_the_files(runs)
    assert json.loads((runs / INDEX_FILE).read_text())["entries"]["run-9"][1] is not None
