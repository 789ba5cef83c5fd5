"""Run records: one JSON file per run, written atomically, read by reports and compare.

Layout: ``<runs dir>/<run_id>/record.json`` beside ``train.log`` and ``checkpoint.pt``.
A record is a plain dict whose fields :class:`RunRecord` documents; ``SCHEMA_VERSION``
changes when a field changes meaning (new optional fields do not change it).

This module owns a run's life: :func:`new_record` (status ``running``),
:func:`mark_running` (a resumed or handed-over attempt), :func:`heartbeat`, and
:func:`mark_finished` / :func:`mark_failed`. A record left ``running`` by a process that
died reads as ``lost`` through :func:`effective_status`; that status is derived on
read and never written.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import json
import os
import re
import secrets
import socket
import stat
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Optional, TypedDict

from modelzoo.contract.api import UserError
from modelzoo.store import safe_load

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"
CHECKPOINT_FILE = "checkpoint.pt"  # beside the record; modelzoo.train.checkpoint writes it
STATUSES = ("running", "success", "failed", "diverged", "interrupted", "lost")
FINISHED = ("success", "failed", "diverged")
FINAL = FINISHED + ("interrupted",)  # what mark_finished may write; "lost" is only derived
HEARTBEAT_EVERY_S = 60
# A run on another host whose heartbeat is older than this reads as lost. Ten heartbeat
# periods: a long evaluation or torch.compile between logged steps must not look dead.
HEARTBEAT_STALE_S = 600
_RUN_ID = re.compile(r"^[0-9A-Za-z._-]+$")
_PID_START_TOLERANCE_S = 1.0  # create_time is read back from /proc; allow its rounding


class WriteFailed(UserError):
    """A file could not be written (full disk, permissions); the old file is untouched."""


class Owner(TypedDict):
    host: str            # socket.gethostname() of the process running the attempt
    pid: int             # its process id
    pid_started: float   # its create_time (epoch s): tells a reused pid from the owner
    heartbeat: str       # UTC ISO time the owner last said it was alive


class RunRecord(TypedDict, total=False):
    """Every field of a record. Fields after ``resumed_from`` are optional (older records lack them)."""
    schema_version: int          # SCHEMA_VERSION
    run_id: str                  # folder name under the runs dir: [0-9A-Za-z._-]+
    kind: str                    # "train", "eval" or "sweep"
    status: str                  # running / success / failed / diverged / interrupted (lost: derived)
    error: Optional[str]         # one line: why the run did not succeed
    model: str                   # model name, as the plugin declares it
    model_title: str             # display name for reports
    plugin: dict                 # {"name", "version"} of the plugin distribution
    profile: str                 # profile name
    config: dict                 # the fully resolved config
    overrides: dict              # what --set changed, for the eye
    cards: int                   # cards (or CPU workers) asked for
    world_size: int              # processes in the job
    device: str                  # "cuda" or "cpu"
    seed: int                    # the run's seed
    data_root: Optional[str]     # absolute --data-root: --resume finds the data again
    data: Optional[dict]         # DataIdentity.as_dict(): real or synthetic, name, protocol
    env: Optional[dict]          # modelzoo.measure.env.capture(): host, cards, driver, SDK, torch, git
    metrics: dict                # fps, fps_per_card, compute_fps, the model's metric keys...
    metric_columns: list[dict]   # MetricColumn fields, so reports need no plugin
    curves: dict                 # {"roc": {"fpr", "tpr"}, "throughput": {"step", "fps"}}
    started: str                 # UTC ISO time the run began
    finished: Optional[str]      # UTC ISO time it ended (any final status)
    duration_s: Optional[float]  # seconds spent running, summed over attempts (see mark_finished)
    log: Optional[str]           # path of train.log
    checkpoint: Optional[str]    # path of checkpoint.pt
    resumed_from: Optional[list[str]]  # UTC ISO time of each --resume
    owner: Owner                 # the process running the current attempt (liveness)
    warnings: list[str]          # one line each, e.g. a declared metric the evaluation did not return
    throughput_unit: Optional[str]     # unit of fps, e.g. "images/s"
    curve_specs: list[dict]      # CurveSpec.as_dict() each: {name, x, y, title, x_label, y_label, ...}
    sweep_id: Optional[str]      # the sweep this run belongs to
    members: list[dict]          # sweep summary: [{run_id, value, status, metrics}]
    sweep: dict                  # sweep summary: {"key", "values"}
    weights: Optional[str]       # eval: absolute path of the scored weights
    release: Optional[str]       # the zoo release the run validates, e.g. "23.09"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _parse_time(text) -> Optional[_dt.datetime]:
    try:
        stamp = _dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=_dt.timezone.utc)


# --- Run ids --------------------------------------------------------------------------

def valid_run_id(run_id) -> bool:
    """A plain folder name: letters, digits, '.', '_', '-'; not '.' or '..'."""
    return isinstance(run_id, str) and bool(_RUN_ID.match(run_id)) and run_id not in (".", "..")


def _check_run_id(run_id) -> None:
    if not valid_run_id(run_id):
        raise UserError(f"invalid run id {run_id!r}: a run id is a folder name of letters, digits, "
                        "'.', '_' and '-'; use one such as the ids 'modelzoo run' makes")


def new_run_id(model: str, profile: str, cards: int, kind: str = "train") -> str:
    """``20261127T181500Z-facenet-demo-c1-3fa2``: sortable by time, readable, unique."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    tag = "eval" if kind == "eval" else f"c{cards}"
    return f"{stamp}-{_plain(model)}-{_plain(profile)}-{tag}-{secrets.token_hex(2)}"


def _plain(name: str) -> str:
    """A zoo.yaml profile name may hold '/' or spaces; a run id may not."""
    return re.sub(r"[^0-9A-Za-z._-]", "_", name)


# --- Lifecycle ------------------------------------------------------------------------

# run_id -> (attempt start as written in the record, time.monotonic() then, earlier attempts' seconds)
_ATTEMPTS: dict[str, tuple[str, float, float]] = {}


def _owner() -> Owner:
    import psutil  # lazily: `modelzoo list` need not pay for it

    return {"host": socket.gethostname(), "pid": os.getpid(),
            "pid_started": psutil.Process().create_time(), "heartbeat": utc_now()}


def owned_here(record: dict) -> bool:
    """Is this process the record's owner (the one that started its current attempt)?"""
    owner = record.get("owner")
    return isinstance(owner, dict) and owner.get("host") == socket.gethostname() and owner.get("pid") == os.getpid()


def _attempt_start(record: dict) -> str:
    resumed = record.get("resumed_from") or []
    return resumed[-1] if resumed else record.get("started")


def _start_clock(record: dict) -> None:
    _ATTEMPTS[record["run_id"]] = (_attempt_start(record), time.monotonic(), record.get("duration_s") or 0.0)


def new_record(*, run_id: str, kind: str, model: str, model_title: str, plugin: dict,
               profile: str, config: dict, overrides: dict, cards: int, world_size: int,
               device: str, seed: int, metric_columns: list[dict], log: Optional[str],
               data_root: Optional[str] = None, throughput_unit: Optional[str] = None,
               curve_specs: Optional[list[dict]] = None, sweep_id: Optional[str] = None,
               weights: Optional[str] = None) -> RunRecord:
    """A record for a run that is starting (status ``running``, owned by this process)."""
    record: RunRecord = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "kind": kind, "status": "running",
        "error": None, "model": model, "model_title": model_title, "plugin": plugin,
        "profile": profile, "config": config, "overrides": overrides, "cards": cards,
        "world_size": world_size, "device": device, "seed": seed, "data_root": data_root,
        "data": None, "env": None, "metrics": {}, "metric_columns": metric_columns, "curves": {},
        "started": utc_now(), "finished": None, "duration_s": None, "log": log, "checkpoint": None,
        "resumed_from": None, "owner": _owner(), "warnings": [], "throughput_unit": throughput_unit,
        "curve_specs": list(curve_specs or []), "sweep_id": sweep_id, "weights": weights,
    }
    _start_clock(record)
    return record


def mark_running(record: dict, *, resume: bool = False) -> dict:
    """This process now runs ``record``: status running, no error, owner and clock refreshed.

    ``resume=True`` (``--resume``) also appends the time to ``resumed_from``; the worker
    that then takes the attempt over calls it again without ``resume``.
    """
    if resume:
        record["resumed_from"] = list(record.get("resumed_from") or []) + [utc_now()]
    record.update(status="running", error=None, owner=_owner())
    _start_clock(record)
    return record


def heartbeat_due(record: dict, every_s: float = HEARTBEAT_EVERY_S, now: Optional[_dt.datetime] = None) -> bool:
    """Is the owner's last heartbeat older than ``every_s``? (The trainer's throttle.)"""
    beat = _parse_time((record.get("owner") or {}).get("heartbeat"))
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return beat is None or (now - beat).total_seconds() >= every_s


def heartbeat(record: dict) -> dict:
    """Say the owner is alive; the caller saves the record."""
    owner = record.get("owner") if isinstance(record.get("owner"), dict) else None
    if owner is None:
        record["owner"] = owner = _owner()
    owner["heartbeat"] = utc_now()
    return record


def mark_finished(record: dict, status: str, error: Optional[str] = None) -> dict:
    """End the current attempt with ``status``; sets ``error``, ``finished`` and ``duration_s``.

    ``duration_s`` is the time spent running summed over attempts. The process that
    started the attempt (``new_record`` / ``mark_running``) measures it on the monotonic
    clock; any other process (a launcher recording a dead worker, a sweep summary whose
    ``started`` is its first member's) takes it from the UTC timestamps, to the second.
    An attempt that was lost (killed) recorded no duration and adds nothing.
    """
    if status not in FINAL:
        raise ValueError(f"{status!r} is not a final status; use one of {', '.join(FINAL)}")
    finished = utc_now()
    attempt = _ATTEMPTS.get(record.get("run_id"))
    if attempt and attempt[0] == _attempt_start(record):
        duration = attempt[2] + time.monotonic() - attempt[1]
    else:
        begun = _parse_time(_attempt_start(record))
        earlier = (record.get("duration_s") or 0.0) if record.get("status") == "running" else 0.0
        duration = earlier + ((_parse_time(finished) - begun).total_seconds() if begun else 0.0)
    record.update(status=status, error=error, finished=finished, duration_s=round(max(duration, 0.0), 3))
    return record


def mark_failed(record: dict, exc: BaseException) -> dict:
    """End the attempt because ``exc`` was raised: Ctrl-C is ``interrupted``, anything else ``failed``.

    Whether ``--resume`` can continue depends on a checkpoint only the caller knows of,
    so the caller adds that hint.
    """
    if isinstance(exc, KeyboardInterrupt):  # the trainer's carries the signal's name ("stopped by SIGTERM")
        return mark_finished(record, "interrupted", str(exc) or "stopped by Ctrl-C")
    if isinstance(exc, UserError) or getattr(exc, "names_itself", False):  # e.g. a PluginError
        return mark_finished(record, "failed", str(exc))
    text = str(exc)
    return mark_finished(record, "failed", f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


# --- Liveness -------------------------------------------------------------------------

def effective_status(record: dict, now: Optional[_dt.datetime] = None) -> str:
    """The stored status, except ``lost`` for a ``running`` record whose owner is gone.

    On the owner's host: lost when its pid no longer exists, is a zombie, or belongs to a
    younger process (pid reuse). On another host: lost when the heartbeat is older than
    ``HEARTBEAT_STALE_S``. A record without an owner (written before owners existed)
    has unknown liveness and stays ``running``.
    """
    status = record.get("status")
    owner = record.get("owner")
    if status != "running" or not isinstance(owner, dict):
        return status
    if owner.get("host") == socket.gethostname():
        return "running" if _process_alive(owner) else "lost"
    beat = _parse_time(owner.get("heartbeat"))
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if beat is None or (now - beat).total_seconds() > HEARTBEAT_STALE_S:
        return "lost"
    return "running"


def _process_alive(owner: dict) -> bool:
    import psutil

    try:
        process = psutil.Process(int(owner.get("pid")))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(process.create_time() - float(owner.get("pid_started"))) <= _PID_START_TOLERANCE_S
    except psutil.AccessDenied:  # someone else's live process: it exists
        return True
    except (psutil.NoSuchProcess, TypeError, ValueError):
        return False


def check_resumable(record: dict) -> None:
    """Raise unless ``--resume`` may continue ``record``: interrupted, failed, lost, or
    running without an owner (a record older than owners: its liveness is unknown)."""
    status = effective_status(record)
    owner = record.get("owner")
    if status == "running" and isinstance(owner, dict):
        raise UserError(f"run {record.get('run_id')} is still running (pid {owner.get('pid')} on "
                        f"{owner.get('host')}); wait for it to end or stop that process before --resume")
    if status in ("success", "diverged"):
        raise UserError(f"run {record.get('run_id')} already finished ({status}); "
                        "start a new run instead of --resume")


# --- Writing --------------------------------------------------------------------------

def _file_mode() -> int:
    """``0o666 & ~umask``: what open() would give, read without changing the umask when possible."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_failed(path: Path, exc: OSError) -> WriteFailed:
    """The one-line error for an OSError while writing ``path`` (a full disk says so)."""
    if exc.errno == errno.ENOSPC:
        return WriteFailed(f"no space left on device: {path}; free space there and run again")
    reason = exc.strerror or str(exc)
    return WriteFailed(f"cannot write {path}: {reason}; check the folder exists, is writable and has space")


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; file systems that cannot sync a folder are let be."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def not_regular(path: Path) -> Optional[str]:
    """What ``path`` is when it exists and is not a regular file ("a character device",
    "a symbolic link"...), without following a link; None for a regular file or nothing."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise write_failed(Path(path), exc) from None
    return next((kind for test, kind in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "a special file")


def check_replaceable(path: Path, option: str = "") -> None:
    """WriteFailed unless writing ``path`` replaces a regular file or nothing: an atomic
    rename would swap a device node (``/dev/full``), a link or a pipe for a plain file. One
    rule for every write, ``--force`` or not."""
    kind = not_regular(path)
    if kind is not None:
        where = f"{option} " if option else ""
        raise WriteFailed(f"refusing to replace {where}{path}: it is {kind}, not a regular file; "
                          f"write to a new file{' with another ' + option if option else ''}")


def check_run_folder(run_dir: Path) -> None:
    """UserError when a run folder is a symbolic link: its writes would land outside the
    runs folder (wherever the link points)."""
    if Path(run_dir).is_symlink():
        raise UserError(f"run folder {run_dir} is a symbolic link (to {os.readlink(run_dir)}); a run folder must "
                        "be a real folder inside the runs folder: move the run there or remove the link")


class StagedFile:
    """A new file beside ``path`` that replaces it only at :meth:`commit`: readers see the old
    file or the new one, never half, and the new one survives a power cut (file and folder
    are fsynced). Made at once (a private temporary name), filled by :meth:`write` or through
    :attr:`file`; :meth:`discard` removes it unless committed. A forked child can fill it (the
    open file is inherited) while the parent keeps the right to commit or discard."""

    def __init__(self, path: Path):
        self.path = Path(path)
        check_replaceable(self.path)
        try:
            fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        except OSError as exc:
            raise write_failed(self.path, exc) from exc
        self.file: BinaryIO = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        """The file's whole content (again, if it was written before), on disk when this returns."""
        try:
            self.file.seek(0)
            self.file.truncate()
            self.file.write(data)
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as exc:
            raise write_failed(self.path, exc) from exc

    def commit(self) -> None:
        """Move the file onto ``path``."""
        try:
            self.file.flush()
            os.fchmod(self.file.fileno(), _file_mode())  # mkstemp makes 0600; one rule for every file
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self._tmp, self.path)
            self._tmp = None
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise write_failed(self.path, exc) from exc

    def discard(self) -> None:
        """Remove the file unless it was committed (nothing happens then)."""
        with contextlib.suppress(OSError):
            self.file.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file whose content replaces ``path`` only when the block ends without error
    (a :class:`StagedFile`). Use it for checkpoints: ``torch.save(state, handle)``."""
    staged = StagedFile(path)
    try:
        try:
            yield staged.file
        except OSError as exc:  # the writer's own write failed (a full disk)
            raise write_failed(staged.path, exc) from exc
        staged.commit()
    finally:
        staged.discard()


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (str as UTF-8, or bytes) to ``path`` atomically and durably; see :func:`atomic_writer`."""
    with atomic_writer(path) as handle:
        handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))


def save(record: dict, runs_dir: Path) -> Path:
    _check_run_id(record.get("run_id"))
    path = Path(runs_dir) / record["run_id"] / RECORD_FILE
    check_run_folder(path.parent)
    text = json.dumps(record, indent=2, sort_keys=False, default=_jsonable) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_failed(path, exc) from exc
    write_atomic(path, text)
    return path


def _jsonable(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


# --- Reading --------------------------------------------------------------------------

_FIX = "remove it or restore it from a backup"


def load(path: Path) -> dict:
    """The record at ``path`` (a run folder or its record.json), checked; UserError if unusable."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_FILE
    check_run_folder(path.parent)  # read as it is written: never through a link out of the runs folder
    if path.is_symlink():
        raise UserError(f"run record {path} is a symbolic link; {_FIX}")
    try:
        record = safe_load.json_file(path)
    except FileNotFoundError:
        raise UserError(f"no run record at {path}; list runs with 'modelzoo report --format json'") from None
    except OSError as exc:
        raise UserError(f"cannot read run record {path}: {exc.strerror or exc}; check its permissions") from None
    except safe_load.UnreadableData as exc:
        raise UserError(f"run record {path} {exc}; {_FIX}") from None
    _check_shape(record, path)
    return record


def _check_shape(record, path: os.PathLike | str) -> None:
    if not isinstance(record, dict):
        raise UserError(f"run record {path} is not a JSON object (found {type(record).__name__}); {_FIX}")
    if record.get("schema_version") != SCHEMA_VERSION:
        raise UserError(f"run record {path} has schema_version {record.get('schema_version')!r}, "
                        f"this modelzoo reads {SCHEMA_VERSION}; re-run or upgrade modelzoo")
    for key in ("run_id", "status"):
        if not isinstance(record.get(key), str):
            raise UserError(f"run record {path} has no {key} (a string); {_FIX}")
    if not isinstance(record.get("metrics", {}), dict):
        raise UserError(f"run record {path}: metrics is not a mapping; {_FIX}")
    columns = record.get("metric_columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        raise UserError(f"run record {path}: metric_columns is not a list of mappings; {_FIX}")
    if not valid_run_id(record["run_id"]):
        raise UserError(f"run record {path} has an invalid run id {record['run_id']!r}; {_FIX}")
    folder = os.path.basename(os.path.dirname(os.fspath(path)))  # a str path too (the run index's)
    if record["run_id"] != folder:
        raise UserError(f"run record {path} says run_id '{record['run_id']}' but lives in folder "
                        f"'{folder}'; rename the folder to '{record['run_id']}' or remove it")


def check_loaded(record, path: os.PathLike | str) -> None:
    """The checks :func:`load` makes on a parsed record (``path``: its record.json); UserError
    naming the problem. For a copy of a record read from elsewhere, such as the run index."""
    _check_shape(record, path)


def find(runs_dir: Path, run_id: str) -> dict:
    """The record of ``run_id`` (a unique prefix is enough)."""
    if not valid_run_id(run_id):
        raise UserError(f"{run_id!r} is not a run id: give a folder name under the runs directory "
                        "(letters, digits, '.', '_', '-'), or a unique start of one")
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


def load_all_with_problems(runs_dir: Path, run_ids: Optional[Iterable[str]] = None
                           ) -> tuple[list[dict], list[str]]:
    """Records under ``runs_dir`` (all, or the given ids), oldest first, and one line per
    record skipped as unreadable. Explicitly named ids raise instead of being skipped."""
    if run_ids:
        return [find(runs_dir, run_id) for run_id in run_ids], []
    found, problems = [], []
    for path in _record_paths(Path(runs_dir)):
        try:
            found.append(load(path))
        except UserError as exc:
            problems.append(str(exc))
    return found, problems


def load_all(runs_dir: Path, run_ids: Optional[Iterable[str]] = None) -> list[dict]:
    """Like :func:`load_all_with_problems`, with one warning per skipped record."""
    found, problems = load_all_with_problems(runs_dir, run_ids)
    for problem in problems:
        warnings.warn(problem, stacklevel=2)
    return found
