"""Power readers, one backend per device: ``reader() -> {card: Reading}`` (issue 14).

    reader, reason = open_reader("cuda", cards=visible_cards(local_world_size))
    values = reader()        # {card: Reading(watts=..., energy_j=..., wrap_j=..., reason=...)}
    reader.close()

:func:`open_reader` picks the first backend that works on the device and keeps the
reasons of those that did not; :class:`modelzoo.measure.power.PowerSampler` calls the reader on
its thread and turns the readings into figures.

- ``nvml`` (NVIDIA): ``pynvml`` from the nvidia-ml-py package. Power from
  ``nvmlDeviceGetPowerUsage`` (mW; on Ampere and newer, except the A100, the driver's
  1-second average, so the peak is a peak of 1 s averages); energy from the card's own
  counter ``nvmlDeviceGetTotalEnergyConsumption`` (mJ, Volta and newer) where it answers,
  else the power readings integrated. A reading costs tens of microseconds.
- ``ixsmi`` (Iluvatar; first on a host that has ``ixsmi``): the vendor tool's
  ``--query-gpu=index,power.draw --format=csv,noheader,nounits``, which mirrors nvidia-smi,
  run with an argument list (no shell). Two modes, named in the source ("ixsmi stream",
  "ixsmi query"):

  - ``stream`` (:class:`SmiStreamReader`, tried first): the tool started once in its own
    loop mode (``-lms 250``, else ``--loop-ms=250``), printing one CSV block per interval
    until it is stopped; a thread parses the rows as they come and a reading returns each
    card's latest row (a row older than ``SMI_STALE_INTERVALS`` intervals, 1 s at least, is
    a missing reading; no fresh row at all is a failed reading). When the tool rejects the
    option, exits before its second block, or prints nothing parseable within
    ``SMI_TIMEOUT_S``, the next backend is the query mode (the reason is kept: "tried
    first: ixsmi loop mode ..."); when it exits during a run, the reader switches to
    per-query readings and the report's reason says when. ``close()`` stops the tool and
    what it started (its own session: SIGTERM, then SIGKILL after 0.5 s) and reaps it; a
    reader never closed is stopped at interpreter exit, and a tool whose parent died
    outright (``os._exit``, SIGKILL) dies on its next write to the closed pipe (SIGPIPE).
  - ``query`` (:class:`SmiCsvReader`): one process per reading, with a timeout. At 4 Hz,
    four short processes a second, a few ms of one host core each.

  ``nvidia-smi`` is the same backend, used on an NVIDIA host without pynvml.
- ``rapl`` (the CPU): the package domains' ``energy_uj`` counters under
  ``/sys/class/powercap/intel-rapl:N`` (AMD Zen exposes them there too), with wrap-around at
  ``max_energy_range_uj``. They count the whole socket, other tenants included, and are
  root-only since Linux 5.10 (an unprivileged run reports them missing with that reason).
  ``per_card`` then lists CPU packages.

A backend that cannot read here raises :class:`BackendUnavailable` with the reason the
report will carry ("no NVML: pynvml not installed ...", "RAPL not readable: permission
denied ..."); a missing reading is a :class:`Reading` of ``None`` values with a reason,
never 0.

No torch import: the backends talk to the driver or the kernel directly.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

Card = Union[int, str]  # an index as the driver tool numbers cards, or an NVIDIA UUID ("GPU-...")
RAPL_ROOT = Path("/sys/class/powercap")
SMI_TIMEOUT_S = 5.0  # nvidia-smi can take a second or more when the driver is not persistent
SMI_QUERY = ["--query-gpu=index,power.draw", "--format=csv,noheader,nounits"]
SMI_LOOP_MS = 250  # the stream's interval: the sampler's default 4 Hz
SMI_STALE_INTERVALS = 4  # a stream row older than this many intervals (and 1 s) is not a reading


@dataclass(frozen=True)
class Reading:
    """One card's values at one instant; both ``None`` means missing, and ``reason`` says why."""

    watts: Optional[float] = None  # power now (or the driver's short average)
    energy_j: Optional[float] = None  # a cumulative energy counter, in joules
    wrap_j: Optional[float] = None  # the counter restarts from 0 after this many joules
    reason: Optional[str] = None


Reader = Callable[[], dict]  # () -> {card: Reading}; may raise, which the sampler records as missing


class BackendUnavailable(RuntimeError):
    """This backend cannot read power here; the message is the reason the report will carry."""


class NvmlReader:
    """NVIDIA cards through NVML (pynvml). ``cards``: NVML indices or UUIDs; ``None`` = all."""

    source = "nvml"

    def __init__(self, cards: Optional[list] = None):
        try:
            import pynvml
        except ImportError as exc:
            raise BackendUnavailable("no NVML: pynvml not installed (package nvidia-ml-py)") from exc
        self._nvml = pynvml
        card = None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            raise BackendUnavailable(f"no NVML: {exc}") from exc
        try:
            if cards is None:
                cards = list(range(pynvml.nvmlDeviceGetCount()))
            self._handles: dict[Card, object] = {}
            for card in cards:
                if isinstance(card, str):
                    handle = pynvml.nvmlDeviceGetHandleByUUID(card.encode())  # bytes: old and new pynvml
                    self._handles[pynvml.nvmlDeviceGetIndex(handle)] = handle
                else:
                    self._handles[int(card)] = pynvml.nvmlDeviceGetHandleByIndex(int(card))
        except pynvml.NVMLError as exc:
            self.close()
            raise BackendUnavailable(f"no NVML: card {card}: {exc}" if card is not None else f"no NVML: {exc}") from exc
        self.cards = list(self._handles)
        self._counter: dict[Card, bool] = {}
        for card, handle in self._handles.items():
            try:
                pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                self._counter[card] = True
            except pynvml.NVMLError:  # before Volta: integrate the power readings instead
                self._counter[card] = False

    def __call__(self) -> dict:
        nvml = self._nvml
        out = {}
        for card, handle in self._handles.items():
            watts = energy = None
            reasons = []
            try:
                watts = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
            except nvml.NVMLError as exc:
                reasons.append(f"power: {exc}")
            if self._counter[card]:
                try:
                    energy = nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
                except nvml.NVMLError as exc:
                    reasons.append(f"energy: {exc}")
            missing = watts is None and energy is None
            out[card] = Reading(watts=watts, energy_j=energy, reason=("; ".join(reasons) or None) if missing else None)
        return out

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down after a failed init must not raise
            pass


def run_tool(argv: list[str], timeout: float) -> str:
    """stdout of a driver tool; no shell; a failure raises with the tool's own words."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(f"{Path(argv[0]).name} exited {done.returncode}: {said[0] if said else 'no output'}")
    return done.stdout


_NUMBER = re.compile(r"^([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(?:W|w|Watts?)?$")


def _parse_watts(text: str, tool: str) -> Reading:
    match = _NUMBER.match(text.strip())
    if match:
        value = float(match.group(1))
        if math.isfinite(value) and value >= 0:
            return Reading(watts=value)
    return Reading(reason=f"{tool} printed {text.strip()!r}")


def parse_smi_csv(text: str, tool: str = "ixsmi") -> dict:
    """``{index: Reading}`` from ``--query-gpu=index,power.draw --format=csv[,noheader][,nounits]``.

    With or without the header line (``index, power.draw [W]``), with or without the unit
    (``71.23 W``); ``[N/A]``, ``[Not Supported]`` and other words become missing readings
    that quote them. Lines that do not start with a card index (warnings) are skipped.
    """
    index_col, power_col = 0, 1
    out: dict = {}
    for row in csv.reader(io.StringIO(text), skipinitialspace=True):
        cells = [cell.strip() for cell in row]
        if not cells or not cells[0]:
            continue
        try:
            index = int(cells[index_col])
        except ValueError:
            lower = [cell.lower() for cell in cells]
            if any(cell.startswith("index") for cell in lower):  # the header names the columns
                index_col = next(i for i, cell in enumerate(lower) if cell.startswith("index"))
                power_col = next((i for i, cell in enumerate(lower) if cell.startswith("power.draw")), power_col)
            continue
        out[index] = (_parse_watts(cells[power_col], tool) if power_col < len(cells)
                      else Reading(reason=f"{tool} printed no power.draw column"))
    return out


class SmiCsvReader:
    """``ixsmi`` (Iluvatar) or ``nvidia-smi``: one CSV query per reading. ``cards``: indices; ``None`` = all."""

    mode = "query"

    def __init__(self, tool: str = "ixsmi", cards: Optional[list] = None,
                 runner: Optional[Callable[[list, float], str]] = None, timeout: float = SMI_TIMEOUT_S):
        self.tool = Path(tool).name  # a path names the tool by its file name
        self.source = f"{self.tool} query"
        path = tool if runner is not None else shutil.which(tool)
        if path is None:
            raise BackendUnavailable(f"no {self.tool}: not on PATH")
        _check_indices(self.tool, cards)
        self._argv = [path, *SMI_QUERY]
        self._runner = runner or run_tool
        self._timeout = timeout
        try:
            first = parse_smi_csv(self._runner(self._argv, timeout), self.tool)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            raise BackendUnavailable(f"{self.tool} failed: {exc}") from exc
        if not first:
            raise BackendUnavailable(f"{self.tool} printed no card rows")
        self.cards = list(cards) if cards is not None else sorted(first)

    def __call__(self) -> dict:
        rows = parse_smi_csv(self._runner(self._argv, self._timeout), self.tool)
        return {card: rows.get(card, Reading(reason=f"{self.tool} printed no row for card {card}"))
                for card in self.cards}

    def close(self) -> None:
        pass


def _check_indices(tool: str, cards: Optional[list]) -> None:
    bad = [card for card in (cards or []) if not isinstance(card, int)]
    if bad:
        raise BackendUnavailable(f"{tool} numbers cards by index, not {bad[0]!r}")


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _end_group(proc: subprocess.Popen, grace_s: float = 0.5) -> None:
    """Stop a loop-mode tool and whatever it started (its own session), and reap it."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    # A wrapper script's child may outlive it; the group id is not reused while it has members.
    _signal_group(proc.pid, signal.SIGKILL)


class _LoopProcess:
    """One loop-mode process and the daemon thread that parses its rows as they come."""

    def __init__(self, argv: list, tool: str, clock: Callable[[], float]):
        self.tool, self._clock = tool, clock
        self.cond = threading.Condition()
        self.latest: dict = {}  # card -> (arrival time, Reading)
        self.first_block: list = []
        self.blocks = 0  # a row whose index is not above the one before starts a block
        self._last_index: Optional[int] = None
        self.said: deque = deque(maxlen=3)  # the last lines that were not rows: the tool's own words
        self.ended = False
        self.cpu_s = 0.0  # the parsing thread's CPU time, once it has ended
        self.started = clock()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace",
                                     start_new_session=True)
        self.close = weakref.finalize(self, _end_group, self.proc)  # also at interpreter exit
        self.thread = threading.Thread(target=self._pump, name="modelzoo-power-smi", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        cpu0 = time.thread_time()
        stdout = self.proc.stdout
        try:
            for line in stdout:
                rows = parse_smi_csv(line, self.tool)
                now = self._clock()
                with self.cond:
                    for index, reading in rows.items():
                        if self._last_index is None or index <= self._last_index:
                            self.blocks += 1
                        self._last_index = index
                        if self.blocks == 1:
                            self.first_block.append(index)
                        self.latest[index] = (now, reading)
                    if not rows and line.strip():
                        self.said.append(line.strip()[:200])
                    self.cond.notify_all()
        except (OSError, ValueError):  # the pipe went away under us
            pass
        finally:
            with contextlib.suppress(OSError):
                stdout.close()
            with self.cond:
                self.cpu_s = time.thread_time() - cpu0
                self.ended = True
                self.cond.notify_all()

    def outcome(self) -> str:
        """How the process ended, in the tool's words: "exited 2: unknown option" (waits 1 s at most)."""
        try:
            code = self.proc.wait(1.0)
        except subprocess.TimeoutExpired:
            code = None
        said = self.said[-1] if self.said else "no other output"
        return f"{self.tool} {'closed its output' if code is None else f'exited {code}'}: {said}"

    def wait_first_block(self, timeout: float) -> tuple:
        """``(None, False)`` once a second block has begun (the first one is whole, and the
        tool loops); else ``(why, rejected)``, ``rejected`` when the tool exited non-zero
        without printing a row (it refused the option)."""
        with self.cond:
            self.cond.wait_for(lambda: self.blocks >= 2 or self.ended, timeout)
            blocks, ended = self.blocks, self.ended
        if blocks >= 2:
            return None, False
        if not ended:
            return f"no parseable block within {timeout:g} s", False
        why = self.outcome()
        return f"{why} after {blocks} block(s)", blocks == 0 and self.proc.returncode not in (0, None)


class SmiStreamReader:
    """``ixsmi`` or ``nvidia-smi`` in its own loop mode: one process for the whole run, a
    thread parsing its rows; a reading is each card's latest row. ``cards``: indices; ``None`` = all.

    Raises :class:`BackendUnavailable` (the caller falls back to :class:`SmiCsvReader`) when
    the tool rejects both spellings of the option, exits before its second block, or prints
    no parseable block within ``timeout``.
    """

    mode = "stream"

    def __init__(self, tool: str = "ixsmi", cards: Optional[list] = None, loop_ms: int = SMI_LOOP_MS,
                 timeout: Optional[float] = None, stale_s: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic):
        timeout = SMI_TIMEOUT_S if timeout is None else timeout
        self.tool = Path(tool).name
        self.source = f"{self.tool} stream"
        path = shutil.which(tool)
        if path is None:
            raise BackendUnavailable(f"no {self.tool}: not on PATH")
        _check_indices(self.tool, cards)
        self.loop_ms = max(1, int(loop_ms))
        self.stale_s = stale_s if stale_s is not None else max(1.0, SMI_STALE_INTERVALS * self.loop_ms / 1000)
        self.notes: list = []  # what the report's reason should say (a switch to per-query readings)
        self._path, self._clock = path, clock
        self._query: Optional[SmiCsvReader] = None
        tried = []
        loop = None
        for option in (["-lms", str(self.loop_ms)], [f"--loop-ms={self.loop_ms}"]):
            try:
                loop = _LoopProcess([path, *SMI_QUERY, *option], self.tool, clock)
            except OSError as exc:
                raise BackendUnavailable(f"{self.tool} loop mode: {exc}") from exc
            why, rejected = loop.wait_first_block(timeout)
            if why is None:
                break
            loop.close()
            tried.append(f"{' '.join(option)}: {why}")
            loop = None
            if not rejected:  # a tool that hangs or prints once would do the same with the other spelling
                break
        if loop is None:
            raise BackendUnavailable(f"{self.tool} loop mode: " + "; ".join(tried))
        self._loop = loop
        self.cards = list(cards) if cards is not None else sorted(set(loop.first_block))

    @property
    def pid(self) -> int:
        """The loop-mode process's id (for the overhead bench and the tests)."""
        return self._loop.proc.pid

    @property
    def thread_cpu_s(self) -> float:
        """The parsing thread's CPU time (complete once closed)."""
        return self._loop.cpu_s

    def __call__(self) -> dict:
        if self._query is not None:
            return self._query()
        loop = self._loop
        with loop.cond:
            latest, ended = dict(loop.latest), loop.ended
        if ended:
            return self._switch_to_query(loop)
        now = self._clock()
        age = now - max(t for t, _ in latest.values())  # not empty: the first block came in __init__
        if age > self.stale_s:
            raise RuntimeError(f"{self.tool} loop mode printed no row for {age:.1f} s")
        out = {}
        for card in self.cards:
            arrived, reading = latest.get(card, (None, None))
            if arrived is None:
                out[card] = Reading(reason=f"{self.tool} printed no row for card {card}")
            elif now - arrived > self.stale_s:
                out[card] = Reading(reason=f"{self.tool} printed no new row for card {card} for {now - arrived:.1f} s")
            else:
                out[card] = reading
        return out

    def _switch_to_query(self, loop: _LoopProcess) -> dict:
        if not self.notes:
            self.notes.append(f"{self.tool} loop mode ended {self._clock() - loop.started:.1f} s after it started "
                              f"({loop.outcome()}); per-query readings from then on")
            loop.close()
        try:
            self._query = SmiCsvReader(self._path, self.cards)
        except BackendUnavailable as exc:
            raise RuntimeError(str(exc)) from exc
        return self._query()

    def close(self) -> None:
        self._loop.close()
        self._loop.thread.join(1.0)
        if self._query is not None:
            self._query.close()


def read_sysfs_text(path: Path) -> str:
    return path.read_text()


class RaplReader:
    """The CPU packages' RAPL energy counters (``root`` for tests)."""

    source = "rapl"

    def __init__(self, root: Optional[Path] = None):
        root = Path(root) if root is not None else RAPL_ROOT
        if not root.is_dir():
            raise BackendUnavailable(f"RAPL not present: no {root}")
        self._domains: dict[int, tuple[Path, float]] = {}
        for zone in sorted(root.glob("intel-rapl:*")):
            match = re.fullmatch(r"intel-rapl:(\d+)", zone.name)  # top level; intel-rapl:0:0 are parts
            if not match:
                continue
            try:
                if not read_sysfs_text(zone / "name").strip().startswith("package"):
                    continue  # psys and the like: not a CPU package
                wrap_j = int(read_sysfs_text(zone / "max_energy_range_uj")) / 1e6
                int(read_sysfs_text(zone / "energy_uj"))
            except PermissionError as exc:
                raise BackendUnavailable(f"RAPL not readable: permission denied ({zone / 'energy_uj'}; "
                                         "root-only since Linux 5.10)") from exc
            except (OSError, ValueError) as exc:
                raise BackendUnavailable(f"RAPL not readable: {exc}") from exc
            self._domains[int(match.group(1))] = (zone / "energy_uj", wrap_j)
        if not self._domains:
            raise BackendUnavailable(f"RAPL not present: no package domain under {root}")
        self.cards = sorted(self._domains)

    def __call__(self) -> dict:
        out = {}
        for package, (path, wrap_j) in self._domains.items():
            try:
                out[package] = Reading(energy_j=int(read_sysfs_text(path)) / 1e6, wrap_j=wrap_j)
            except (OSError, ValueError) as exc:
                out[package] = Reading(reason=f"RAPL: {exc}")
        return out

    def close(self) -> None:
        pass


def visible_cards(count: int) -> list:
    """The driver's ids of this process's CUDA devices 0..count-1 (a node's local ranks).

    ``CUDA_VISIBLE_DEVICES`` entries as given (indices, or ``GPU-...`` UUIDs that NVML
    resolves), else 0..count-1. Its indices follow CUDA's order, which matches the driver
    tools' PCI order on hosts of identical cards; set ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or use
    UUIDs on mixed hosts.
    """
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return list(range(count))
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    return [int(entry) if entry.isdigit() else entry for entry in entries[:count]]


def open_reader(device: str, cards: Optional[list] = None):
    """``(reader, reason)``: the first backend that reads on ``device`` ("cuda[:N]" or "cpu"),
    or ``(None, why not)``; ``reason`` also names the backends tried before the one returned."""
    if device.startswith("cuda"):
        def smi(tool: str) -> list:  # the loop mode, then one query per reading
            return [lambda: SmiStreamReader(tool, cards), lambda: SmiCsvReader(tool, cards)]

        attempts: list = [lambda: NvmlReader(cards), *smi("nvidia-smi")]
        if shutil.which("ixsmi"):  # an Iluvatar host: the vendor tool first
            attempts = smi("ixsmi") + attempts
    elif device == "cpu":
        attempts = [lambda: RaplReader()]
    else:
        return None, f"no power backend for device {device!r}"
    reasons = []
    for attempt in attempts:
        try:
            return attempt(), ("; ".join(dict.fromkeys(reasons)) or None)
        except BackendUnavailable as exc:
            reasons.append(str(exc))
    return None, "; ".join(dict.fromkeys(reasons))
