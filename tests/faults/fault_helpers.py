"""The fault suite's shared helpers: the real CLI in a subprocess, the one-line error rule,
and the checks of what a fault leaves on disk (fixtures in conftest.py).

Every case runs ``python -m modelzoo`` in a fresh work folder (its cwd) whose runs live in
``runs/``; the toy plugin is registered through ``$MODELZOO_PLUGINS``. Torch-importing
runs cost seconds each on 2 cores, so runs that do not depend on each other are started
together (:func:`run_together`, :meth:`Workspace.start`).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from modelzoo.store import records

REPO = Path(__file__).resolve().parents[2]
TOY_DIR = REPO / "tests" / "toy_plugin"
# The smallest toy run that trains, times FPS and evaluates: 2 warm-up + 2 timed steps.
TINY = ("--device", "cpu", "--max-steps", "4", "--set", "train.compute_fps_steps=2")
ERROR_PREFIXES = ("modelzoo: error: ", "run ")
CLI_TIMEOUT_S = 120


@dataclass
class Result:
    args: tuple
    returncode: int
    stdout: str
    stderr: str

    @property
    def last_error_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""


class Workspace:
    """A work folder (the CLI's cwd) with its runs folder, and the CLI run inside it."""

    def __init__(self, root: Path, cache: Path):
        self.root = root
        self.runs = root / "runs"
        self.cache = cache
        root.mkdir(parents=True, exist_ok=True)
        self.plugin_path: list[str] = []  # folders of extra plugin (or sitecustomize) modules
        self.plugins = "modelzoo_toy"     # $MODELZOO_PLUGINS

    def env(self, **extra: str) -> dict:
        env = dict(os.environ)
        env.update({
            "MODELZOO_DISABLE_PLUGIN_AUTOLOAD": "1",
            "MODELZOO_PLUGINS": self.plugins,
            "PYTHONPATH": os.pathsep.join([*self.plugin_path, str(TOY_DIR), str(REPO), env.get("PYTHONPATH", "")]),
            "MODELZOO_RUNS": str(self.runs),
            "MODELZOO_CACHE": str(self.cache),
            # several runs share 2 cores at once: one thread each keeps them from fighting
            "OMP_NUM_THREADS": "1",
        })
        for name in ("MODELZOO_ZOO", "MODELZOO_DATA_ROOT", "MODELZOO_RELEASE"):
            env.pop(name, None)
        env.update(extra)
        return env

    def cli(self, *args: str, timeout: float = CLI_TIMEOUT_S, **env: str) -> Result:
        done = subprocess.run([sys.executable, "-m", "modelzoo", *args], cwd=self.root, env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout)
        return Result(args, done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        """The CLI in the background, in its own session (so a test can signal its group)."""
        return subprocess.Popen([sys.executable, "-m", "modelzoo", *args], cwd=self.root, env=self.env(**env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    # --- what is on disk ------------------------------------------------------------

    def records(self) -> list[dict]:
        return records.load_all(self.runs)

    def only_record(self) -> dict:
        found = self.records()
        assert len(found) == 1, [r["run_id"] for r in found]
        return found[0]

    def run_dirs(self) -> list[Path]:
        return sorted(p for p in self.runs.iterdir() if p.is_dir()) if self.runs.is_dir() else []

    def files_outside_runs(self, *allowed: str) -> list[str]:
        """Paths under the work folder that are not in runs/ (or in the ``allowed`` folders)."""
        keep = {"runs", *allowed}
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*")
                      if p.relative_to(self.root).parts[0] not in keep)

    def adopt(self, run_dir: Path) -> dict:
        """A copy of another workspace's run folder in this one's runs; its record."""
        shutil.copytree(run_dir, self.runs / run_dir.name)
        return records.load(self.runs / run_dir.name)


def run_together(*calls: tuple[Workspace, tuple]) -> list[Result]:
    """``(workspace, args)`` CLI calls run at the same time; results in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(space.cli, *args) for space, args in calls]
        return [f.result() for f in futures]


# --- the checks every case makes --------------------------------------------------------

def assert_one_line_error(result: Result, code: int, *fragments: str) -> str:
    """Exit ``code``; the error is stderr's last line, one of the CLI's two forms, holding
    each fragment; no traceback anywhere. Returns the line."""
    assert result.returncode == code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    line = result.last_error_line
    assert line.startswith(ERROR_PREFIXES), result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def assert_runs_folder_sound(runs: Path) -> None:
    """No temp file of an atomic write left anywhere, and no run folder without its record."""
    if not runs.exists():
        return
    leftovers = [str(p) for p in runs.rglob("*.tmp")]
    assert not leftovers, leftovers
    for run_dir in (p for p in runs.iterdir() if p.is_dir()):
        assert (run_dir / records.RECORD_FILE).is_file(), f"run folder without a record: {sorted(run_dir.iterdir())}"


def assert_no_run_folder(ws: Workspace) -> None:
    assert ws.run_dirs() == [], ws.run_dirs()


def status_of(ws: Workspace, run_id: str) -> str:
    return records.effective_status(records.find(ws.runs, run_id))


# --- records made by hand (compare, report, the --resume refusals) -----------------------

def toy_record(run_id: str, *, model: str = "toy", status: str = "success", fps: Optional[float] = 100.0,
               metrics: Optional[dict] = None, **fields) -> dict:
    """A finished record as the CLI writes it (owner: this process), with the toy's columns."""
    columns = {"toy": [{"key": "accuracy", "title": "Accuracy", "format": "{:.4f}", "higher_is_better": True}],
               "toyseq": [{"key": "heldout_loss", "title": "Loss", "format": "{:.4f}", "higher_is_better": False}]}
    config = copy.deepcopy(fields.pop("config", {"train": {"seed": 0, "epochs": 2}}))
    record = records.new_record(
        run_id=run_id, kind=fields.pop("kind", "train"), model=model, model_title=model.capitalize(),
        plugin={"name": "modelzoo_toy", "version": "0.0.1"}, profile=fields.pop("profile", "default"),
        config=config, overrides={}, cards=fields.get("cards", 1), world_size=fields.get("cards", 1),
        device="cpu", seed=0, metric_columns=columns[model], log=None)
    record["metrics"] = {"fps": fps, "accuracy": 0.9, **toy_timing(fps)} if metrics is None else metrics
    if metrics is None and fps is None:
        del record["metrics"]["fps"]
    record["data"] = {"name": "toy patterns", "kind": "synthetic", "path": "(generated)"}
    record["env"] = {"host": "h", "cpu": "a CPU", "gpu": None, "torch": "2.x", "cuda": "12.4"}
    if status != "running":
        records.mark_finished(record, status, None if status == "success" else "stopped by a signal")
    record.update(fields)
    return record


def toy_timing(fps, batch: int = 16, timed_steps: int = 4, warmup_steps: int = 2) -> dict:
    """The timing fields a toy record's FPS agrees with, as the trainer writes them."""
    positive = isinstance(fps, (int, float)) and 0 < fps < float("inf")
    steps = timed_steps + warmup_steps
    return {"timed_steps": timed_steps, "timed_seconds": timed_steps * batch / fps if positive else 1.0,
            "steps": steps, "images_seen": steps * batch}


def write_record(runs: Path, record: dict) -> Path:
    """``record`` as ``runs/<its run_id>/record.json``; its path."""
    return write_raw_record(runs, record["run_id"], json.dumps(record).encode())


def write_raw_record(runs: Path, folder: str, content: bytes) -> Path:
    """Any bytes as ``runs/<folder>/record.json`` (a malformed record); its path."""
    path = runs / folder / records.RECORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


# --- waiting on a running CLI -------------------------------------------------------------

def wait_for_log(ws: Workspace, text: str, process: subprocess.Popen, timeout: float = 90) -> Path:
    """The run's train.log once it holds ``text``; fails if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for log in ws.runs.glob("*/train.log"):
            if text in log.read_text(errors="replace"):
                return log
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended (exit {process.returncode}) before its log said {text!r}: {err[-2000:]}")
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"the run's log never said {text!r} within {timeout} s")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, group: bool = False,
         timeout: float = 60) -> tuple[Result, float]:
    """Send ``sig`` (to the process, or its whole group) and wait; its result and seconds to exit."""
    sent = time.monotonic()
    if group:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"still running {timeout} s after {signal.Signals(sig).name}: {err[-2000:]}")
    return Result(tuple(process.args), process.returncode, out, err), time.monotonic() - sent


def process_alive(pid: int) -> bool:
    """``pid`` runs (a zombie, exited but not yet reaped, counts as gone)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# A zoo.yaml of one toy cell (release r1), and that cell as a record's zoo_cell field.
ONE_CELL_ZOO = """\
schema_version: 1
models:
  toy:
    target: {metric: accuracy, value: 0.5}
releases:
  r1:
    models:
      toy: {profiles: [default], cards: [1]}
"""
ONE_CELL_CELL = {"release": "r1", "model": "toy", "profile": "default", "cards": 1, "max_steps": None}
