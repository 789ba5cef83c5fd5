"""Run an external command as a recipe: its own process group, output streamed, stopped for sure.

- The command starts in a new session (its own process group), stdin closed, stdout and
  stderr merged into one pipe that this process reads as it comes (``select``, in the
  calling thread, so a signal to modelzoo is handled at once).
- Output goes to ``train.log`` byte for byte up to ``log_limit_bytes``; past it the middle
  is dropped (a line says how much) and the last ``TAIL_BYTES`` are kept, so a script that
  prints 100 MB leaves a bounded log and bounded memory. Lines end at ``\\n`` or ``\\r``
  (tqdm redraws with ``\\r``) and are decoded as UTF-8 with replacement for the parser.
- :meth:`Command.stop` sends SIGTERM to the group, waits ``grace`` seconds, then SIGKILL.
  The run ends with the group killed and every descendant killed too: those seen in its tree
  during the run, and any process carrying the run's token (``$MODELZOO_RECIPE_TOKEN``, which
  every descendant inherits), so a daemon that left the group and the tree is found as well.
  Only one that also cleared its environment escapes; then reading stops ``grace`` + 2 s after
  the command ended (``Outcome.pipe_held``) rather than waiting on it forever.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Optional

TAIL_BYTES = 256 * 1024
MAX_LINE = 64 * 1024  # a line longer than this is cut for the parser (the log keeps it)
POLL_S = 0.25
TOKEN_ENV = "MODELZOO_RECIPE_TOKEN"  # marks the command's processes (see Command._living_descendants)


@dataclass
class Outcome:
    returncode: Optional[int]
    stopped: Optional[str] = None   # "timeout", "max_steps" or "signal": why modelzoo stopped it
    killed: bool = False            # SIGKILL was needed after the grace
    seconds: float = 0.0            # wall time from start to the group's end
    log_bytes: int = 0              # bytes the command printed (all of them, kept or not)
    dropped_bytes: int = 0          # bytes left out of train.log
    last_lines: list = field(default_factory=list)
    peak_rss_gb: Optional[float] = None  # the command's process tree, sampled
    cpu_s: Optional[float] = None   # user + system CPU seconds of the command and what it waited for
    pipe_held: bool = False         # an unseen process outside the group kept the output open


class LogSink:
    """train.log with a size cap: the head as printed, then a note, then the tail."""

    def __init__(self, handle: BinaryIO, limit: int):
        self.handle, self.limit = handle, limit
        self.written = self.total = 0
        self.tail: deque = deque()
        self.tail_size = 0

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - self.written
        if room > 0:
            self.handle.write(chunk[:room])
            self.handle.flush()
            self.written += min(room, len(chunk))
            chunk = chunk[room:]
        if chunk:
            self.tail.append(chunk)
            self.tail_size += len(chunk)
            while self.tail_size - len(self.tail[0]) >= TAIL_BYTES:
                self.tail_size -= len(self.tail.popleft())

    def close(self) -> int:
        """Write the kept tail; returns the bytes left out."""
        tail = b"".join(self.tail)[-TAIL_BYTES:]
        dropped = self.total - self.written - len(tail)
        if dropped > 0:
            self.handle.write(f"\n[modelzoo: {dropped} bytes of output left out here; the log keeps the first "
                              f"{self.written} and the last {len(tail)}]\n".encode())
        self.handle.write(tail)
        self.handle.flush()
        return max(dropped, 0)


class Command:
    """One command in its own process group; :meth:`run` streams it to the end."""

    def __init__(self, argv: list[str], cwd: Path, env: dict, log: BinaryIO, *, log_limit_bytes: int,
                 timeout: float = 0.0, grace: float = 10.0):
        self.token = secrets.token_hex(8)  # every descendant inherits it, whatever group it moves to
        self.argv, self.cwd, self.env = argv, cwd, {**env, TOKEN_ENV: self.token}
        self.sink = LogSink(log, log_limit_bytes)
        self.timeout, self.grace = timeout, grace
        self.proc: Optional[subprocess.Popen] = None
        self.stop_reason: Optional[str] = None
        self.killed = False
        self._descendants: dict[int, float] = {}  # pid -> create_time, seen during the run
        self._peak_rss = 0
        self._last_sample = 0.0
        self.cpu_s: Optional[float] = None
        self.pipe_held = False  # the output pipe stayed open after the group had ended

    def run(self, on_line: Callable[[str, float], None], on_tick: Callable[[], None] = lambda: None) -> Outcome:
        """Start, stream every line to ``on_line(text, arrival_time)``, call ``on_tick()`` at
        least every ``POLL_S`` seconds (whether or not the command prints), and end the group.

        A KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one) stops the group and is
        re-raised once nothing is left running."""
        started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        pending = b""
        fd = self.proc.stdout.fileno()
        leader_gone: Optional[float] = None
        try:
            while True:
                now = time.monotonic()
                if self.timeout and now - started > self.timeout and self.stop_reason is None:
                    self.stop("timeout")
                ready, _, _ = select.select([fd], [], [], POLL_S)
                self._watch()
                on_tick()
                if leader_gone is None and self._exited():
                    # the command has ended: what it left running goes too (what it printed stays
                    # readable in the pipe until the end of the output)
                    self._end_group()
                    leader_gone = time.monotonic()
                if not ready:
                    if leader_gone is not None and time.monotonic() - leader_gone > self.grace + 2:
                        # a process that left the group unseen still holds the pipe: stop reading
                        # rather than wait for it forever
                        self.pipe_held = True
                        break
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.sink.write(chunk)
                pending = self._lines(pending + chunk, on_line)
        except BaseException:
            self.stop("signal")
            raise
        finally:
            if pending:
                with contextlib.suppress(Exception):
                    on_line(pending[:MAX_LINE].decode("utf-8", "replace"), time.monotonic())
            self._end_group()
            self.proc.stdout.close()
            self._reap(block=True)
            returncode = self.proc.returncode
        dropped = self.sink.close()
        tail = b"".join(self.sink.tail)[-8192:] if self.sink.tail else self._log_tail()
        lines = [line for line in tail.decode("utf-8", "replace").replace("\r", "\n").splitlines() if line.strip()]
        return Outcome(returncode=returncode, stopped=self.stop_reason, killed=self.killed,
                       seconds=time.monotonic() - started, log_bytes=self.sink.total, dropped_bytes=dropped,
                       last_lines=lines[-5:], peak_rss_gb=round(self._peak_rss / 2**30, 3) if self._peak_rss else None,
                       cpu_s=round(self.cpu_s, 3) if self.cpu_s is not None else None, pipe_held=self.pipe_held)

    def _log_tail(self) -> bytes:
        handle = self.sink.handle
        with contextlib.suppress(OSError, ValueError):
            size = handle.seek(0, os.SEEK_END)
            path = Path(handle.name)
            with path.open("rb") as again:
                again.seek(max(0, size - 8192))
                return again.read()
        return b""

    @staticmethod
    def _lines(buffer: bytes, on_line: Callable[[str, float], None]) -> bytes:
        now = time.monotonic()
        parts = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        for part in parts[:-1]:
            on_line(part[:MAX_LINE].decode("utf-8", "replace"), now)
        rest = parts[-1]
        if len(rest) > MAX_LINE:  # a line with no end in sight: parse its start, drop the rest
            on_line(rest[:MAX_LINE].decode("utf-8", "replace"), now)
            return b""
        return rest

    def stop(self, reason: str) -> None:
        """SIGTERM to the group, SIGKILL after ``grace`` seconds if anything is left."""
        if self.proc is None:
            return
        if self.stop_reason is None:
            self.stop_reason = reason
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and self._alive():
            time.sleep(0.05)
        if self._alive():
            self.killed = True
            self._signal(signal.SIGKILL)

    def _reap(self, block: bool = False) -> bool:
        """Collect the leader's exit (and its CPU seconds) once it has ended; True when it has."""
        if self.proc.returncode is not None:
            return True
        try:
            pid, status, usage = os.wait4(self.proc.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # collected elsewhere: the exit status is Popen's to tell
            self.proc.poll()
            return True
        if pid == 0:
            return False
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_s = usage.ru_utime + usage.ru_stime
        return True

    def _exited(self) -> bool:
        return self._reap(block=False)

    def _end_group(self) -> None:
        """Nothing of the command may outlive it: what is left gets SIGTERM, then SIGKILL."""
        if self._alive():
            self._signal(signal.SIGTERM)
            deadline = time.monotonic() + min(self.grace, 5.0)
            while time.monotonic() < deadline and self._alive():
                time.sleep(0.05)
        if self._alive():
            self._signal(signal.SIGKILL)
            time.sleep(0.05)
        deadline = time.monotonic() + 5
        while not self._exited() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
        for process in self._living_descendants():
            with contextlib.suppress(Exception):
                process.send_signal(sig)

    def _alive(self) -> bool:
        if not self._exited():
            return True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 0)
            return self._group_has_living()
        return bool(self._living_descendants())

    def _group_has_living(self) -> bool:
        import psutil

        for process in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error):
                if os.getpgid(process.pid) == self.proc.pid and process.status() != psutil.STATUS_ZOMBIE:
                    return True
        return bool(self._living_descendants())

    def _living_descendants(self) -> list:
        """The command's living processes outside its group's reach: those seen in its tree, and
        any carrying its token in the environment (a daemon that left tree and group unseen)."""
        import psutil

        living = {}
        for pid, created in list(self._descendants.items()):
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if abs(process.create_time() - created) < 1.0 and process.status() != psutil.STATUS_ZOMBIE:
                    living[pid] = process
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.pid not in living and process.pid != os.getpid() \
                        and process.environ().get(TOKEN_ENV) == self.token and process.status() != psutil.STATUS_ZOMBIE:
                    living[process.pid] = process
        return list(living.values())

    def _watch(self) -> None:
        """Note the command's descendants (to kill them at the end) and its tree's resident memory."""
        now = time.monotonic()
        if now - self._last_sample < 1.0 or self.proc.returncode is not None:
            return
        self._last_sample = now
        import psutil

        with contextlib.suppress(psutil.Error):
            leader = psutil.Process(self.proc.pid)
            tree = [leader, *leader.children(recursive=True)]
            rss = 0
            for process in tree:
                with contextlib.suppress(psutil.Error):
                    self._descendants.setdefault(process.pid, process.create_time())
                    rss += process.memory_info().rss
            self._peak_rss = max(self._peak_rss, rss)
