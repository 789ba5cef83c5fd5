"""Run records: one JSON file per run, written atomically, read by reports and compare.

Layout: ``<runs dir>/<run_id>/record.json`` beside ``train.log`` and ``checkpoint.pt``.
A record is a plain dict (see ``new_record``); ``SCHEMA_VERSION`` changes when a field
changes meaning.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from modelzoo.api import UserError

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"
STATUSES = ("running", "success", "failed", "diverged", "interrupted")
FINISHED = ("success", "failed", "diverged")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id(model: str, profile: str, cards: int, kind: str = "train") -> str:
    """``20261127T181500Z-facenet-demo-c1-3fa2``: sortable by time, readable, unique."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    tag = "eval" if kind == "eval" else f"c{cards}"
    return f"{stamp}-{model}-{profile}-{tag}-{secrets.token_hex(2)}"


def new_record(*, run_id: str, kind: str, model: str, model_title: str, plugin: dict,
               profile: str, config: dict, overrides: dict, cards: int, world_size: int,
               device: str, seed: int, metric_columns: list[dict], log: Optional[str],
               data_root: Optional[str] = None) -> dict:
    """A record for a run that is starting; fields filled in later stay ``None``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "kind": kind,                      # "train" or "eval"
        "status": "running",
        "error": None,
        "model": model,
        "model_title": model_title,
        "plugin": plugin,                  # {"name", "version"}
        "profile": profile,
        "config": config,                  # fully resolved
        "overrides": overrides,            # what --set changed, for the eye
        "cards": cards,
        "world_size": world_size,
        "device": device,                  # "cuda" or "cpu"
        "seed": seed,
        "data_root": data_root,            # --data-root, absolute: --resume finds the data again
        "data": None,                      # DataIdentity.as_dict()
        "env": None,                       # modelzoo.env.capture()
        "metrics": {},
        "metric_columns": metric_columns,  # MetricColumn fields, so reports need no plugin
        "curves": {},                      # {"roc": {"fpr", "tpr"}, "throughput": {"step", "fps"}}
        "started": utc_now(),
        "finished": None,
        "duration_s": None,
        "log": log,
        "checkpoint": None,
        "resumed_from": None,
    }


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save(record: dict, runs_dir: Path) -> Path:
    path = Path(runs_dir) / record["run_id"] / RECORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, indent=2, sort_keys=False, default=_jsonable) + "\n")
    return path


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def load(path: Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no run record at {path}; list runs with 'modelzoo report --format json'") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"run record {path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                        "remove it or restore it from a backup") from None
    if record.get("schema_version") != SCHEMA_VERSION:
        raise UserError(f"run record {path} has schema_version {record.get('schema_version')!r}, "
                        f"this modelzoo reads {SCHEMA_VERSION}; re-run or upgrade modelzoo")
    return record


def find(runs_dir: Path, run_id: str) -> dict:
    """The record of ``run_id`` (a unique prefix is enough)."""
    runs_dir = Path(runs_dir)
    exact = runs_dir / run_id / RECORD_FILE
    if exact.is_file():
        return load(exact)
    matches = [p for p in _record_paths(runs_dir) if p.parent.name.startswith(run_id)]
    if len(matches) == 1:
        return load(matches[0])
    if not matches:
        known = ", ".join(p.parent.name for p in _record_paths(runs_dir)[-5:]) or "none"
        raise UserError(f"unknown run id '{run_id}' in {runs_dir} (latest: {known})")
    raise UserError(f"run id '{run_id}' is ambiguous in {runs_dir}: "
                    + ", ".join(p.parent.name for p in matches[:5]) + "; give more of it")


def _record_paths(runs_dir: Path) -> list[Path]:
    if not runs_dir.is_dir():
        return []
    return sorted(runs_dir.glob(f"*/{RECORD_FILE}"))


def load_all(runs_dir: Path, run_ids: Optional[Iterable[str]] = None) -> list[dict]:
    """Records under ``runs_dir`` (all, or the given ids), oldest first.

    Unreadable records are skipped with a warning rather than sinking a whole report.
    """
    if run_ids:
        return [find(runs_dir, run_id) for run_id in run_ids]
    records = []
    for path in _record_paths(Path(runs_dir)):
        try:
            records.append(load(path))
        except UserError as exc:
            import warnings
            warnings.warn(str(exc), stacklevel=2)
    return records
