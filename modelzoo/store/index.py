"""An index of the run records beside them, so that a report over thousands of runs does
not parse every record's curves.

``runs/.report-index.json`` holds, per run folder, the record's file signature and the
record without its ``curves``. The signature is mtime (ns), size, inode and ctime (ns):
rsync and tar restore a rewritten file's size and mtime, but every write moves its ctime,
which no one can set back. :func:`load_all_indexed` stats every ``record.json``; a record
whose signature matches its entry comes from the index, any other is read (and checked)
from its file as :func:`modelzoo.store.records.load` does; entries of removed folders are
dropped. An entry is checked as a record file is (:func:`records.check_loaded`): the index
is a file anyone who can write the runs folder can write, never a way round the checks.

Sub-objects that many records share (config, env, data, metric columns...) are stored
once, in ``shared``, and each entry names them by number; field names are stored once per
layout (:func:`write_index`): the 18,000 release runs of bench/report_bench.py make a 25 MB
index, most of it each run's own metrics and resources.
Records read through the index share those values: treat them as read-only.

The index is rewritten, atomically, only when something changed. An index that is
missing, unreadable (any bytes: truncated, foreign, nested 100,000 deep), of another
version or not writable is rebuilt or skipped, never trusted half, and never a crash: the
answer is always what the record files say. A record's curves load from its file when a
reader asks (:meth:`IndexedRecord.load_curves`).

The index is strict JSON, written and parsed by orjson (at 18,000 records, parsing and
checking it with the json module was a third of the report's time). A record that strict
JSON cannot hold exactly (a NaN loss, an integer past 64 bits) is not copied into it: its
entry keeps only the signature, and the record is read from its file each time.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import orjson

from modelzoo.contract.api import UserError
from modelzoo.store import records, safe_load

INDEX_FILE = ".report-index.json"
INDEX_VERSION = 4
# Record fields whose values repeat across runs: stored once in the index, named by number.
SHARED_FIELDS = ("config", "env", "data", "metric_columns", "curve_specs", "plugin", "resources", "result_table",
                 "overrides", "zoo_cell", "target")
_SHARED = frozenset(SHARED_FIELDS)


class IndexedRecord(dict):
    """A record read through the index: every field but ``curves`` (unless it was just read
    from its file), with the file it came from."""

    def __init__(self, fields: dict, path: os.PathLike | str):
        super().__init__(fields)
        self._path = path

    @property
    def path(self) -> Path:
        """The record file (a Path made when asked: 18,000 made up front cost a quarter second)."""
        if not isinstance(self._path, Path):
            self._path = Path(self._path)
        return self._path

    def load_curves(self) -> dict:
        """The record's curves, read from its file; ``{}`` when the file has none or is gone."""
        if "curves" in self:
            value = self["curves"]
        else:
            try:
                value = safe_load.json_file(self.path).get("curves")
            except (OSError, ValueError, AttributeError):  # UnreadableData is a ValueError
                value = None
        return value if isinstance(value, dict) else {}


def _signature_of(st: os.stat_result) -> list[int]:
    """What says a file changed: mtime (ns), size, inode (an atomic rewrite is a new inode) and
    ctime (ns: any write moves it, and it cannot be set back as mtime can)."""
    return [st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns]


def read_index(runs_dir: Path) -> tuple[dict, Optional[str]]:
    """The index's entries (folder name -> record without curves, shared values joined in) and,
    when an index file exists but cannot be used, one line saying so (it is then rebuilt)."""
    path = runs_dir / INDEX_FILE
    try:
        data = safe_load.strict_json_file(path)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"run index {path} is unreadable ({exc.strerror or exc}); rebuilt from the records"
    except safe_load.UnreadableData as exc:
        return {}, f"run index {path} {exc}; rebuilt from the records"
    if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
        return {}, None  # an older modelzoo's index, or none of ours: replaced without a fuss
    shared, layouts, entries = data.get("shared"), data.get("layouts"), data.get("entries")
    if not isinstance(shared, list) or not isinstance(layouts, list) or not isinstance(entries, dict):
        return {}, f"run index {path} is not a run index (no shared, layouts or entries); rebuilt from the records"
    keys = [_layout(layout) for layout in layouts]
    out, bad = {}, 0
    for name, entry in entries.items():
        joined = _joined(entry, keys, shared)
        if joined is None:
            bad += 1
        else:
            out[name] = joined
    warning = (f"run index {path}: {bad} malformed entr{'y' if bad == 1 else 'ies'} ignored; those records are "
               "read from their files") if bad else None
    return out, warning


def _layout(layout) -> Optional[tuple[list[str], list[tuple[int, str]]]]:
    """A layout's field names, and the positions of those whose value is a number in ``shared``
    (written ``=field``); None if malformed."""
    if not isinstance(layout, list) or not all(isinstance(k, str) for k in layout):
        return None
    names = [k[1:] if k.startswith("=") else k for k in layout]
    joined = [(i, names[i]) for i, k in enumerate(layout) if k.startswith("=")]
    return (names, joined) if all(name in SHARED_FIELDS for _, name in joined) else None


def _joined(entry, layouts: list, shared: list) -> Optional[dict]:
    """An entry ``[signature, layout number, values]`` as ``{"signature", "record"}`` with its
    shared values put back (``[signature, null, null]``: a record kept out of the index, record
    None); None when malformed (the record is then read from its file)."""
    if not isinstance(entry, list) or len(entry) != 3:
        return None
    sig, number, values = entry
    if number is None and values is None:
        return {"signature": sig, "record": None}
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < len(layouts):
        return None
    layout = layouts[number]
    if layout is None or not isinstance(values, list) or len(values) != len(layout[0]):
        return None
    record = dict(zip(layout[0], values))
    for position, key in layout[1]:
        value = values[position]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(shared):
            return None
        record[key] = shared[value]
    return {"signature": sig, "record": record}


def load_all_indexed(runs_dir: Path, warn=None, keep: Optional[Callable[[dict], bool]] = None
                     ) -> tuple[list[IndexedRecord], list[str]]:
    """Every record under ``runs_dir``, oldest first by folder name (as
    :func:`records.load_all_with_problems`), and one line per unreadable record. ``warn`` is
    given one line when the index itself could not be used (it is rebuilt). ``keep`` (it must
    take any dict) narrows what is returned, e.g. to two releases' runs: the others are
    neither checked nor returned, but every record is still stat'ed and its entry kept."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return [], []
    old, warning = read_index(runs_dir)
    if warning and warn is not None:
        warn(warning)
    entries: dict[str, dict] = {}
    found: list[IndexedRecord] = []
    problems: list[str] = []
    changed = warning is not None
    for name, path, sig in _record_files(runs_dir):
        entry = old.get(name) if sig is not None else None  # a link: records.load refuses it, by name
        current = entry is not None and entry["signature"] == sig
        kept_out = current and entry["record"] is None
        if current and not kept_out:
            if keep is not None and not keep(entry["record"]):
                entries[name] = entry  # current, and not asked for (checked when a reader wants it)
                continue
            if _valid(entry["record"], path):
                found.append(IndexedRecord(entry["record"], path))
                entries[name] = entry
                continue
        changed = changed or not kept_out
        try:
            record = records.load(path)
        except UserError as exc:  # listed every time, never indexed: fixed files are seen at once
            problems.append(str(exc))
            continue
        if keep is None or keep(record):
            found.append(IndexedRecord(record, path))
        if kept_out:
            entries[name] = entry  # still kept out, unchanged
        elif isinstance(record.get("curves", {}), dict):  # malformed curves: re-read, re-judged
            fields = {k: v for k, v in record.items() if k != "curves"}
            entries[name] = {"signature": sig, "record": fields if _strict_json_holds(fields) else None}
    if changed or set(old) - set(entries):
        write_index(runs_dir, entries)
    return found, problems


def _record_files(runs_dir: Path) -> list[tuple[str, str, Optional[list[int]]]]:
    """``(folder, path, signature)`` of each ``<runs>/*/record.json``, in folder-name order: one
    scandir and one lstat a record (a glob, an is_file and a stat cost three times as much at
    18,000). The signature is None for a folder or record that is a symbolic link: such a record
    is never served from the index (records.load refuses it and says why)."""
    with os.scandir(runs_dir) as listing:
        folders = sorted((e.name, e.is_symlink()) for e in listing if not e.name.startswith(".") and e.is_dir())
    root, found = os.fspath(runs_dir), []
    for name, linked in folders:
        full = os.path.join(root, name, records.RECORD_FILE)
        try:
            st = os.lstat(full)
        except OSError:
            continue
        plain = stat.S_ISREG(st.st_mode) and not linked
        if plain or stat.S_ISLNK(st.st_mode) or linked:
            found.append((name, full, _signature_of(st) if plain else None))
    return found


def _strict_json_holds(fields: dict) -> bool:
    """Can the index's strict JSON hold ``fields`` exactly? Not a NaN or infinity (orjson would
    write null), not an integer past 64 bits (orjson refuses it)."""
    try:
        json.dumps(fields, allow_nan=False)
        orjson.dumps(fields)
    except (ValueError, TypeError, orjson.JSONEncodeError):
        return False
    return True


def _valid(record: dict, path: str) -> bool:
    """Does an index entry pass the checks its record file would? (An index is data too.)"""
    try:
        records.check_loaded(record, path)
    except UserError:
        return False
    return True


def write_index(runs_dir: Path, entries: dict) -> bool:
    """Write the index atomically; False (and no index) when the folder is not writable.

    Layout: ``{"version", "shared": [values], "layouts": [[field, "=field" (a shared one)...]],
    "entries": {folder: [signature, layout number, [values in the layout's order]]}}``: field
    names once per layout, not once per record."""
    shared: list = []
    numbers: dict[bytes, int] = {}  # a shared value's JSON text -> its number
    seen: dict[int, int] = {}      # id() of a value already numbered (records from the index share them)
    layouts: dict[tuple, int] = {}
    plans: dict[tuple, tuple[int, list[int]]] = {}  # a record's field names -> (layout number, shared positions)
    stored = {}
    for name, entry in entries.items():
        record = entry["record"]
        if record is None:  # kept out: read from its file
            stored[name] = [entry["signature"], None, None]
            continue
        fields = tuple(record)
        plan = plans.get(fields)
        if plan is None:
            layout = tuple(("=" + key) if key in _SHARED else key for key in fields)
            plan = plans[fields] = (layouts.setdefault(layout, len(layouts)),
                                    [i for i, key in enumerate(fields) if key in _SHARED])
        number, positions = plan
        values = list(record.values())
        for i in positions:
            value = values[i]
            known = seen.get(id(value))
            if known is None:
                known = numbers.setdefault(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), len(shared))
                if known == len(shared):
                    shared.append(value)
                seen[id(value)] = known
            values[i] = known
        stored[name] = [entry["signature"], number, values]
    text = orjson.dumps({"version": INDEX_VERSION, "shared": shared, "layouts": [list(k) for k in layouts],
                         "entries": stored})
    try:
        records.write_atomic(runs_dir / INDEX_FILE, text)
    except (OSError, UserError):
        return False
    return True


def index_path(runs_dir: os.PathLike) -> Path:
    return Path(runs_dir) / INDEX_FILE
