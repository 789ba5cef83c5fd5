"""Zoo-grade per-run figures besides FPS and power (issue 14): peak memory, stability, time to target.

Self-contained: no torch import at module level (CUDA calls import it inside), no trainer
state. Missing figures are ``None`` with a ``reason``, never 0.

Memory, in GiB (2**30 bytes, the unit of the record's ``ram_gb`` and ``gpu_mem_gb``):

- ``reset_peak_memory(device)`` when the timed window opens, ``peak_memory(device)`` when
  it closes; each rank reports its own card and the trainer gathers them.
- CUDA (NVIDIA, and Iluvatar's CUDA-compatible torch): the caching allocator's peaks,
  ``max_memory_allocated`` (tensors) and ``max_memory_reserved`` (what the allocator holds
  from the card: the figure that must fit). Memory outside the allocator (the CUDA
  context, cuDNN/cuBLAS workspaces, NCCL buffers) is in neither: ``nvidia-smi`` shows
  more.
- CPU: the process's peak resident set (``VmHWM``), reset at the window start through
  ``/proc/self/clear_refs`` where Linux allows it; else ``ru_maxrss``, the peak over the
  whole process life (the ``kind`` says which). DataLoader worker processes are not
  included. ``reserved_gb`` is ``None``: there is no allocator reserve on the host.

Stability: ``stability(fps_values)`` over N timed repeats in one job; std is the SAMPLE
standard deviation (n - 1), since a few repeats are a sample of the card's behaviour
(population std would understate it by sqrt((n-1)/n), 18 % at n = 3).

Time to target: ``time_to_target(evaluations, target, higher_is_better, metric)``, the first
evaluation that reached ``target`` (inclusive), in the order given.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Optional

GIB = 2 ** 30

STABILITY_DESCRIPTION = ("Stability: coefficient of variation (sample std / mean) of FPS over N timed "
                         "repeats in one job (lower is steadier)")


# --------------------------------------------------------------------------- memory


def _cuda_index(device: str) -> int:
    import torch

    index = torch.device(device).index
    return torch.cuda.current_device() if index is None else index


def reset_peak_memory(device: str) -> Optional[str]:
    """Start a fresh peak (call when the window opens). Returns ``None``, or why it could not."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return "CUDA is not available"
        torch.cuda.reset_peak_memory_stats(_cuda_index(device))
        return None
    clear_refs = Path("/proc/self/clear_refs")
    try:
        clear_refs.write_text("5")  # Linux >= 4.0: "5" resets the peak RSS (VmHWM) and nothing else
        return None
    except OSError as exc:
        return f"peak RSS not resettable ({clear_refs}: {exc.strerror or exc}); ru_maxrss covers the process life"


def _vm_hwm_bytes() -> Optional[int]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                value, unit = line.split()[1:3]
                return int(value) * {"kB": 1024}.get(unit, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_memory(device: str) -> dict:
    """``{"allocated_gb", "reserved_gb", "kind", "device", "reason"}`` of this process since the last reset."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return {"allocated_gb": None, "reserved_gb": None, "kind": "cuda allocator peak",
                    "device": device, "reason": "CUDA is not available"}
        index = _cuda_index(device)
        return {"allocated_gb": torch.cuda.max_memory_allocated(index) / GIB,
                "reserved_gb": torch.cuda.max_memory_reserved(index) / GIB,
                "kind": "cuda allocator peak", "device": f"cuda:{index}", "reason": None}
    hwm = _vm_hwm_bytes()
    if hwm is not None:
        return {"allocated_gb": hwm / GIB, "reserved_gb": None, "kind": "host peak RSS",
                "device": device, "reason": "no allocator reserve on the host"}
    try:
        import resource
    except ImportError:  # Windows
        return {"allocated_gb": None, "reserved_gb": None, "kind": "host peak RSS",
                "device": device, "reason": "no getrusage on this platform"}
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return {"allocated_gb": maxrss * scale / GIB, "reserved_gb": None, "kind": "host peak RSS (process life)",
            "device": device, "reason": "no allocator reserve on the host; ru_maxrss cannot be reset"}


# --------------------------------------------------------------------------- stability


def stability(fps_values: list) -> dict:
    """``{"n", "mean", "std", "min", "max", "cv", "reason"}`` of FPS repeats; std is the sample std (n - 1).

    Non-finite or non-positive values raise ``ValueError`` (an FPS is a positive number; a
    NaN means a broken measurement upstream). Fewer than two values: std and cv are ``None``.
    """
    values = [float(v) for v in fps_values]
    bad = [v for v in values if not math.isfinite(v) or v <= 0]
    if bad:
        raise ValueError(f"stability: FPS values must be finite and positive, got {bad[0]!r}")
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None, "cv": None,
                "reason": "no timed repeats"}
    mean = math.fsum(values) / n
    if n < 2:
        return {"n": 1, "mean": mean, "std": None, "min": values[0], "max": values[0], "cv": None,
                "reason": "one repeat: no spread to measure"}
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return {"n": n, "mean": mean, "std": std, "min": min(values), "max": max(values), "cv": std / mean,
            "reason": None}


# --------------------------------------------------------------------------- time to target


def _reached(value, target: float, higher_is_better: bool) -> bool:
    if value is None or isinstance(value, bool):
        return False
    try:
        value = float(value)
    except (TypeError, ValueError):
        return False
    if not math.isfinite(value):
        return False
    return value >= target if higher_is_better else value <= target


def time_to_target(evaluations: list, target: float, higher_is_better: bool, metric: str) -> dict:
    """The first evaluation whose ``metric`` reached ``target`` (``>=`` or ``<=``, inclusive).

    ``evaluations``: ``{"epoch", "wall_s", "images", metric: value}`` in the order they ran
    (``wall_s``: seconds since the job started; must not go back). An evaluation without the
    metric (or with ``None``/NaN) has not reached it. Returns ``{"metric", "target",
    "higher_is_better", "reached", "wall_s", "images", "epoch", "evaluations", "best",
    "reason"}``; ``wall_s``/``images``/``epoch`` are ``None`` when not reached; ``best`` is
    the best value over all evaluations.
    """
    if not math.isfinite(float(target)):
        raise ValueError(f"time_to_target: target must be finite, got {target!r}")
    target = float(target)
    result = {"metric": metric, "target": target, "higher_is_better": bool(higher_is_better),
              "reached": False, "wall_s": None, "images": None, "epoch": None,
              "evaluations": len(evaluations), "best": None, "reason": None}
    previous_wall = None
    scores = []
    for number, evaluation in enumerate(evaluations):
        wall = evaluation.get("wall_s")
        if wall is not None and previous_wall is not None and wall < previous_wall:
            raise ValueError(f"time_to_target: evaluation {number} has wall_s {wall} after {previous_wall}: "
                             "evaluations must be in the order they ran")
        previous_wall = wall if wall is not None else previous_wall
        value = evaluation.get(metric)
        if _reached(value, -math.inf if higher_is_better else math.inf, higher_is_better):
            scores.append(float(value))  # a finite score, for "best"
        if not result["reached"] and _reached(value, target, higher_is_better):
            result.update(reached=True, wall_s=wall, images=evaluation.get("images"),
                          epoch=evaluation.get("epoch"))
    if scores:
        result["best"] = max(scores) if higher_is_better else min(scores)
    if not result["reached"]:
        best = f"best {result['best']:g}" if scores else f"no {metric} value"
        result["reason"] = (f"{metric} did not reach {target:g} in {len(evaluations)} evaluations ({best})"
                            if evaluations else "no evaluations")
    return result
