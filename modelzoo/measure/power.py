"""Power and energy over the timed window (issue 14): a background sampler and its figures.

    sampler = PowerSampler.for_device("cuda", cards=visible_cards(local_world_size))
    sampler.start()          # right after the meter opens the window
    ...                      # sampler.pause() / sampler.resume() around checkpoints and mid-run eval
    report = sampler.stop()  # right after the meter closes it
    record["power"] = report.as_dict(images=timed_images)

A daemon thread reads the backend at ``hz`` (default 4) from ``start()`` until ``stop()``:
one reading as soon as it starts, then one per period on a fixed schedule (a slow reading
skips slots instead of drifting), and a last one when stopped, so the readings span the
window. ``stop()`` returns within ``stop_timeout_s`` (1 s) even while a reading hangs.

The backends (NVML, ``ixsmi`` / ``nvidia-smi`` CSV in loop mode or one query per reading,
RAPL) and the choice among them (``open_reader``, which ``PowerSampler.for_device`` calls,
keeping the reasons of those that did not work) live in :mod:`modelzoo.measure.power_readers`. The
record's ``source`` names the backend, and for the driver tools the mode ("ixsmi stream",
"ixsmi query"; records before the loop mode say "ixsmi", one query per reading). What a
reader has to add to the reason (``reader.notes``: a loop-mode tool that ended mid-run) is
appended to it.

Nothing readable: every figure is ``None`` and ``reason`` says why ("no NVML: pynvml not
installed ...", "RAPL not readable: permission denied ..."); a figure is never written as 0.

Figures, per card: ``energy_j`` from the counter (``energy_from: "counter"``) or the
trapezoid rule over the readings' timestamps (``"samples"``); ``avg_w`` = energy / the
seconds the readings span (a time-weighted mean); ``peak_w`` = the highest reading (for a
counter-only backend, the highest power between two readings, i.e. a 250 ms average at 4 Hz).
Job level: ``avg_w`` and ``peak_w`` are means over cards, ``energy_j`` the sum (``None``
when a card has none), ``j_per_1000_images`` = energy_j / images x 1000.

The time series (``PowerReport.curve()``, the record's ``curves.power``): ``{"t": [...],
"watts": [...], "devices": n}``, ``t`` in seconds into the timed window (pauses left out, as
in ``seconds``), ``watts`` summed over the devices that have readings: each card's power
readings, or for a counter-only backend (RAPL) the power between two readings at their
midpoint, resampled onto one time grid where cards' (or nodes') timestamps differ, and
averaged in consecutive buckets down to at most ``CURVE_POINTS`` points. ``None`` when
nothing was read (the summary's ``reason`` says why).

``sampler_cpu_s`` is the sampler thread's own CPU time, plus a loop-mode reader's parsing
thread (``reader.thread_cpu_s``); a subprocess backend's children are not included.
bench/power_overhead.py measures the cost on throughput.

No torch import, here or in the readers: they talk to the driver or the kernel directly.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Optional

from modelzoo.measure.power_readers import Card, Reader, Reading, open_reader

# Importable from here too, for bench/power_overhead.py.

DEFAULT_HZ = 4.0
CURVE_POINTS = 2000  # the most points of the record's power curve (a 4 Hz run: every reading up to 500 s)


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


def _counter_delta(c0: float, c1: float, wrap: Optional[float]) -> Optional[float]:
    """Joules between two counter readings; ``None`` when it went back without a wrap range."""
    delta = c1 - c0
    if delta < 0:
        if not wrap:
            return None
        delta += wrap  # one wrap at most between readings a fraction of a second apart
    return delta


def _counter_energy(points: list) -> tuple:
    """``(joules, seconds, interval watts, notes)`` from ``(t, counter_j, wrap_j)`` in time order."""
    energy = seconds = 0.0
    rates, notes = [], []
    for (t0, c0, _), (t1, c1, wrap) in zip(points, points[1:]):
        delta = _counter_delta(c0, c1, wrap)
        if delta is None:
            notes.append("energy counter went back without a wrap range; that interval dropped")
            continue
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


# --------------------------------------------------------------------------- the time series


def card_trace(segments: list) -> list:
    """One card's ``(t, watts)`` in time order from ``segments`` = lists of ``(t_window, t, Reading)``.

    A stretch's power readings where it has any; else the power between consecutive counter
    readings (over their own timestamps ``t``), placed at the midpoint of their window times.
    """
    out = []
    for points in segments:
        power = [(tw, r.watts) for tw, _, r in points if r.watts is not None and math.isfinite(r.watts)]
        if power:
            out += power
            continue
        counter = [(tw, t, r.energy_j, r.wrap_j) for tw, t, r in points if r.energy_j is not None]
        for (w0, t0, c0, _), (w1, t1, c1, wrap) in zip(counter, counter[1:]):
            delta = _counter_delta(c0, c1, wrap)
            if delta is not None and t1 > t0:
                out.append(((w0 + w1) / 2, delta / (t1 - t0)))
    return _merge_equal_times(out)


def _merge_equal_times(trace: list) -> list:
    """Readings at one time (a stretch's end, where times are clamped) become their mean."""
    out: list = []
    count = 0
    for t, w in trace:
        if out and t <= out[-1][0]:
            count += 1
            out[-1] = (out[-1][0], out[-1][1] + (w - out[-1][1]) / count)
        else:
            out.append((t, w))
            count = 1
    return out


def _resample(trace: list, grid: list) -> list:
    """``trace`` linearly interpolated at ``grid`` (sorted, within the trace's time span)."""
    out, i = [], 0
    for t in grid:
        while i + 1 < len(trace) and trace[i + 1][0] <= t:
            i += 1
        t0, w0 = trace[i]
        if t <= t0 or i + 1 == len(trace):
            out.append(w0)
        else:
            t1, w1 = trace[i + 1]
            out.append(w0 + (w1 - w0) * (t - t0) / (t1 - t0))
    return out


def sum_traces(traces: list) -> list:
    """The sum of several ``(t, watts)`` traces over the span they all cover, on the union of
    their timestamps (traces read at the same instants add up point by point)."""
    traces = [trace for trace in traces if trace]
    if len(traces) <= 1:
        return list(traces[0]) if traces else []
    lo, hi = max(trace[0][0] for trace in traces), min(trace[-1][0] for trace in traces)
    grid = sorted({t for trace in traces for t, _ in trace if lo <= t <= hi})
    columns = [_resample(trace, grid) for trace in traces]
    return [(t, sum(values)) for t, values in zip(grid, zip(*columns))]


def downsample(trace: list, max_points: int = CURVE_POINTS) -> list:
    """At most ``max_points`` points: the means of consecutive equal buckets (t stays in order)."""
    if len(trace) <= max_points:
        return list(trace)
    size = math.ceil(len(trace) / max_points)
    return [(sum(t for t, _ in chunk) / len(chunk), sum(w for _, w in chunk) / len(chunk))
            for chunk in (trace[i:i + size] for i in range(0, len(trace), size))]


# --------------------------------------------------------------------------- the report


def _mean(values: list) -> Optional[float]:
    return sum(values) / len(values) if values else None


@dataclass
class PowerReport:
    source: Optional[str]  # "nvml" | "ixsmi stream" | "ixsmi query" | "nvidia-smi stream" | ... | "rapl" | None
    cards: list = field(default_factory=list)  # CardPower
    seconds: float = 0.0  # wall time sampled (start to stop, pauses excluded)
    hz: Optional[float] = None
    reason: Optional[str] = None
    sampler_cpu_s: Optional[float] = None
    trace: list = field(default_factory=list)  # (t, watts) summed over trace_devices, at most CURVE_POINTS
    trace_devices: int = 0  # devices in the trace
    trace_missing: int = 0  # devices read but without a value to plot, not in the trace

    def curve(self, max_points: int = CURVE_POINTS) -> Optional[dict]:
        """The record's ``curves.power``: ``{"t", "watts", "devices"}`` (and ``reason`` when a
        device without readings is left out of the sum); ``None`` when nothing was read."""
        if not self.trace:
            return None
        # to the microsecond (a stretch's last reading, clamped to its end, and the next one's first
        # are tens of microseconds apart); readings that still fall together become one point
        points = _merge_equal_times([(round(t, 6), w) for t, w in downsample(self.trace, max_points)])
        out = {"t": [t for t, _ in points], "watts": [round(w, 2) for _, w in points],
               "devices": self.trace_devices}
        if self.trace_missing:
            out["reason"] = (f"{self.trace_missing} of {self.trace_missing + self.trace_devices} devices "
                             "had no readings and are not in the sum")
        return out

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
    def combine(cls, reports: list) -> PowerReport:
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
                   sampler_cpu_s=sum(cpu) if cpu else None,
                   trace=downsample(sum_traces([report.trace for report in reports])),
                   trace_devices=sum(report.trace_devices for report in reports if report.trace),
                   trace_missing=sum(report.trace_missing for report in reports))


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
    def for_device(cls, device: str = "cuda", cards: Optional[list] = None, hz: float = DEFAULT_HZ) -> PowerSampler:
        """The first working backend for ``device`` (see ``open_reader``), or a sampler that reports why none."""
        reader, reason = open_reader(device, cards)
        return cls(reader, getattr(reader, "source", None), hz=hz, reason=reason)

    @property
    def period(self) -> float:
        return 1.0 / self.hz

    @property
    def running(self) -> bool:
        return self._current is not None

    def start(self) -> PowerSampler:
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

    def __enter__(self) -> PowerSampler:
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
        window_times, offset = [], 0.0  # seconds into the window, the pauses left out
        for segment, samples in zip(self._segments, per_segment):
            window_times.append([offset + min(max(t, segment.started), segment.ended) - segment.started
                                 for t, _, _ in samples])
            offset += segment.ended - segment.started
        summaries, traces = [], []
        for card in cards:
            segments = [[(t, (values or {}).get(card) or Reading(reason=error or f"no reading for card {card}"))
                         for t, values, error in samples] for samples in per_segment]
            summaries.append(summarize_card(card, segments, host=self.host))
            traces.append(card_trace([[(tw, t, reading) for tw, (t, reading) in zip(times, points)]
                                      for times, points in zip(window_times, segments)]))
        summed = sum_traces(traces)
        devices = sum(1 for trace in traces if trace) if summed else 0
        reasons = []
        if self.reason:  # backends tried before this one
            reasons.append(f"tried first: {self.reason}")
        if errors:
            total = sum(len(samples) for samples in per_segment)
            reasons.append(f"{len(errors)} of {total} readings failed ({errors[0]})")
        if not cards:
            reasons.append("the reader returned no cards")
        reasons += self._late
        reasons += list(getattr(self.reader, "notes", None) or [])
        reader_cpu = getattr(self.reader, "thread_cpu_s", None) or 0.0
        return PowerReport(source=self.source, cards=summaries,
                           seconds=sum(s.ended - s.started for s in self._segments), hz=self.hz,
                           reason="; ".join(reasons) or None,
                           sampler_cpu_s=sum(s.cpu_s for s in self._segments) + reader_cpu,
                           trace=downsample(summed), trace_devices=devices, trace_missing=len(traces) - devices)
