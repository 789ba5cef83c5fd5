"""Power and energy over the timed window (issue 14): a background sampler, one backend per device.

    sampler = PowerSampler.for_device("cuda", cards=visible_cards(local_world_size))
    sampler.start()          # right after the meter opens the window
    ...                      # sampler.pause() / sampler.resume() around checkpoints and mid-run eval
    report = sampler.stop()  # right after the meter closes it
    record["power"] = report.as_dict(images=timed_images)

A daemon thread reads the backend at ``hz`` (default 4) from ``start()`` until ``stop()``:
one reading as soon as it starts, then one per period on a fixed schedule (a slow reading
skips slots instead of drifting), and a last one when stopped, so the readings span the
window. ``stop()`` returns within ``stop_timeout_s`` (1 s) even while a reading hangs.

Backends (``PowerSampler.for_device`` picks the first that works and keeps the reasons of
those that did not):

- ``nvml`` (NVIDIA): ``pynvml`` from the nvidia-ml-py package. Power from
  ``nvmlDeviceGetPowerUsage`` (mW; on Ampere and newer, except the A100, the driver's
  1-second average, so the peak is a peak of 1 s averages); energy from the card's own
  counter ``nvmlDeviceGetTotalEnergyConsumption`` (mJ, Volta and newer) where it answers,
  else the power readings integrated. A reading costs tens of microseconds.
- ``ixsmi`` (Iluvatar; first on a host that has ``ixsmi``): the vendor tool's
  ``--query-gpu=index,power.draw --format=csv,noheader,nounits``, which mirrors nvidia-smi,
  run with an argument list (no shell) and a timeout. One process per reading: at 4 Hz,
  four short processes a second, a few ms of one host core each on a card host where the
  training process is waiting on the card. ``nvidia-smi`` is the same backend, used on an
  NVIDIA host without pynvml.
- ``rapl`` (the CPU): the package domains' ``energy_uj`` counters under
  ``/sys/class/powercap/intel-rapl:N`` (AMD Zen exposes them there too), with wrap-around at
  ``max_energy_range_uj``. They count the whole socket, other tenants included, and are
  root-only since Linux 5.10 (an unprivileged run reports them missing with that reason).
  ``per_card`` then lists CPU packages.

Nothing readable: every figure is ``None`` and ``reason`` says why ("no NVML: pynvml not
installed ...", "RAPL not readable: permission denied ..."); a figure is never written as 0.

Figures, per card: ``energy_j`` from the counter (``energy_from: "counter"``) or the
trapezoid rule over the readings' timestamps (``"samples"``); ``avg_w`` = energy / the
seconds the readings span (a time-weighted mean); ``peak_w`` = the highest reading (for a
counter-only backend, the highest power between two readings, i.e. a 250 ms average at 4 Hz).
Job level: ``avg_w`` and ``peak_w`` are means over cards, ``energy_j`` the sum (``None``
when a card has none), ``j_per_1000_images`` = energy_j / images x 1000.

``sampler_cpu_s`` is the sampler thread's own CPU time (a subprocess backend's children not
included); bench/power_overhead.py measures the cost on throughput.

No torch import: the backends talk to the driver or the kernel directly.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

DEFAULT_HZ = 4.0
Card = Union[int, str]  # an index as the driver tool numbers cards, or an NVIDIA UUID ("GPU-...")
RAPL_ROOT = Path("/sys/class/powercap")
SMI_TIMEOUT_S = 5.0  # nvidia-smi can take a second or more when the driver is not persistent


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


# --------------------------------------------------------------------------- backends


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
                    handle = pynvml.nvmlDeviceGetHandleByUUID(card)
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


def _run_tool(argv: list[str], timeout: float) -> str:
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

    def __init__(self, tool: str = "ixsmi", cards: Optional[list] = None,
                 runner: Optional[Callable[[list, float], str]] = None, timeout: float = SMI_TIMEOUT_S):
        self.source = tool
        path = tool if runner is not None else shutil.which(tool)
        if path is None:
            raise BackendUnavailable(f"no {tool}: not on PATH")
        bad = [card for card in (cards or []) if not isinstance(card, int)]
        if bad:
            raise BackendUnavailable(f"{tool} numbers cards by index, not {bad[0]!r}")
        self._argv = [path, "--query-gpu=index,power.draw", "--format=csv,noheader,nounits"]
        self._runner = runner or _run_tool
        self._timeout = timeout
        try:
            first = parse_smi_csv(self._runner(self._argv, timeout), tool)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            raise BackendUnavailable(f"{tool} failed: {exc}") from exc
        if not first:
            raise BackendUnavailable(f"{tool} printed no card rows")
        self.cards = list(cards) if cards is not None else sorted(first)

    def __call__(self) -> dict:
        rows = parse_smi_csv(self._runner(self._argv, self._timeout), self.source)
        return {card: rows.get(card, Reading(reason=f"{self.source} printed no row for card {card}"))
                for card in self.cards}

    def close(self) -> None:
        pass


def _read_text(path: Path) -> str:
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
                if not _read_text(zone / "name").strip().startswith("package"):
                    continue  # psys and the like: not a CPU package
                wrap_j = int(_read_text(zone / "max_energy_range_uj")) / 1e6
                int(_read_text(zone / "energy_uj"))
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
                out[package] = Reading(energy_j=int(_read_text(path)) / 1e6, wrap_j=wrap_j)
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
        attempts: list = [lambda: NvmlReader(cards), lambda: SmiCsvReader("nvidia-smi", cards)]
        if shutil.which("ixsmi"):  # an Iluvatar host: the vendor tool first
            attempts.insert(0, lambda: SmiCsvReader("ixsmi", cards))
    elif device == "cpu":
        attempts = [lambda: RaplReader()]
    else:
        return None, f"no power backend for device {device!r}"
    reasons = []
    for attempt in attempts:
        try:
            return attempt(), ("; ".join(reasons) or None)
        except BackendUnavailable as exc:
            reasons.append(str(exc))
    return None, "; ".join(reasons)


# --------------------------------------------------------------------------- figures


@dataclass
class CardPower:
    index: Card
    avg_w: Optional[float]
    peak_w: Optional[float]
    energy_j: Optional[float]
    samples: int  # readings with a value
    energy_from: Optional[str] = None  # "counter" | "samples"
    covered_s: float = 0.0  # seconds the energy figure spans
    reason: Optional[str] = None
    host: Optional[str] = None

    def as_dict(self) -> dict:
        return asdict(self)


def _counter_energy(points: list) -> tuple:
    """``(joules, seconds, interval watts, notes)`` from ``(t, counter_j, wrap_j)`` in time order."""
    energy = seconds = 0.0
    rates, notes = [], []
    for (t0, c0, _), (t1, c1, wrap) in zip(points, points[1:]):
        delta = c1 - c0
        if delta < 0:
            if not wrap:
                notes.append("energy counter went back without a wrap range; that interval dropped")
                continue
            delta += wrap  # one wrap at most between readings a fraction of a second apart
        energy += delta
        seconds += t1 - t0
        if t1 > t0:
            rates.append(delta / (t1 - t0))
    return energy, seconds, rates, notes


def _trapezoid(points: list) -> tuple:
    """``(joules, seconds)`` from ``(t, watts)`` in time order."""
    energy = sum((t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1) in zip(points, points[1:]))
    return energy, points[-1][0] - points[0][0]


def summarize_card(index: Card, segments: list, host: Optional[str] = None) -> CardPower:
    """One card's figures from its readings: ``segments`` = list of lists of ``(t, Reading)``."""
    energy = seconds = 0.0
    have_energy = False
    methods, notes, watts_all, rates_all = set(), [], [], []
    samples = 0
    missing_reasons = []
    for points in segments:
        power = [(t, r.watts) for t, r in points if r.watts is not None and math.isfinite(r.watts)]
        counter = [(t, r.energy_j, r.wrap_j) for t, r in points if r.energy_j is not None]
        samples += sum(1 for _, r in points if r.watts is not None or r.energy_j is not None)
        missing_reasons += [r.reason for _, r in points if r.reason and r.watts is None and r.energy_j is None]
        watts_all += [w for _, w in power]
        if len(counter) >= 2:
            joules, span, rates, counter_notes = _counter_energy(counter)
            notes += counter_notes
            rates_all += rates
            methods.add("counter")
        elif len(power) >= 2:
            joules, span = _trapezoid(power)
            methods.add("samples")
        else:
            continue
        if span > 0:
            energy += joules
            seconds += span
            have_energy = True
    peaks = watts_all or rates_all
    avg = energy / seconds if have_energy else (sum(watts_all) / len(watts_all) if watts_all else None)
    reason_parts = []
    if not samples:
        reason_parts.append(missing_reasons[0] if missing_reasons else "no readings")
    elif not have_energy:
        reason_parts.append("too few readings for an energy figure")
    if missing_reasons and samples:
        reason_parts.append(f"{len(missing_reasons)} readings missing ({missing_reasons[0]})")
    reason_parts += sorted(set(notes))
    return CardPower(index=index, avg_w=avg, peak_w=max(peaks) if peaks else None,
                     energy_j=energy if have_energy else None, samples=samples,
                     energy_from="+".join(sorted(methods)) if have_energy else None,
                     covered_s=seconds, reason="; ".join(reason_parts) or None, host=host)


def _mean(values: list) -> Optional[float]:
    return sum(values) / len(values) if values else None


@dataclass
class PowerReport:
    source: Optional[str]  # "nvml" | "ixsmi" | "nvidia-smi" | "rapl" | None
    cards: list = field(default_factory=list)  # CardPower
    seconds: float = 0.0  # wall time sampled (start to stop, pauses excluded)
    hz: Optional[float] = None
    reason: Optional[str] = None
    sampler_cpu_s: Optional[float] = None

    def as_dict(self, images: Optional[int] = None) -> dict:
        """The record's ``power`` section; ``images`` = training images in the timed window (all ranks)."""
        cards = [card.as_dict() for card in self.cards]
        energies = [card["energy_j"] for card in cards]
        reasons = [self.reason] if self.reason else []
        if cards and any(e is None for e in energies):
            short = [card["index"] for card in cards if card["energy_j"] is None]
            reasons.append(f"no job energy: card(s) {short} without an energy figure")
        energy = sum(energies) if cards and all(e is not None for e in energies) else None
        per_1000 = energy / images * 1000 if energy is not None and images else None
        if energy is not None and not images:
            reasons.append("no image count for J per 1000 images")
        return {
            "source": self.source,
            "per_card": cards,
            "avg_w": _mean([c["avg_w"] for c in cards if c["avg_w"] is not None]),
            "peak_w": _mean([c["peak_w"] for c in cards if c["peak_w"] is not None]),
            "energy_j": energy,
            "j_per_1000_images": per_1000,
            "seconds": self.seconds,
            "hz": self.hz,
            "sampler_cpu_s": self.sampler_cpu_s,
            "reason": "; ".join(dict.fromkeys(reasons)) or None,
        }

    @classmethod
    def combine(cls, reports: list) -> "PowerReport":
        """One report from several samplers' (one per node: gather them to rank 0, drop ``None``s)."""
        reports = [report for report in reports if report is not None]
        sources = {report.source for report in reports if report.source}
        reasons = [report.reason for report in reports if report.reason]
        cpu = [report.sampler_cpu_s for report in reports if report.sampler_cpu_s is not None]
        return cls(source=sources.pop() if len(sources) == 1 else ("+".join(sorted(sources)) or None),
                   cards=[card for report in reports for card in report.cards],
                   seconds=max((report.seconds for report in reports), default=0.0),
                   hz=next((report.hz for report in reports if report.hz), None),
                   reason="; ".join(dict.fromkeys(reasons)) or None,
                   sampler_cpu_s=sum(cpu) if cpu else None)


# --------------------------------------------------------------------------- the sampler


@dataclass
class _Segment:
    started: float
    ended: Optional[float] = None
    samples: list = field(default_factory=list)  # (t, {card: Reading} or None, error or None)
    cpu_s: float = 0.0
    thread: Optional[threading.Thread] = None
    stop: threading.Event = field(default_factory=threading.Event)


class PowerSampler:
    """Samples ``reader`` at ``hz`` on a daemon thread between ``start()`` and ``stop()``.

    ``reader``: a callable returning ``{card: Reading}`` (``None``: nothing readable, and
    ``reason`` says why). ``pause()``/``resume()`` leave stretches out, as the meter does.
    """

    def __init__(self, reader: Optional[Reader], source: Optional[str], hz: float = DEFAULT_HZ,
                 reason: Optional[str] = None, stop_timeout_s: float = 1.0,
                 clock: Callable[[], float] = time.perf_counter):
        if not (hz > 0 and math.isfinite(hz)):
            raise ValueError(f"hz must be a positive number, not {hz!r}")
        self.reader, self.source, self.hz = reader, (source if reader is not None else None), float(hz)
        self.reason = reason if reader is not None or reason else "no power reader"
        self.stop_timeout_s = stop_timeout_s
        self._clock = clock
        self._segments: list[_Segment] = []
        self._current: Optional[_Segment] = None
        self._stopped = False
        self._late: list[str] = []
        self.host = socket.gethostname()
        self.report: Optional[PowerReport] = None

    @classmethod
    def for_device(cls, device: str = "cuda", cards: Optional[list] = None, hz: float = DEFAULT_HZ) -> "PowerSampler":
        """The first working backend for ``device`` (see ``open_reader``), or a sampler that reports why none."""
        reader, reason = open_reader(device, cards)
        return cls(reader, getattr(reader, "source", None), hz=hz, reason=reason)

    @property
    def period(self) -> float:
        return 1.0 / self.hz

    @property
    def running(self) -> bool:
        return self._current is not None

    def start(self) -> "PowerSampler":
        if self._stopped:
            raise RuntimeError("this PowerSampler was stopped; make a new one")
        if self._current is None:
            segment = _Segment(started=self._clock())
            self._segments.append(segment)
            self._current = segment
            if self.reader is not None:
                segment.thread = threading.Thread(target=self._loop, args=(segment,),
                                                  name="modelzoo-power", daemon=True)
                segment.thread.start()
        return self

    resume = start

    def pause(self) -> None:
        """End the current stretch with a last reading (returns within ``stop_timeout_s``)."""
        segment, self._current = self._current, None
        if segment is None:
            return
        segment.ended = self._clock()
        segment.stop.set()
        if segment.thread is not None:
            segment.thread.join(self.stop_timeout_s)
            if segment.thread.is_alive():
                self._late.append(f"a reading was still running {self.stop_timeout_s:g} s after stop; "
                                  "figures end at the reading before")

    def stop(self) -> PowerReport:
        """Stop sampling (idempotent) and return the report."""
        if not self._stopped:
            self.pause()
            self._stopped = True
            close = getattr(self.reader, "close", None)
            if close is not None and not any(s.thread is not None and s.thread.is_alive() for s in self._segments):
                close()
            self.report = self._build()
        return self.report

    def __enter__(self) -> "PowerSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _read(self, segment: _Segment) -> None:
        t0 = self._clock()
        try:
            values, error = self.reader(), None
        except Exception as exc:  # noqa: BLE001 - a failed reading is a missing reading, not a crash
            values, error = None, f"{type(exc).__name__}: {exc}"
        segment.samples.append(((t0 + self._clock()) / 2, values, error))

    def _loop(self, segment: _Segment) -> None:
        cpu0 = time.thread_time()
        due = self._clock()
        try:
            while True:
                self._read(segment)
                if segment.stop.is_set():
                    break
                due += self.period
                now = self._clock()
                if due < now:  # the reading overran: skip to the next slot on the schedule
                    due += math.ceil((now - due) / self.period) * self.period
                if segment.stop.wait(due - now):
                    self._read(segment)  # the last reading, at stop
                    break
        finally:
            segment.cpu_s = time.thread_time() - cpu0

    def _build(self) -> PowerReport:
        if self.reader is None:
            return PowerReport(source=None, seconds=sum(s.ended - s.started for s in self._segments),
                               hz=self.hz, reason=self.reason)
        cards: list = list(getattr(self.reader, "cards", []) or [])
        errors = []
        per_segment = []
        for segment in self._segments:
            samples = list(segment.samples)  # a snapshot: a late thread may still append
            per_segment.append(samples)
            for _, values, error in samples:
                if error:
                    errors.append(error)
                for card in values or {}:
                    if card not in cards:
                        cards.append(card)
        summaries = []
        for card in cards:
            segments = [[(t, (values or {}).get(card) or Reading(reason=error or f"no reading for card {card}"))
                         for t, values, error in samples] for samples in per_segment]
            summaries.append(summarize_card(card, segments, host=self.host))
        reasons = []
        if self.reason:  # backends tried before this one
            reasons.append(f"tried first: {self.reason}")
        if errors:
            total = sum(len(samples) for samples in per_segment)
            reasons.append(f"{len(errors)} of {total} readings failed ({errors[0]})")
        if not cards:
            reasons.append("the reader returned no cards")
        reasons += self._late
        return PowerReport(source=self.source, cards=summaries,
                           seconds=sum(s.ended - s.started for s in self._segments), hz=self.hz,
                           reason="; ".join(reasons) or None,
                           sampler_cpu_s=sum(s.cpu_s for s in self._segments))
