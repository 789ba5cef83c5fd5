"""What every long job needs from its surroundings: a device, a writable folder, a progress line.

One home for these rules, used by the verbs (cli), the trainer and the plugins' jobs
(e.g. ``modelzoo prepare facenet``). No torch import at module level: the verbs that
never touch a model (``list``, ``report``) import the core without paying for torch.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Optional, TextIO

from modelzoo.contract.api import UserError

DEVICES = ("auto", "cuda", "cpu")


def choose_device(requested: str) -> str:
    """The device a job runs on: ``"cuda"`` or ``"cpu"``.

    ``"auto"`` takes the card when torch sees one, else the CPU. ``"cuda"`` without a
    visible card is a :class:`UserError` rather than a crash deep inside the first
    ``.to("cuda")``.
    """
    if requested not in DEVICES:  # an API caller's "tpu": refused, never written down as a fact
        raise UserError(f"device {requested!r} is not one of {', '.join(DEVICES)}; choose one of them")
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda but no CUDA card is visible; use --device cpu or check the driver")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def writable_dir(path: str | os.PathLike, what: str, option: str) -> Path:
    """Create ``path`` if needed and prove that a file can be written in it.

    Checked before a job starts, so that a read-only or mistyped folder fails at once
    with a one-line :class:`UserError` naming ``what`` it is (``"data root"``) and the
    ``option`` that chooses it (``"--data-root"``), not hours later at the first write.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".modelzoo-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to the {what} {path}: {exc.strerror or exc}; "
                        f"pass {option} DIR") from None
    return path


class ProgressLine:
    """Progress of a long job: one live line on a terminal, periodic plain lines otherwise.

    The caller formats the text (its own units: steps, images) and calls :meth:`show`
    as often as it likes; this class decides where and when it appears:

    - ``live`` (default) and ``stream`` (default stderr) is a terminal: the line is
      redrawn in place (``\\r``, rest of the line cleared) at most every ``redraw_s``
      seconds, and :meth:`close` leaves the last text on screen with a newline.
      ``live=False`` never draws (e.g. every rank but the first);
    - plain lines go to ``log`` at most every ``log_every_s`` seconds (0: every call) when
      nothing is drawn live, and also while drawing when ``log_when_live`` (a log file that
      must keep every line, as a training log, rather than a console that already shows
      the live line).
    """

    def __init__(self, log: Optional[Callable[[str], None]] = None, *, live: bool = True,
                 log_every_s: float = 30.0, log_when_live: bool = False, redraw_s: float = 0.2,
                 stream: Optional[TextIO] = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = live and self.stream.isatty()
        self.log = log
        self.log_every_s = log_every_s
        self.log_when_live = log_when_live
        self.redraw_s = redraw_s
        self.started = time.monotonic()
        self._last_drawn = self._last_logged = self.started
        self._text: Optional[str] = None

    @property
    def elapsed_s(self) -> float:
        """Seconds since the line was created (for the caller's rates and ETAs)."""
        return time.monotonic() - self.started

    def show(self, text: str) -> None:
        """Report ``text`` as the job's current state."""
        self._text = text
        now = time.monotonic()
        if self.live and now - self._last_drawn >= self.redraw_s:
            self._draw(text)
            self._last_drawn = now
        if self.log is not None and (not self.live or self.log_when_live) \
                and now - self._last_logged >= self.log_every_s:
            self.log(text)
            self._last_logged = now

    def close(self) -> None:
        """End the live line with the latest text (a throttled redraw may have skipped it)."""
        if self.live and self._text is not None:
            self._draw(self._text)
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, text: str) -> None:
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()


@contextlib.contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector off for the block, back as it was after (then it collects).

    For a batch that builds millions of acyclic objects at once (18,000 run records parsed from
    JSON, their report): each full collection scans them all, about a fifth of the report's time
    at 18,000 records. Reference counting still frees everything; only cycles wait for the end."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
