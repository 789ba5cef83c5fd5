"""Run records are written atomically and read back with clear errors."""

from __future__ import annotations

import json
import os

import pytest

from modelzoo import records
from modelzoo.api import UserError


def _record(run_id="r1"):
    return records.new_record(run_id=run_id, kind="train", model="toy", model_title="Toy", plugin={},
                              profile="p", config={"a": 1}, overrides={}, cards=1, world_size=1,
                              device="cpu", seed=0, metric_columns=[], log="")


def test_a_crash_mid_write_keeps_the_previous_record(tmp_path, monkeypatch):
    record = _record()
    path = records.save(record, tmp_path)
    before = path.read_text()

    def exploding_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", exploding_replace)
    with pytest.raises(OSError):
        records.save({**record, "status": "success"}, tmp_path)
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]  # no temp file left


def test_round_trip_and_prefix_lookup(tmp_path):
    records.save(_record("20260101T000000Z-toy-a"), tmp_path)
    records.save(_record("20260102T000000Z-toy-b"), tmp_path)
    assert records.find(tmp_path, "20260102")["run_id"] == "20260102T000000Z-toy-b"
    with pytest.raises(UserError, match="ambiguous"):
        records.find(tmp_path, "2026")
    assert [r["run_id"] for r in records.load_all(tmp_path)] == ["20260101T000000Z-toy-a",
                                                                  "20260102T000000Z-toy-b"]


def test_corrupt_or_foreign_records_are_named(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "record.json").write_text("{not json")
    with pytest.raises(UserError, match="is not valid JSON"):
        records.load(tmp_path / "bad")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "record.json").write_text(json.dumps({"schema_version": 0}))
    with pytest.raises(UserError, match="schema_version 0"):
        records.load(tmp_path / "old")
    with pytest.warns(UserWarning):
        assert records.load_all(tmp_path) == []
