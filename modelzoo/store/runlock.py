"""One owner per run folder: an exclusive lock held for the whole run; one builder per data set.

Two ``--resume`` of one run at once would both train into one folder (one overwrites
the other's checkpoint). The launching process takes ``runs/<id>/.lock`` with
``fcntl.flock`` (released by the kernel when the process dies, so a killed run never
leaves a stale lock) and writes its pid and host into it, so a second owner is refused
with the first one named.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Optional

from modelzoo.contract.api import UserError
from modelzoo.store import records

LOCK_FILE = ".lock"


@contextlib.contextmanager
def exclusive_lock(path: Path, busy: str) -> Iterator[None]:
    """Hold an flock on ``path`` for the block, with this process's pid and host written in it.

    Taken already: UserError ``busy.format(owner=...)``. The kernel drops the lock with the
    descriptor, also when the process is killed, so no stale lock is ever left behind.
    """
    path = Path(path)
    fd = _open_lock_file(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise UserError(busy.format(owner=owner)) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        except OSError as exc:
            raise records.write_failed(path, exc) from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def build_lock(folder: Path, log: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Hold the build lock of ``folder`` (``.<name>.lock`` beside it) for the block, waiting
    for the process that holds it.

    For data that one process builds and others then read (a generated demo set in the
    shared cache): a second process waits, logging that it does, and should then look
    again for what the first one built instead of building it a second time.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_lock_file(folder.parent / f".{folder.name}.lock")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if log:
                log(f"waiting for another process that is generating {folder}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # e.g. a full disk at start: one line naming the file, like every write
        raise records.write_failed(path, exc) from None


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock for the block; UserError naming the owner when taken."""
    run_dir = Path(run_dir)
    busy = f"run {run_dir.name} is in use by {{owner}}; wait for it to end (or stop it) before running it again"
    with exclusive_lock(run_dir / LOCK_FILE, busy):
        _remove_stale_temps(run_dir)
        yield


def _remove_stale_temps(run_dir: Path) -> None:
    """Temp files of atomic writes whose writer died mid-write (kill -9): with the lock
    taken, this process is the folder's only writer, so none of them is in use."""
    for stale in run_dir.glob(".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
