"""Power readers, one backend per device: ``reader() -> {card: Reading}`` (issue 14).

    reader, reason = open_reader("cuda", cards=visible_cards(local_world_size))
    values = reader()        # {card: Reading(watts=..., energy_j=..., wrap_j=..., reason=...)}
    reader.close()

:func:`open_reader` picks the first backend that works on the device and keeps the
reasons of those that did not; :class:`modelzoo.power.PowerSampler` calls the reader on
its thread and turns the readings into figures.

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

A backend that cannot read here raises :class:`BackendUnavailable` with the reason the
report will carry ("no NVML: pynvml not installed ...", "RAPL not readable: permission
denied ..."); a missing reading is a :class:`Reading` of ``None`` values with a reason,
never 0.

No torch import: the backends talk to the driver or the kernel directly.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

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
