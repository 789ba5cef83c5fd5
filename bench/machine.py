"""Facts about this machine, printed beside every benchmark figure.

CPU model and cores, RAM, load, GPU name, memory and driver, and the versions of python,
torch, torchvision, CUDA and cuDNN. The run-record facts come from ``modelzoo.measure.env.capture``
(the same ones every run records); this adds what a benchmark reader also needs.

    python bench/machine.py [--device cpu|cuda] [--json]

Other bench scripts: ``from machine import machine_facts`` (bench/ on sys.path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform

from benchpath import REPO


def machine_facts(device: str = "cpu") -> dict:
    """:func:`facts`; if they fail, the facts every run records, with a note why."""
    try:
        return facts(device)
    except Exception as exc:  # a benchmark's figures are still worth having without them
        from modelzoo.measure.env import capture
        return {**capture(device), "note": f"bench/machine.py's facts unavailable ({exc})"}


def facts(device: str = "cpu") -> dict:
    """Machine and software facts; ``device="cuda"`` adds the first card's."""
    import torch

    try:
        from modelzoo.measure.env import capture
        out = capture(device, repo=REPO)
    except ImportError as exc:  # a bare card machine may lack psutil: keep the rest
        out = {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
               "cpu_count": os.cpu_count(), "python": platform.python_version(),
               "torch": torch.__version__, "cuda": torch.version.cuda,
               "note": f"modelzoo.measure.env unavailable ({exc})"}
    try:
        import torchvision
        out["torchvision"] = torchvision.__version__
    except ImportError:
        out["torchvision"] = None
    out["torch_threads"] = torch.get_num_threads()
    out["load_average"] = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    cudnn = torch.backends.cudnn
    out["cudnn"] = cudnn.version() if cudnn.is_available() else None
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out["gpu"] = out.get("gpu") or props.name
        out["gpu_mem_gb"] = round(props.total_memory / 2**30, 1)
        out["gpu_capability"] = f"{props.major}.{props.minor}"
        out["gpu_multiprocessors"] = props.multi_processor_count
        out["bf16_supported"] = torch.cuda.is_bf16_supported()
    return out


_ORDER = ("cpu", "cpu_capability", "cpu_count", "ram_gb", "load_average", "gpu", "gpu_count", "gpu_mem_gb", "gpu_capability",
          "driver", "sdk", "python", "torch", "torchvision", "cuda", "cudnn", "torch_threads",
          "git_commit", "git_dirty", "host", "platform", "note")


def describe(info: dict) -> str:
    """One ``key: value`` line per fact, the important ones first, unset ones left out."""
    keys = [k for k in _ORDER if k in info] + sorted(k for k in info if k not in _ORDER)
    return "\n".join(f"{key}: {info[key]}" for key in keys if info[key] not in (None, ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    args = parser.parse_args()
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            parser.exit(2, "machine.py: error: --device cuda but no CUDA card is visible\n")
    info = facts(args.device)
    print(json.dumps(info, indent=1) if args.json else describe(info))


if __name__ == "__main__":
    main()
