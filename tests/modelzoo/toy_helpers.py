"""Helpers for the core's tests: the toy plugin's location, a CLI runner, and timing fields."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

TOY_DIR = Path(__file__).resolve().parents[1] / "toy_plugin"
REPO = Path(__file__).resolve().parents[2]

def subprocess_env(tmp_path: Path, **extra: str) -> dict:
    env = dict(os.environ)
    env.update({
        "MODELZOO_DISABLE_PLUGIN_AUTOLOAD": "1",
        "MODELZOO_PLUGINS": "modelzoo_toy",
        "PYTHONPATH": os.pathsep.join([str(TOY_DIR), str(REPO), env.get("PYTHONPATH", "")]),
        "MODELZOO_RUNS": str(tmp_path / "runs"),
        "MODELZOO_CACHE": str(tmp_path / "cache"),
    })
    env.pop("MODELZOO_ZOO", None)
    env.update(extra)
    return env


def run_cli(tmp_path: Path, *args: str, timeout: float = 300, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modelzoo", *args], cwd=tmp_path, env=subprocess_env(tmp_path, **env),
                          capture_output=True, text=True, timeout=timeout)


def timing(fps, batch: int = 10, timed_steps: int = 4, steps: int = 6) -> dict:
    """The timing fields a record's FPS must agree with (modelzoo.store.plausible), as the trainer
    writes them: ``timed_steps`` steps of ``batch`` samples timed, ``steps`` run in all."""
    positive = isinstance(fps, (int, float)) and not isinstance(fps, bool) and 0 < fps < math.inf
    return {"timed_steps": timed_steps, "timed_seconds": timed_steps * batch / fps if positive else 1.0,
            "steps": steps, "images_seen": steps * batch}
