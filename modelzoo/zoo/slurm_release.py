"""A release on a Slurm cluster: ``modelzoo zoo run --launcher slurm``, ``zoo status``, ``zoo cancel``.

Each cell that needs a run becomes one batch job named ``mz.<release>.<model>.<profile>.x<cards>``
(the name is how a later call finds it: a cell whose job is pending or running is never
submitted twice). The job runs the cell's ordinary ``modelzoo run`` (the same arguments
as the local launcher's, plus ``--zoo-cell``), so its record lands in the shared runs
folder with the same fields; only ``env`` differs, where ``env.slurm`` holds the job id,
partition and nodes. A cell that fits one node (``--cards-per-node``, default 8) runs
``modelzoo run --cards N`` there, which starts its own workers; a larger one runs one
``modelzoo run`` per card through ``srun`` (the outer-launcher mode, rendezvous on the
first node).

The batch scripts and Slurm's logs live in ``<runs>/.slurm/<release>/`` (``<job name>-<job id>.log``);
the records and Slurm's queue are the only other state. A cell's state (:func:`cell_states`):
its job's while one is pending or running; else the record the newest job wrote; a job that
ended without writing one (a wrong environment on the node, a data root it cannot see) makes
the cell ``failed`` with Slurm's state, the log's last line and the log's path.

``scancel`` (``zoo cancel``, or Ctrl-C while ``zoo run`` waits) sends SIGTERM to a running
job, whose ``modelzoo run`` checkpoints and records ``interrupted``; a rerun resumes it.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from modelzoo.contract.api import UserError
from modelzoo.store import records
from modelzoo.zoo import release as zoo_release
from modelzoo.zoo import slurm
from modelzoo.zoo.release import Cell, Outcome, ZooRunOptions
from modelzoo.zoo.zoofile import find_zoo_file, load_zoo

JOBS_FOLDER = ".slurm"          # under the runs folder: batch scripts and Slurm's logs
POLL_ENV = "MODELZOO_SLURM_POLL_S"
DEFAULT_POLL_S = 5.0
CANCEL_WAIT_S = 120             # after scancel: time for the runs to checkpoint and record (KillWait is 30 s)
LIVE = ("pending", "running")
_RUN_LINE = re.compile(r"^run (\S+): .* record in ", re.MULTILINE)  # modelzoo run's first line
_STATE_WORDS = {"PENDING": "pending", "CONFIGURING": "running", "RUNNING": "running", "COMPLETING": "running",
                "SUSPENDED": "pending", "REQUEUED": "pending"}


# --- Names and places -----------------------------------------------------------------------

def _plain(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]", "_", text)


def job_name(cell: Cell) -> str:
    return f"mz.{_plain(cell.release)}.{_plain(cell.model)}.{_plain(cell.profile)}.x{cell.cards}"


def jobs_dir(runs_dir: Path, release_id: str) -> Path:
    return Path(runs_dir) / JOBS_FOLDER / _plain(release_id)


def log_path(folder: Path, cell: Cell, job_id: str) -> Path:
    return folder / f"{job_name(cell)}-{job_id}.log"


def _logged_jobs(folder: Path, cell: Cell) -> list[str]:
    """Job ids of the cell that started (Slurm opens the log when a job starts), newest first."""
    prefix = f"{job_name(cell)}-"
    ids = [p.name[len(prefix):-4] for p in folder.glob(f"{prefix}*.log")]
    return sorted((i for i in ids if i.isdigit()), key=int, reverse=True)


def _log_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(the log is empty)"


# --- What each cell is doing ----------------------------------------------------------------

@dataclass
class CellState:
    cell: Cell
    state: str                    # pending, running, success, failed, interrupted, lost, diverged, not run
    run_id: Optional[str] = None
    job_id: Optional[str] = None
    detail: str = ""
    record: Optional[dict] = None

    def line(self) -> str:
        job = f"job {self.job_id}" if self.job_id else "no job"
        run = f"run {self.run_id}" if self.run_id else "no run"
        return f"cell {self.cell.name}: {self.state} ({job}, {run})" + (f": {self.detail}" if self.detail else "")


def cell_states(cells: list[Cell], runs_dir: Path, warn: Callable[[str], None],
                ask_slurm: bool = True) -> list[CellState]:
    """Every cell's state from its records, Slurm's queue (when ``ask_slurm``) and its jobs' logs;
    ``warn`` gets each record that could not be read."""
    runs, problems = zoo_release.runs_of_cells(cells, runs_dir)
    for problem in problems:
        warn(f"skipped {problem}")
    queued = slurm.queue(names={job_name(c) for c in cells}) if ask_slurm else []
    return [_state_of(cell, runs[cell], [j for j in queued if j.name == job_name(cell)], runs_dir, ask_slurm)
            for cell in cells]


def _state_of(cell: Cell, runs: list[dict], jobs: list[slurm.JobState], runs_dir: Path,
              ask_slurm: bool) -> CellState:
    folder = jobs_dir(runs_dir, cell.release)
    by_id = {r["run_id"]: r for r in runs}
    deciding = zoo_release.next_action(cell, runs, runs_dir, device="").record
    active = next((j for j in jobs if j.active), None)
    if active is not None:
        run_id = _run_of_job(folder, cell, active.job_id)
        reason = active.reason if active.reason not in (None, "", "None") else ""
        where = f"on {active.nodes}" if active.nodes and active.state != "PENDING" else reason
        return CellState(cell, _STATE_WORDS.get(active.state, "running"), run_id, active.job_id,
                         f"Slurm {active.state.lower()} {where}".strip(), by_id.get(run_id))
    if deciding is not None and records.effective_status(deciding) == "success":
        return CellState(cell, "success", deciding["run_id"], _job_of(deciding), "", deciding)
    newest = _newest_job(folder, cell, jobs)
    if newest is not None and _run_of_job(folder, cell, newest) not in by_id:
        return _ended_without_record(cell, newest, folder, jobs, deciding, ask_slurm)
    if deciding is None:
        return CellState(cell, "not run", detail=f"no run with {zoo_release.schedule_text(cell.max_steps)} yet")
    status = records.effective_status(deciding)
    job_id = _job_of(deciding)
    if status == "running" and job_id and ask_slurm:  # its job ended, the record never did
        status = "lost"
    error = deciding.get("error") or ("its job ended without finishing the record" if status == "lost" else "")
    return CellState(cell, status, deciding["run_id"], job_id, error, deciding)


def _newest_job(folder: Path, cell: Cell, jobs: list[slurm.JobState]) -> Optional[str]:
    ids = _logged_jobs(folder, cell) + [j.job_id for j in jobs if j.job_id.isdigit()]
    return max(ids, key=int) if ids else None


def _run_of_job(folder: Path, cell: Cell, job_id: str) -> Optional[str]:
    match = _RUN_LINE.search(_log_text(log_path(folder, cell, job_id)))
    return match[1] if match else None


def _job_of(record: dict) -> Optional[str]:
    env = record.get("env") if isinstance(record.get("env"), dict) else {}
    return (env.get("slurm") or {}).get("job_id") if isinstance(env.get("slurm"), dict) else None


def _ended_without_record(cell: Cell, job_id: str, folder: Path, jobs: list[slurm.JobState],
                          deciding: Optional[dict], ask_slurm: bool) -> CellState:
    """The newest job ended and no record names it: cancelled while pending, or failed before one."""
    log = log_path(folder, cell, job_id)
    known = next((j for j in jobs if j.job_id == job_id), None)
    state = slurm.job_state(job_id) if ask_slurm else None
    if state is not None and state.state == slurm.UNKNOWN and known is not None:
        state = known
    said = state.describe() if state is not None else "ended"
    if not log.exists():  # never started
        previous = f"; the cell's last run {deciding['run_id']} is {records.effective_status(deciding)}" \
            if deciding else ""
        return CellState(cell, "not run", None, job_id, f"Slurm {said} before it started{previous}", deciding)
    return CellState(cell, "failed", None, job_id,
                     f"Slurm job {job_id} {said} before writing a record: {_last_line(_log_text(log))}; "
                     f"log {log}")


def format_table(states: list[CellState]) -> str:
    rows = [("cell", "state", "run", "job", "detail")] + [
        (s.cell.name, s.state, s.run_id or "-", s.job_id or "-", s.detail) for s in states]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row[:4], widths)), row[4]]).rstrip() for row in rows)


def count_text(states: list[CellState]) -> str:
    order = ("success", "running", "pending", "interrupted", "failed", "lost", "diverged", "not run")
    counts = {k: sum(s.state == k for s in states) for k in order}
    return ", ".join(f"{n} {'succeeded' if k == 'success' else k}" for k, n in counts.items() if n)


# --- The job ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    nodes: int
    tasks_per_node: int
    gpus_per_node: Optional[int]
    cpus_per_task: Optional[int]

    @property
    def srun(self) -> bool:
        return self.nodes > 1


def placement(cell: Cell, device: Optional[str], cards_per_node: int) -> Placement:
    """Nodes = ceil(cards / cards per node); GPUs asked for unless ``--device cpu`` (then a core
    per CPU worker)."""
    nodes = math.ceil(cell.cards / cards_per_node)
    if nodes > 1 and cell.cards % cards_per_node:
        raise UserError(f"cell {cell.name}: {cell.cards} cards do not fill nodes of {cards_per_node}; "
                        "pass --cards-per-node with a divisor of the card count")
    per_node = cell.cards if nodes == 1 else cards_per_node
    cpu = device == "cpu"
    return Placement(nodes=nodes, tasks_per_node=1 if nodes == 1 else per_node,
                     gpus_per_node=None if cpu else per_node,
                     cpus_per_task=(per_node if nodes == 1 else 1) if cpu else None)


def write_script(path: Path, spec: dict) -> Path:
    """The batch script: this Python (shared with the nodes, as the runs folder is) calling :func:`job_main`."""
    text = (f"#!{sys.executable}\n"
            f"# Written by 'modelzoo zoo run --launcher slurm' for job {spec['name']}; sbatch keeps a copy.\n"
            "import sys\n\nfrom modelzoo.cli import main\nfrom modelzoo.zoo.slurm_release import job_main\n\n"
            "if __name__ == '__main__':  # not again in the workers that multiprocessing spawns\n"
            f"    sys.exit(job_main({json.dumps(spec)!r}, main))\n")
    records.write_atomic(path, text)
    path.chmod(0o755)
    return path


def job_main(spec_text: str, modelzoo_main: Callable[[list[str]], int]) -> int:
    """Inside the job: the cell's ``modelzoo run`` (``modelzoo_main``, the command's entry point, or
    through ``srun`` across nodes); its exit code."""
    spec = json.loads(spec_text)
    os.environ[zoo_release.RELEASE_ENV] = spec["release"]
    facts = {k: os.environ.get(k) for k in ("SLURM_JOB_ID", "SLURM_JOB_NODELIST", "SLURM_JOB_PARTITION")}
    print(f"modelzoo: Slurm job {facts['SLURM_JOB_ID']} on {facts['SLURM_JOB_NODELIST']} "
          f"(partition {facts['SLURM_JOB_PARTITION']}): modelzoo {' '.join(spec['argv'])}", flush=True)
    if not spec["srun"]:
        return modelzoo_main(spec["argv"])
    first = slurm.first_node(os.environ.get("SLURM_JOB_NODELIST", "localhost"))
    env = {**os.environ, "MASTER_ADDR": first, "MASTER_PORT": os.environ.get("MASTER_PORT", "29500")}
    for sig in (signal.SIGTERM, signal.SIGINT):  # srun passes them on to every task; this one waits
        signal.signal(sig, lambda *_: None)
    return subprocess.call(["srun", f"--ntasks-per-node={spec['tasks_per_node']}", "--kill-on-bad-exit=1",
                            sys.executable, "-m", "modelzoo", *spec["argv"]], env=env)


def _request(cell: Cell, action: zoo_release.Action, args, runs_dir: Path, zoo_path: Path) -> slurm.JobRequest:
    folder = jobs_dir(runs_dir, cell.release)
    place = placement(cell, args.device, args.cards_per_node)
    argv = zoo_release.run_argv(cell, action, args, runs_dir, zoo_path)
    argv += ["--zoo-cell", json.dumps(cell.as_record_field())]
    spec = {"name": job_name(cell), "release": cell.release, "argv": argv, "srun": place.srun,
            "tasks_per_node": place.tasks_per_node}
    script = write_script(folder / f"{job_name(cell)}.py", spec)
    return slurm.JobRequest(name=job_name(cell), script=script, log=folder / f"{job_name(cell)}-%j.log",
                            nodes=place.nodes, ntasks_per_node=place.tasks_per_node,
                            gpus_per_node=place.gpus_per_node, cpus_per_task=place.cpus_per_task,
                            partition=args.partition, account=args.account, time=args.time,
                            workdir=Path.cwd(), extra=tuple(args.sbatch_args))


# --- zoo run --launcher slurm -----------------------------------------------------------------

def _poll_s() -> float:
    try:
        return max(0.2, float(os.environ.get(POLL_ENV, DEFAULT_POLL_S)))
    except ValueError:
        return DEFAULT_POLL_S


def run_release(args: ZooRunOptions, voice: zoo_release.Voice) -> Optional[dict]:
    """``modelzoo zoo run --launcher slurm``: the summary record once every job has ended (None
    with ``no_wait``: the jobs are submitted); its lines go to ``voice``. The caller has checked
    the cells' profiles."""
    from modelzoo.toolkit.runtime import writable_dir
    from modelzoo.train import distributed

    zoo = load_zoo(find_zoo_file(args.zoo))
    release = zoo_release.release_of(zoo, args.release)
    cells = zoo_release.plan_cells(release, args.models, args.cards)
    if distributed.under_outer_launcher():
        raise UserError("zoo run is not available inside a Slurm job step or torchrun; run it on a login node")
    slurm.require("sbatch")
    slurm.check_partition(args.partition)
    runs_dir = writable_dir(Path(args.runs_dir).resolve(), "runs directory", "--runs-dir")
    args.data_root = str(Path(args.data_root).resolve())  # the job's working folder may differ
    writable_dir(jobs_dir(runs_dir, release.id), "runs directory", "--runs-dir")
    started = records.utc_now()
    with zoo_release.release_lock(runs_dir, release.id):
        warn = _once(voice.warn)  # the waiting loop reads the same unreadable record again and again
        states = cell_states(cells, runs_dir, warn)
        runs, _ = zoo_release.runs_of_cells(cells, runs_dir)
        plans: dict[Cell, tuple[zoo_release.Action, Optional[slurm.JobRequest]]] = {}
        for cell, state in zip(cells, states):
            if state.state in LIVE:
                plans[cell] = (zoo_release.Action("busy", state.record, f"job {state.job_id} is {state.state}; "
                                                  "not submitted twice"), None)
                continue
            action = _action(cell, runs[cell], runs_dir, args.device)
            request = _request(cell, action, args, runs_dir, Path(zoo.path).resolve()) \
                if action.kind in ("new", "resume") else None
            plans[cell] = (action, request)
        for request in {(r.nodes, r.ntasks_per_node, r.gpus_per_node, r.cpus_per_task): r
                        for _, r in plans.values() if r}.values():
            slurm.check_submittable(request)  # a refusal stops here, before any job is queued
        voice.say(f"zoo run {release.id}: {len(cells)} cell(s) on Slurm; runs in {runs_dir}; Slurm logs in "
                  f"{jobs_dir(runs_dir, release.id)}")
        submitted: dict[Cell, str] = {}
        for cell, (action, request) in plans.items():
            if request is None:
                voice.say(f"cell {cell.name}: {'left alone' if action.kind == 'busy' else 'skipped'}: "
                          f"{action.why}")
                continue
            submitted[cell] = slurm.submit(request)
            voice.say(f"cell {cell.name}: submitted job {submitted[cell]} "
                      f"({'resumes' if action.kind == 'resume' else 'new run;'} {action.why})")
        if args.no_wait:
            voice.show(format_table(cell_states(cells, runs_dir, warn)))
            voice.show(f"zoo run {release.id}: {len(submitted)} job(s) submitted; 'modelzoo zoo status --release "
                       f"{release.id}' shows them, 'modelzoo zoo cancel --release {release.id}' cancels them")
            return None
        try:
            states = _wait(cells, runs_dir, voice.show, warn)
        except KeyboardInterrupt:
            voice.say(f"zoo run {release.id}: stopping: cancelling the release's jobs")
            states = _cancel_and_wait(cells, runs_dir, voice.say, warn)
            voice.show(format_table(states))
            zoo_release.save_summary(release, _outcomes(states, plans), started, args.device or "auto", args,
                                     runs_dir, stopped=True)
            raise
    voice.show(format_table(states))
    return zoo_release.save_summary(release, _outcomes(states, plans), started, args.device or "auto", args,
                                    runs_dir, stopped=False)


def _action(cell: Cell, runs: list[dict], runs_dir: Path, device: Optional[str]) -> zoo_release.Action:
    """The local launcher's rule; with no --device a run is resumed on the device it ran on."""
    action = zoo_release.next_action(cell, runs, runs_dir, device or "")
    if not device and action.record is not None and action.record.get("device"):
        action = zoo_release.next_action(cell, runs, runs_dir, action.record["device"])
    return action


def _once(emit: Callable[[str], None]) -> Callable[[str], None]:
    """``emit``, each distinct line passed on once."""
    passed: set[str] = set()

    def emit_once(message: str) -> None:
        if message not in passed:
            passed.add(message)
            emit(message)
    return emit_once


def _wait(cells: list[Cell], runs_dir: Path, show: Callable[[str], None],
          warn: Callable[[str], None]) -> list[CellState]:
    """Poll until no cell is pending or running; one line whenever a cell's state changes."""
    seen: dict[Cell, tuple] = {}
    while True:
        states = cell_states(cells, runs_dir, warn)
        for state in states:
            key = (state.state, state.job_id, state.run_id)
            if seen.get(state.cell) != key:
                seen[state.cell] = key
                show(state.line())
        if not any(s.state in LIVE for s in states):
            return states
        time.sleep(_poll_s())


def _cancel_and_wait(cells: list[Cell], runs_dir: Path, say: Callable[[str], None],
                     warn: Callable[[str], None]) -> list[CellState]:
    """scancel the cells' pending and running jobs; wait until they are gone (each run records itself)."""
    states = cell_states(cells, runs_dir, warn)
    live = [s for s in states if s.state in LIVE and s.job_id]
    if live:
        slurm.cancel([s.job_id for s in live])
        for state in live:
            say(f"cancelled job {state.job_id} (cell {state.cell.name}, {state.state})")
    deadline = time.monotonic() + CANCEL_WAIT_S
    while any(s.state in LIVE for s in states) and time.monotonic() < deadline:
        time.sleep(min(_poll_s(), 1.0))
        states = cell_states(cells, runs_dir, warn)
    return states


def _outcomes(states: list[CellState], plans: dict) -> list[Outcome]:
    return [Outcome(s.cell, plans[s.cell][0].kind if s.cell in plans else "new", s.state, s.record,
                    None if s.state == "success" else s.detail or None) for s in states]


# --- zoo status, zoo cancel -------------------------------------------------------------------

def release_states(zoo, release_id: Optional[str], runs_dir: Path,
                   voice: zoo_release.Voice) -> tuple[str, list[CellState]]:
    """``zoo status``: every cell's state. Slurm's queue is read when its tools are here and
    the release submitted jobs (it has a jobs folder); a queue that cannot be read (no
    controller answers) is a warning, and the states come from the records alone."""
    release = zoo_release.release_of(zoo, release_id)
    cells, runs_dir = zoo_release.plan_cells(release), Path(runs_dir).resolve()
    used_slurm = jobs_dir(runs_dir, release.id).is_dir()
    if used_slurm and slurm.available("squeue"):
        try:
            return release.id, cell_states(cells, runs_dir, voice.warn, ask_slurm=True)
        except slurm.SlurmError as exc:
            voice.warn(f"{exc}; the states below come from the run records alone")
    return release.id, cell_states(cells, runs_dir, voice.warn, ask_slurm=False)


def cancel_release(zoo, release_id: Optional[str], runs_dir: Path,
                   voice: zoo_release.Voice) -> tuple[str, Optional[list[CellState]]]:
    """``zoo cancel``: scancel the release's pending and running jobs and wait for their records;
    the states after, or None when no job was pending or running."""
    release = zoo_release.release_of(zoo, release_id)
    cells, runs_dir = zoo_release.plan_cells(release), Path(runs_dir).resolve()
    if not jobs_dir(runs_dir, release.id).is_dir():  # it never submitted a job: nothing to cancel
        return release.id, None
    slurm.require("scancel")
    warn = _once(voice.warn)
    if not any(s.state in LIVE and s.job_id for s in cell_states(cells, runs_dir, warn)):
        return release.id, None
    return release.id, _cancel_and_wait(cells, runs_dir, voice.say, warn)
