"""How a job stops on SIGTERM or Ctrl-C (SIGINT), one rule for every verb and every worker pool.

- A stop signal becomes :class:`Stopped` (a ``KeyboardInterrupt`` that knows its signal), and
  the command exits ``128 + signal``: 130 for Ctrl-C, 143 for SIGTERM (:func:`exit_status`),
  as a shell reports a process the signal killed.
- A worker process (a pool's, or a run's rank) dies with its parent, even when the parent is
  killed with SIGKILL (:func:`die_with_parent`), so that nothing outlives the command and
  writes after it has ended.
- A pool's workers leave Ctrl-C to the parent (:func:`pool_worker_start`, and the workers are
  started with SIGINT and SIGTERM blocked: :func:`children_ignore_sigint`), which stops them
  (:func:`stop_pool`): SIGTERM, which ends a worker between tasks at once and inside a task
  after its cleanups (a temporary file) ran (:func:`pool_task`); SIGKILL for a worker that
  has not left within a few seconds.

No torch here: the CLI imports this module.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from typing import Optional

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
POOL_STOP_WAIT_S = 5.0  # a worker inside a task finishes its cleanups in well under this


_last_received: Optional[int] = None  # the latest stop signal this process saw (SignalWatch, raise_stopped)


class Stopped(KeyboardInterrupt):
    """A stop signal, raised where the job was; ``signum`` says which."""

    def __init__(self, signum: int = signal.SIGINT, message: Optional[str] = None):
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")
        self.signum = int(signum)


def last_received() -> Optional[int]:
    """The latest stop signal this process saw, whichever handler took it (None: none yet)."""
    return _last_received


def exit_status(exc: Optional[BaseException] = None, signum: Optional[int] = None) -> int:
    """The exit status of a command a stop signal ended: 128 + the signal (130 for Ctrl-C, 143
    for SIGTERM); Ctrl-C's when the signal is unknown (a bare KeyboardInterrupt)."""
    if signum is None:
        signum = getattr(exc, "signum", None) or signal.SIGINT
    return 128 + int(signum)


def raise_stopped(signum, frame) -> None:
    """A signal handler: the signal as :class:`Stopped`, wherever the main thread is."""
    global _last_received
    _last_received = signum
    raise Stopped(signum)


@contextlib.contextmanager
def stop_signals_raise(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Inside the block ``signals`` raise :class:`Stopped`; the previous handlers come back after.
    Off the main thread (embedded use) signals are left alone."""
    previous = {}
    try:
        for sig in signals:
            previous[sig] = signal.signal(sig, raise_stopped)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class SignalWatch:
    """Which stop signal reached this process, whichever handler took it (a trainer's, torch's
    launch agent's): Python writes every handled signal's number to the wakeup fd before its
    handler runs. Main thread only; elsewhere it sees nothing."""

    def __init__(self) -> None:
        self._read = self._write = None
        self._previous = -1
        self._seen: Optional[int] = None
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        try:
            self._previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            os.close(read_fd)
            os.close(write_fd)
            return
        self._read, self._write = read_fd, write_fd

    def received(self) -> Optional[int]:
        """The last stop signal seen so far (None: none)."""
        global _last_received
        if self._read is not None:
            with contextlib.suppress(BlockingIOError):
                while chunk := os.read(self._read, 4096):
                    for number in chunk:
                        if number in STOP_SIGNALS:
                            self._seen = _last_received = number
        return self._seen

    def close(self) -> None:
        if self._read is None:
            return
        self.received()
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(self._previous)
        os.close(self._read)
        os.close(self._write)
        self._read = self._write = None


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send ``sig`` to this process when its parent dies (PR_SET_PDEATHSIG); elsewhere
    nothing. A parent that died before the request means the signal now."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os.kill(os.getpid(), sig)


# --- Worker pools --------------------------------------------------------------------------

_in_task = False  # this worker is running a task: a SIGTERM raises there, so its cleanups run


def pool_worker_start() -> None:
    """The first call of a pool worker (its initializer): die with the parent, leave Ctrl-C to
    the parent, and take SIGTERM (the parent stopping the pool) as the order to leave."""
    die_with_parent(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_stop)
    # started inside children_ignore_sigint: SIGTERM was blocked (a stop or the parent's death
    # while it started is held until now, and taken here)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _worker_stop(signum, frame) -> None:
    if _in_task:
        raise Stopped(signum)
    os._exit(exit_status(signum=signum))  # idle, between tasks: nothing to clean up


@contextlib.contextmanager
def pool_task() -> Iterator[None]:
    """Around a pool task's body: a SIGTERM inside it raises :class:`Stopped` (the task's own
    cleanups run) and the worker then exits, instead of reporting the stop as the task's
    result and waiting for the next one."""
    global _in_task
    _in_task = True
    try:
        yield
    except Stopped as stop:
        os._exit(exit_status(stop))
    finally:
        _in_task = False


@contextlib.contextmanager
def children_ignore_sigint() -> Iterator[None]:
    """Start processes (a pool's submit) with SIGINT and SIGTERM blocked in this thread, a signal
    mask they inherit across exec. A Ctrl-C to the terminal's process group then reaches the
    parent alone, not a worker still importing its modules (which would print a traceback); a
    stop signal to the parent is held until the worker it is starting has its start-up data
    (stopped halfway, a spawned child prints EOFError), then raised here, never lost. A worker
    takes SIGTERM again in :func:`pool_worker_start`. Off the main thread, as is."""
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stop_pool(pool, wait_s: float = POOL_STOP_WAIT_S) -> None:
    """Stop a ``ProcessPoolExecutor`` now: no queued task starts, each worker gets SIGTERM, and one
    still alive after ``wait_s`` gets SIGKILL; returns once every worker has exited, so that
    nothing the pool does can land after the caller has moved on."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # the stdlib's table; shutdown clears it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.terminate()
    deadline = time.monotonic() + wait_s
    for process in workers:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
