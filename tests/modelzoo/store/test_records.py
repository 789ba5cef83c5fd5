"""Run records: written atomically and durably, read back strictly, with one lifecycle."""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import socket
import stat
import subprocess
import sys

import psutil
import pytest

from modelzoo.contract.api import UserError
from modelzoo.store import records


def _record(run_id="r1", **fields):
    record = records.new_record(run_id=run_id, kind="train", model="toy", model_title="Toy", plugin={},
                                profile="p", config={"a": 1}, overrides={}, cards=1, world_size=1,
                                device="cpu", seed=0, metric_columns=[], log="")
    record.update(fields)
    return record


def _ago(seconds: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")


# --- Atomic, durable writes ---------------------------------------------------------

def test_a_crash_mid_write_keeps_the_previous_record(tmp_path, monkeypatch):
    record = _record()
    path = records.save(record, tmp_path)
    before = path.read_text()

    def exploding_replace(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", exploding_replace)
    with pytest.raises(records.WriteFailed, match=f"cannot write {path}: Input/output error"):
        records.save({**record, "status": "success"}, tmp_path)
    assert path.read_text() == before
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]  # no temp file left


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "results.md"
    with pytest.raises(records.WriteFailed) as error:
        records.write_atomic(target, "text")
    assert isinstance(error.value, UserError)
    assert str(error.value).startswith(f"no space left on device: {target}")
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_writes_sync_the_file_and_then_its_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    records.write_atomic(tmp_path / "a.txt", "x")
    with records.atomic_writer(tmp_path / "b.bin") as handle:
        handle.write(b"\x00\x01")
    assert synced == ["file", "folder", "file", "folder"]
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_a_failing_binary_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="pickling failed"):
        with records.atomic_writer(target) as handle:
            handle.write(b"half")
            raise RuntimeError("pickling failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_written_files_follow_the_umask_like_any_other_file(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = records.save(_record(), tmp_path)
        with records.atomic_writer(tmp_path / "checkpoint.pt") as handle:
            handle.write(b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "checkpoint.pt").stat().st_mode) == mode


# --- Reading back ---------------------------------------------------------------------

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


def _valid_json(**changes):
    record = json.loads(json.dumps(_record("r1")))
    record.update(changes)
    for key in [k for k, v in changes.items() if v is _DROP]:
        del record[key]
    return json.dumps(record).encode()


_DROP = object()


@pytest.mark.parametrize("content, problem", [
    (b'{"run_id": "r1", "status": "\xff\xfe"}', "is not UTF-8"),
    (b"[1, 2]", "is not a JSON object"),
    (lambda: _valid_json(metrics=[1, 2]), "metrics is not a mapping"),
    (lambda: _valid_json(metric_columns=[1]), "metric_columns is not a list of mappings"),
    (lambda: _valid_json(metric_columns={"key": "a"}), "metric_columns is not a list of mappings"),
    (lambda: _valid_json(run_id=_DROP), "has no run_id"),
    (lambda: _valid_json(status=_DROP), "has no status"),
])
def test_malformed_records_are_one_line_errors_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "r1" / "record.json"
    path.parent.mkdir()
    path.write_bytes(content() if callable(content) else content)
    with pytest.raises(UserError) as error:
        records.load(path)
    message = str(error.value)
    assert str(path) in message and problem in message and "\n" not in message


def test_reports_skip_malformed_records_with_one_line_each(tmp_path):
    records.save(_record("good"), tmp_path)
    for name, content in [("list", b"[1]"), ("binary", b"\xff")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "record.json").write_bytes(content)
    found, problems = records.load_all_with_problems(tmp_path)
    assert [r["run_id"] for r in found] == ["good"]
    assert len(problems) == 2 and all("\n" not in p for p in problems)
    assert "binary/record.json" in problems[0] and "list/record.json" in problems[1]
    with pytest.warns(UserWarning) as caught:
        assert [r["run_id"] for r in records.load_all(tmp_path)] == ["good"]
    assert [str(w.message) for w in caught] == problems


def test_old_records_without_the_new_fields_still_load(tmp_path):
    record = json.loads(json.dumps(_record("old")))
    for key in ("owner", "warnings", "throughput_unit", "curve_specs", "sweep_id", "weights"):
        record.pop(key, None)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "record.json").write_text(json.dumps(record))
    assert records.load(tmp_path / "old")["run_id"] == "old"


# --- Run ids --------------------------------------------------------------------------

@pytest.mark.parametrize("run_id", ["../escape", "a/b", "a\\b", ".", "..", "", "two words", "é"])
def test_save_refuses_run_ids_that_are_not_plain_folder_names(tmp_path, run_id):
    with pytest.raises(UserError, match="invalid run id"):
        records.save(_record(run_id), tmp_path / "runs")
    assert not (tmp_path / "escape").exists()


def test_a_record_whose_run_id_differs_from_its_folder_is_refused(tmp_path):
    path = records.save(_record("real"), tmp_path)
    path.parent.rename(tmp_path / "copy")
    with pytest.raises(UserError, match="run record .*copy/record.json says run_id 'real' but lives in "
                                        "folder 'copy'"):
        records.find(tmp_path, "copy")
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "record.json").write_bytes(_valid_json(run_id="../evil"))
    with pytest.raises(UserError, match="invalid run id"):
        records.load(tmp_path / "evil")


@pytest.mark.parametrize("prefix", ["../r", "runs/r", "r\\x", "", ".."])
def test_find_refuses_a_prefix_that_is_not_a_folder_name(tmp_path, prefix):
    records.save(_record("r1"), tmp_path)
    with pytest.raises(UserError, match="not a run id"):
        records.find(tmp_path, prefix)


def test_new_run_ids_are_valid_whatever_the_profile_is_called():
    run_id = records.new_run_id("face net", "casia/fast", 8)
    assert records.valid_run_id(run_id)
    assert "-face_net-casia_fast-c8-" in run_id


# --- Liveness -------------------------------------------------------------------------

def test_a_new_record_names_the_process_that_owns_it():
    owner = _record()["owner"]
    assert owner["host"] == socket.gethostname() and owner["pid"] == os.getpid()
    assert owner["pid_started"] == pytest.approx(psutil.Process().create_time())
    assert dt.datetime.fromisoformat(owner["heartbeat"]).tzinfo is not None


def test_a_run_whose_process_was_killed_reads_as_lost(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    record = _record(owner={"host": socket.gethostname(), "pid": child.pid,
                            "pid_started": psutil.Process(child.pid).create_time(), "heartbeat": _ago(0)})
    assert records.effective_status(record) == "running"
    child.kill()
    child.wait()
    assert records.effective_status(record) == "lost"
    assert record["status"] == "running"  # derived on read, never written


def test_a_pid_reused_by_another_process_reads_as_lost():
    record = _record()
    record["owner"]["pid_started"] -= 3600  # this pid, but an hour older: another process had it
    assert records.effective_status(record) == "lost"


def test_a_run_on_another_host_is_lost_only_once_its_heartbeat_is_stale():
    record = _record(owner={"host": "elsewhere.invalid", "pid": 1, "pid_started": 0.0,
                            "heartbeat": "2026-01-01T00:00:00+00:00"})
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    fresh = start + dt.timedelta(seconds=records.HEARTBEAT_STALE_S - 1)
    stale = start + dt.timedelta(seconds=records.HEARTBEAT_STALE_S + 1)
    assert records.effective_status(record, now=fresh) == "running"
    assert records.effective_status(record, now=stale) == "lost"


def test_a_heartbeat_keeps_a_remote_run_alive():
    record = _record(owner={"host": "elsewhere.invalid", "pid": 1, "pid_started": 0.0,
                            "heartbeat": _ago(records.HEARTBEAT_STALE_S * 2)})
    assert records.effective_status(record) == "lost"
    assert records.heartbeat_due(record)
    records.heartbeat(record)
    assert records.effective_status(record) == "running"
    assert not records.heartbeat_due(record)


def test_finished_and_ownerless_records_keep_their_stored_status():
    dead = {"host": socket.gethostname(), "pid": 2**22 + 7, "pid_started": 1.0, "heartbeat": _ago(10**6)}
    assert records.effective_status(_record(status="success", owner=dead)) == "success"
    old = _record()
    del old["owner"]
    assert records.effective_status(old) == "running"  # liveness unknown


def test_resume_is_refused_while_the_owner_lives_and_allowed_once_it_is_lost():
    alive = _record()
    with pytest.raises(UserError, match=f"run r1 is still running \\(pid {os.getpid()} on "):
        records.check_resumable(alive)
    with pytest.raises(UserError, match=r"already finished \(success\)"):
        records.check_resumable(_record(status="success"))
    lost = _record()
    lost["owner"]["pid_started"] -= 3600
    records.check_resumable(lost)
    records.check_resumable(_record(status="interrupted"))
    ownerless = _record()
    del ownerless["owner"]
    records.check_resumable(ownerless)  # written before owners: resumable as it always was


# --- Lifecycle ------------------------------------------------------------------------

def test_mark_finished_stamps_status_error_and_duration():
    record = _record()
    records.mark_finished(record, "diverged", "loss became NaN")
    assert record["status"] == "diverged" and record["error"] == "loss became NaN"
    assert dt.datetime.fromisoformat(record["finished"]) >= dt.datetime.fromisoformat(record["started"])
    assert 0 <= record["duration_s"] < 5
    with pytest.raises(ValueError, match="not a final status"):
        records.mark_finished(record, "lost")


def test_duration_comes_from_the_timestamps_when_another_process_started_the_run():
    record = _record(started=_ago(60))
    records.mark_finished(record, "success")
    assert record["duration_s"] == pytest.approx(60, abs=2)


def test_a_resumed_run_adds_its_new_attempt_to_the_earlier_duration():
    record = _record(status="interrupted", error="stopped by a signal", duration_s=100.0,
                     owner={"host": "gone.invalid", "pid": 1, "pid_started": 0.0, "heartbeat": _ago(99)})
    records.mark_running(record, resume=True)
    assert record["status"] == "running" and record["error"] is None
    assert len(record["resumed_from"]) == 1
    assert record["owner"]["pid"] == os.getpid() and record["owner"]["host"] == socket.gethostname()
    records.mark_running(record)  # the worker takes over the same attempt
    assert len(record["resumed_from"]) == 1
    records.mark_finished(record, "success")
    assert 100 <= record["duration_s"] < 105


@pytest.mark.parametrize("exc, status, error", [
    (UserError("data not found: /d; run prepare"), "failed", "data not found: /d; run prepare"),
    (RuntimeError("boom"), "failed", "RuntimeError: boom"),
    (MemoryError(), "failed", "MemoryError"),
    (KeyboardInterrupt(), "interrupted", "stopped by Ctrl-C"),
])
def test_mark_failed_says_why(exc, status, error):
    record = _record()
    records.mark_failed(record, exc)
    assert (record["status"], record["error"]) == (status, error)
    assert record["finished"] is not None


def test_the_schema_documents_every_field_a_record_has():
    documented = set(records.RunRecord.__annotations__)
    assert set(_record()) <= documented
    assert {"owner", "warnings", "throughput_unit", "curve_specs", "sweep_id", "members", "sweep",
            "weights", "release"} <= documented
    assert "lost" in records.STATUSES
