"""Stop signals inside a training worker: a flag the loop's ranks agree on, an exception elsewhere.

Inside the loop (:meth:`LoopSignals.defer`) SIGTERM/SIGINT set a flag that every worker reads
at the next logged step (they must agree to stop, then checkpoint); in every other phase (data,
build, evaluation, compute-only timing) a signal raises :class:`Interrupted` at once. A second
Ctrl-C inside the loop aborts at once.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Optional

from modelzoo.toolkit.stopping import Stopped


class Interrupted(Stopped):
    """A stop signal outside the loop: the worker stops where it is."""


class LoopSignals:
    """SIGTERM/SIGINT: a flag inside the loop (``deferred``), an exception elsewhere."""

    def __init__(self):
        self.received: Optional[int] = None
        self.deferred = False
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. embedded use): leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if not self.deferred or (self.received is not None and signum == signal.SIGINT):
            self.received = signum
            raise Interrupted(signum)  # a second Ctrl-C aborts at once
        self.received = signum

    @contextlib.contextmanager
    def defer(self):
        self.deferred = True
        try:
            if self.received is not None:
                raise Interrupted(self.received, "stopped by a signal")
            yield
        finally:
            self.deferred = False

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
