"""One owner per run folder: an exclusive lock held for the whole run.

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
from pathlib import Path
from typing import Iterator

from modelzoo.api import UserError

LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock for the block; UserError naming the owner when taken."""
    path = Path(run_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise UserError(f"run {Path(run_dir).name} is in use by {owner}; wait for it to end "
                            "(or stop it) before running it again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
