"""One part of a batch run beside the parent in a forked child, on a second core.

A forked child sees the parent's memory as it was at the fork: no 18,000 records pickled
and sent. ``modelzoo report`` uses it to write results.json and results.csv while the parent
draws the HTML (:func:`modelzoo.report.render.render_reports`).

The rules:

- Fork only where it pays and is safe (:func:`can_fork`): a platform with ``os.fork``, two
  cores or more this process may run on, and one thread in the process (counted in
  /proc/self/task, native threads included). A fork beside other threads (torch's pools,
  in a script that trained first) can copy a lock another thread held, and the child would
  hang on it. Where it is not safe, the work runs inline: the same result on one core.
- The child exits through ``os._exit``: none of the parent's ``finally`` blocks, atexit
  hooks or buffered output run twice. It dies with the parent (:func:`die_with_parent`),
  and the parent kills and reaps it on every way out of the block (an error, Ctrl-C).
- The child's value comes back as JSON through a pipe. When the child fails in any way
  (an exception, a signal, a value that is not JSON), the work runs again inline in the
  parent: a bug then raises the parent's own exception, with its traceback under --debug.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

from modelzoo.toolkit.stopping import die_with_parent


def can_fork() -> bool:
    """True where a child pays: ``os.fork`` exists, this process may run on two cores or more,
    and forking it is safe (one thread runs)."""
    if not hasattr(os, "fork") or not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        return False  # (no affinity call, as on macOS: /proc is missing there too)
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc: the threads cannot be counted, so no fork
        return False


@contextlib.contextmanager
def beside(work: Callable[[], Any], fork: bool = True) -> Iterator[Callable[[], Any]]:
    """Start ``work`` (it returns a JSON value) in a forked child when ``fork`` and
    :func:`can_fork`; yield ``result()``, which waits for the child and returns the value
    (running ``work`` inline when there is no child or the child failed). Leaving the block
    any other way kills the child."""
    if not (fork and can_fork()):
        yield work
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(work, write_end)
    os.close(write_end)
    pipe = os.fdopen(read_end, "rb")
    reaped = False

    def result() -> Any:
        nonlocal reaped
        with pipe:
            payload = pipe.read()
        _, status = os.waitpid(pid, 0)
        reaped = True
        if os.waitstatus_to_exitcode(status) == 0:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return json.loads(payload)["value"]
        return work()

    try:
        yield result
    finally:
        pipe.close()  # closing twice is nothing; the descriptor is never closed by number
        if not reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _child(work: Callable[[], Any], write_end: int) -> None:
    status = 1
    try:
        die_with_parent(signal.SIGKILL)
        payload = json.dumps({"value": work()}).encode()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        status = 0
    except BaseException:  # noqa: BLE001 - any failure: the parent runs the work itself
        pass
    finally:
        os._exit(status)
