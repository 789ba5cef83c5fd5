"""Environment facts written into every run record: host, CPU, RAM, cards, driver, SDK, versions, git."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Optional

import psutil

from modelzoo.train import distributed

SDK_ENV = "MODELZOO_SDK"  # e.g. "IXUCA SDK 3.1.0" where it cannot be detected
RELEASE_ENV = "MODELZOO_RELEASE"  # e.g. "23.09", the zoo release being validated


def _run(argv: list[str], cwd: Optional[Path] = None) -> Optional[str]:
    """stdout of a short command, or None when it is absent or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state(where: Path) -> dict:
    commit = _run(["git", "rev-parse", "HEAD"], cwd=where)
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where)
    return {"git_commit": commit, "git_dirty": bool(status)}


def _driver_version() -> Optional[str]:
    for tool in ("nvidia-smi", "ixsmi"):  # ixsmi: Iluvatar's nvidia-smi counterpart
        out = _run([tool, "--query-gpu=driver_version", "--format=csv,noheader"])
        if out:
            return out.splitlines()[0].strip()
    return None


def _sdk_version(torch) -> Optional[str]:
    if os.environ.get(SDK_ENV):
        return os.environ[SDK_ENV]
    # Iluvatar's CoreX builds of torch carry a version suffix and install under /usr/local/corex.
    corex = Path("/usr/local/corex")
    if "corex" in torch.__version__ or corex.is_dir():
        version_file = next((p for p in (corex / "VERSION", corex / "version") if p.is_file()), None)
        version = version_file.read_text().strip() if version_file else torch.__version__
        return f"IXUCA SDK {version}"
    return None


def capture(device: str = "cpu", extra: Optional[dict] = None, repo: Optional[Path] = None) -> dict:
    """Everything a reader needs to know where a number came from."""
    import torch

    env = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        # the vector ISA torch dispatches to (AVX512, AVX2, ...): two VMs sold under one
        # CPU name trained 2.9x apart on this alone
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        # torch's compute threads and OpenMP's wait policy: a CPU figure depends on both
        "cpu_threads": torch.get_num_threads(),
        "cpu_threads_chosen_by": distributed.threads_chosen_by(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": None,
        "gpu_count": 0,
        "gpu_mem_gb": None,
        "driver": None,
        "sdk": None,
        "release": os.environ.get(RELEASE_ENV),
    }
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_count=torch.cuda.device_count(),
                   gpu_mem_gb=round(props.total_memory / 2**30, 1), driver=_driver_version())
        env["cudnn"] = torch.backends.cudnn.version()
    env["sdk"] = _sdk_version(torch)
    slurm = distributed.slurm_facts()
    if slurm:  # a Slurm job: its id, partition and nodes
        env["slurm"] = slurm
    env.update(git_state(repo or Path(__file__).resolve().parents[1]))
    for key, value in (extra or {}).items():
        env.setdefault(key, value)
    return env
