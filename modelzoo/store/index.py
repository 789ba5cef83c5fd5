"""An index of the run records beside them, so that a report over thousands of runs does
not parse every record's curves.

``runs/.report-index.json`` holds, per run folder, the record's file signature (mtime in
ns, size, inode) and the record without its ``curves``. :func:`load_all_indexed` stats
every ``record.json``; a record whose signature matches its entry comes from the index,
any other is read (and checked) from its file as :func:`modelzoo.store.records.load`
does; entries of removed folders are dropped. The index is rewritten, atomically, only
when something changed; an index that is missing, unreadable, of another version or not
writable is rebuilt or skipped, never trusted half: the answer is always what the record
files say. A record's curves load from its file when a reader asks
(:meth:`IndexedRecord.load_curves`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

from modelzoo.contract.api import UserError
from modelzoo.store import records

INDEX_FILE = ".report-index.json"
INDEX_VERSION = 1


class IndexedRecord(dict):
    """A record read through the index: every field but ``curves`` (unless it was just read
    from its file), with the file it came from."""

    def __init__(self, fields: dict, path: Path):
        super().__init__(fields)
        self.path = path

    def load_curves(self) -> dict:
        """The record's curves, read from its file; ``{}`` when the file has none or is gone."""
        if "curves" in self:
            value = self["curves"]
        else:
            try:
                value = json.loads(self.path.read_bytes().decode("utf-8")).get("curves")
            except (OSError, ValueError, AttributeError):
                value = None
        return value if isinstance(value, dict) else {}


def signature(path: Path) -> Optional[list[int]]:
    """What says a file changed: mtime (ns), size and inode (an atomic rewrite is a new inode)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def read_index(runs_dir: Path) -> dict:
    """The index's entries (folder name -> entry); empty when it is missing or not ours."""
    try:
        data = json.loads((runs_dir / INDEX_FILE).read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION or not isinstance(data.get("entries"), dict):
        return {}
    return {name: entry for name, entry in data["entries"].items()
            if isinstance(entry, dict) and isinstance(entry.get("record"), dict)}


def load_all_indexed(runs_dir: Path) -> tuple[list[IndexedRecord], list[str]]:
    """Every record under ``runs_dir``, oldest first by folder name (as
    :func:`records.load_all_with_problems`), and one line per unreadable record."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return [], []
    old = read_index(runs_dir)
    entries: dict[str, dict] = {}
    found: list[IndexedRecord] = []
    problems: list[str] = []
    changed = False
    for path in sorted(runs_dir.glob(f"*/{records.RECORD_FILE}")):
        name, sig = path.parent.name, signature(path)
        entry = old.get(name)
        if sig is not None and entry is not None and entry.get("signature") == sig:
            found.append(IndexedRecord(entry["record"], path))
            entries[name] = entry
            continue
        changed = True
        try:
            record = records.load(path)
        except UserError as exc:  # listed every time, never indexed: fixed files are seen at once
            problems.append(str(exc))
            continue
        found.append(IndexedRecord(record, path))
        if sig is not None and isinstance(record.get("curves", {}), dict):  # malformed curves: re-read, re-judged
            entries[name] = {"signature": sig, "record": {k: v for k, v in record.items() if k != "curves"}}
    if changed or set(old) - set(entries):
        write_index(runs_dir, entries)
    return found, problems


def write_index(runs_dir: Path, entries: dict) -> bool:
    """Write the index atomically; False (and no index) when the folder is not writable."""
    text = json.dumps({"version": INDEX_VERSION, "entries": entries}, separators=(",", ":"), allow_nan=True)
    try:
        records.write_atomic(runs_dir / INDEX_FILE, text)
    except (OSError, UserError):
        return False
    return True


def index_path(runs_dir: os.PathLike) -> Path:
    return Path(runs_dir) / INDEX_FILE
