"""What a run measures over its timed window besides FPS: power, peak memory, stability, time to target.

:class:`WindowResources` follows the meter's window (``ThroughputMeter.on_window``): at
"open" it resets the memory peaks and starts the power sampler, it pauses and resumes
the sampler with the window (checkpoint writes and mid-run evaluations are not
training), and stops it at "close". :meth:`WindowResources.collect` gathers every
rank's figures to rank 0 as the record's ``resources`` section, and adds the power time
series to the record's curves (``curves.power``, see :meth:`PowerReport.curve`; left out
when no reader worked, the summary saying why). The sampler runs on each
node's first worker and reads that node's cards. A figure that cannot be read is
``None`` with a reason (modelzoo/measure/power.py, modelzoo/measure/resources.py), never 0.
"""

from __future__ import annotations

from typing import Optional

from modelzoo.measure.power import PowerReport, PowerSampler
from modelzoo.measure.power_readers import visible_cards
from modelzoo.measure.resources import peak_memory, reset_peak_memory, stability, time_to_target
from modelzoo.train import distributed


class WindowResources:
    def __init__(self, device: str, place: distributed.Topology, sample_power: bool = True):
        self.device = device
        self.place = place
        self.sampler: Optional[PowerSampler] = None
        if sample_power and place.local_rank == 0:
            cards = visible_cards(place.local_world_size) if device.startswith("cuda") else None
            self.sampler = PowerSampler.for_device("cuda" if device.startswith("cuda") else "cpu", cards=cards)
        self.report: Optional[PowerReport] = None

    def __call__(self, event: str) -> None:
        """The meter's window events."""
        if event == "open":
            reset_peak_memory(self.device)
            if self.sampler is not None:
                self.sampler.start()
        elif self.sampler is None:
            return
        elif event == "pause":
            self.sampler.pause()
        elif event == "resume":
            self.sampler.resume()
        elif event == "close":
            self.report = self.sampler.stop()

    def end(self) -> None:
        """Stop a sampler still running (its window never closed, or the loop raised): its
        thread and any power tool it started end here, and its report is kept."""
        if self.sampler is not None and self.sampler.running:
            self.report = self.sampler.stop()

    def collect(self, timed_images: Optional[float], curves: Optional[dict] = None) -> Optional[dict]:
        """Every rank calls it; rank 0 gets ``{"memory": ..., "power": ...}`` (and ``curves["power"]``
        set when a reader worked), the others None."""
        self.end()
        memory = {"rank": self.place.rank, **peak_memory(self.device)}
        gathered = distributed.gather_objects((memory, self.report))
        if not self.place.is_main:
            return None
        per_card = [entry for entry, _ in gathered]
        reports = [report for _, report in gathered if report is not None]
        if reports:
            combined = PowerReport.combine(reports)
            power = combined.as_dict(images=int(timed_images) if timed_images else None)
            curve = combined.curve()
            if curve is not None and curves is not None:
                curves["power"] = curve
        else:
            power = {"source": None, "per_card": [], "avg_w": None, "peak_w": None, "energy_j": None,
                     "j_per_1000_images": None, "seconds": 0.0, "hz": None, "sampler_cpu_s": None,
                     "reason": "the timed window never opened"}
        return {"memory": {"kind": per_card[0].get("kind"), "per_card": per_card,
                           "peak_gb_max": _max(entry.get("reserved_gb") or entry.get("allocated_gb")
                                               for entry in per_card)},
                "power": power}


def fps_stability(repeat_fps: Optional[list]) -> Optional[dict]:
    """The record's ``metrics.fps_stability`` from the meter's per-repeat FPS (None without repeats)."""
    return stability(repeat_fps) if repeat_fps and len(repeat_fps) > 1 else None


def target_reached(evaluations: list, target: Optional[dict]) -> Optional[dict]:
    """Time to the zoo's target metric (``{metric, value, higher_is_better}``) over the run's evaluations."""
    if not target:
        return None
    return time_to_target(evaluations, float(target["value"]), bool(target.get("higher_is_better", True)),
                          target["metric"])


def _max(values) -> Optional[float]:
    present = [v for v in values if isinstance(v, (int, float))]
    return max(present) if present else None
