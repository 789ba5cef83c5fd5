"""Talking to Slurm: submit a batch job, read the queue, cancel. Nothing here knows a model.

Every call runs one of Slurm's client commands (``sbatch``, ``squeue``, ``scontrol``,
``sacct``, ``scancel``, ``sinfo``) with an argument list, never through a shell, and
turns its failures into one-line :class:`SlurmError`\\ s (a :class:`UserError`): a
command that is not on PATH, a partition the cluster does not have, a submission
``sbatch`` refuses (its own reason, e.g. ``Invalid account or account/partition
combination specified``).

A job's state comes from ``squeue --states=all`` while slurmctld remembers the job (a
finished job for ``MinJobAge``, 300 s by default), then ``scontrol show job``, then
``sacct`` where the cluster keeps accounting; a job none of them knows any more has
state ``UNKNOWN``. Slurm's facts for a run's record (job id, nodes, partition) come from
the job's environment (:func:`modelzoo.train.distributed.slurm_facts`).
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from modelzoo.contract.api import UserError

# Slurm's job states (squeue --format=%T) that may still run; any other is final.
ACTIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
                           "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
                           "RESV_DEL_HOLD", "POWER_UP_NODE"})
UNKNOWN = "UNKNOWN"  # the job is known to none of squeue, scontrol, sacct
COMMAND_TIMEOUT_S = 60
# sbatch --time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED
_TIME_LIMIT = re.compile(r"^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+(:\d{1,2}){0,2}|UNLIMITED|INFINITE)$",
                         re.IGNORECASE)
_JOB_NAME = re.compile(r"^[0-9A-Za-z._+=@-]{1,200}$")
_SQUEUE_FORMAT = "%i|%T|%P|%N|%r|%j"  # the name last: a foreign job's name may hold a '|'


class SlurmError(UserError):
    """A Slurm command failed or refused; the message is one line naming the cause and the fix."""


@dataclass(frozen=True)
class JobRequest:
    """One batch job: what ``sbatch`` is asked for."""
    name: str                    # --job-name; how a later call finds the job again
    script: Path                 # the batch script (its first line a #! interpreter)
    log: Path                    # --output; stderr joins it
    nodes: int = 1
    ntasks_per_node: int = 1
    gpus_per_node: Optional[int] = None   # None: no GPU asked for (a CPU job)
    cpus_per_task: Optional[int] = None
    partition: Optional[str] = None
    account: Optional[str] = None
    time: Optional[str] = None   # --time, Slurm's format (see time_limit)
    workdir: Optional[Path] = None
    extra: tuple[str, ...] = ()  # --sbatch-arg values, passed as they are, before the script

    def __post_init__(self):
        if not _JOB_NAME.match(self.name):
            raise ValueError(f"job name {self.name!r} holds characters Slurm tools do not keep")


@dataclass(frozen=True)
class JobState:
    """What Slurm says about one job."""
    job_id: str
    state: str                   # PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ... or UNKNOWN
    name: Optional[str] = None
    partition: Optional[str] = None
    nodes: Optional[str] = None  # the node list, e.g. "gpu[01-02]"; empty while pending
    reason: Optional[str] = None  # why it pends or ended: Priority, Resources, NonZeroExitCode, ...
    exit_code: Optional[int] = None  # the batch script's exit status, when known
    signal: Optional[int] = None     # the signal that ended it (0 when none), when known
    extra: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def describe(self) -> str:
        """``FAILED (NonZeroExitCode, exit 2)``: Slurm's state and its reason, in one phrase."""
        parts = [p for p in (self.reason if self.reason not in (None, "", "None") else None,
                             None if self.exit_code is None else f"exit {self.exit_code}",
                             f"signal {self.signal}" if self.signal else None) if p]
        return self.state + (f" ({', '.join(parts)})" if parts else "")


# --- Running the client commands ----------------------------------------------------------

def available(tool: str = "sbatch") -> bool:
    return shutil.which(tool) is not None


def require(tool: str = "sbatch") -> str:
    """The path of ``tool``; SlurmError when Slurm's client commands are not on PATH."""
    path = shutil.which(tool)
    if path is None:
        raise SlurmError(f"{tool} is not on PATH: --launcher slurm needs Slurm's client commands; run it on "
                         "a node that can submit jobs (a login node), or add Slurm's bin folder to PATH")
    return path


def _run(argv: Sequence[str], *, what: str, check: bool = True) -> subprocess.CompletedProcess:
    require(argv[0])
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer within {COMMAND_TIMEOUT_S} s ({what}); check that "
                         "slurmctld is up ('sinfo') and run again") from None
    except OSError as exc:
        raise SlurmError(f"{argv[0]} could not be started ({what}): {exc}") from None
    if check and done.returncode != 0:
        raise SlurmError(f"{argv[0]} failed ({what}): {error_text(done)}")
    return done


def error_text(done: subprocess.CompletedProcess) -> str:
    """Slurm's own reason from a failed command: its last ``error:`` line, without the tool's prefix."""
    lines = [line.strip() for line in (done.stderr or "").splitlines() + (done.stdout or "").splitlines()
             if line.strip()]
    errors = [line for line in lines if "error:" in line or "failure:" in line]
    text = (errors or lines or [f"exit code {done.returncode}"])[-1]
    text = re.sub(r"^(\S+: )?(error|allocation failure): ", "", text)
    return re.sub(r"^Batch job submission failed: ", "", text)


# --- Submitting ---------------------------------------------------------------------------

def time_limit(text: str) -> str:
    """An argparse type for ``--time``: Slurm's formats (``90``, ``04:00:00``, ``1-12:00:00``)."""
    if not _TIME_LIMIT.match(text.strip()):
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not a Slurm time limit; use minutes, HH:MM:SS or "
                                         "D-HH:MM:SS, e.g. 04:00:00")
    return text.strip()


def sbatch_argv(request: JobRequest, *, test_only: bool = False) -> list[str]:
    """The ``sbatch`` command line for ``request`` (``--test-only``: check it, submit nothing)."""
    argv = ["sbatch", "--parsable", f"--job-name={request.name}", f"--output={request.log}",
            f"--nodes={request.nodes}", f"--ntasks-per-node={request.ntasks_per_node}"]
    if test_only:
        argv.insert(1, "--test-only")
    if request.gpus_per_node:
        argv.append(f"--gpus-per-node={request.gpus_per_node}")
    if request.cpus_per_task:
        argv.append(f"--cpus-per-task={request.cpus_per_task}")
    for option, value in (("partition", request.partition), ("account", request.account),
                          ("time", request.time), ("chdir", request.workdir)):
        if value:
            argv.append(f"--{option}={value}")
    return argv + list(request.extra) + [str(request.script)]


def check_submittable(request: JobRequest) -> None:
    """``sbatch --test-only``: SlurmError with Slurm's reason when the job would be refused
    (an unknown partition or account, a time over the partition's limit, GPUs the nodes lack)."""
    done = _run(sbatch_argv(request, test_only=True), what=f"checking job {request.name}", check=False)
    if done.returncode != 0:
        raise SlurmError(f"Slurm would refuse job {request.name}: {error_text(done)}; "
                         f"{_fix_for(error_text(done))}")


def submit(request: JobRequest) -> str:
    """Submit ``request``; its job id. SlurmError with ``sbatch``'s reason when refused."""
    done = _run(sbatch_argv(request), what=f"submitting job {request.name}", check=False)
    if done.returncode != 0:
        raise SlurmError(f"sbatch refused job {request.name}: {error_text(done)}; {_fix_for(error_text(done))}")
    job_id = done.stdout.strip().splitlines()[-1].split(";")[0].strip() if done.stdout.strip() else ""
    if not re.fullmatch(r"\d+(_\d+)?", job_id):
        raise SlurmError(f"sbatch accepted job {request.name} but printed no job id ({done.stdout.strip()!r}); "
                         "look for it with 'squeue --me'")
    return job_id


def _fix_for(reason: str) -> str:
    text = reason.lower()
    if "partition" in text:
        return "pick one of 'sinfo --summarize' with --partition"
    if "account" in text:
        return "pick an account you may charge ('sacctmgr show assoc user=$USER') with --account"
    if "time limit" in text or "--time" in text:
        return "lower --time to the partition's limit ('sinfo --format=%P,%l')"
    if "gres" in text or "gpu" in text:
        return "use a partition with GPUs (--partition), or --device cpu for a CPU job"
    if "node configuration" in text or "node count" in text or "nodelimit" in text:
        return "ask for fewer nodes: raise --cards-per-node to the nodes' GPUs, or pick another --partition"
    return "fix the job's options (--partition, --account, --time, --sbatch-arg) and run again"


def partitions() -> list[str]:
    """The cluster's partition names (``sinfo``), the default one first as Slurm marks it."""
    done = _run(["sinfo", "--noheader", "--format=%P"], what="listing partitions")
    names = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return list(dict.fromkeys(sorted(names, key=lambda n: not n.endswith("*"))))


def check_partition(name: Optional[str]) -> None:
    """SlurmError naming the cluster's partitions when ``name`` is not one of them."""
    if not name:
        return
    known = [p.rstrip("*") for p in partitions()]
    if name not in known:
        raise SlurmError(f"partition '{name}' is not one of this cluster's ({', '.join(known) or 'none'}); "
                         "pick one with --partition")


# --- Reading the queue --------------------------------------------------------------------

def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def queue(names: Optional[Iterable[str]] = None, user: Optional[str] = None) -> list[JobState]:
    """``user``'s jobs that slurmctld still knows (pending, running and recently finished),
    only those named in ``names`` when given; newest first."""
    wanted = set(names) if names is not None else None
    done = _run(["squeue", "--noheader", "--states=all", f"--user={user or _user()}",
                 f"--format={_SQUEUE_FORMAT}"], what="reading the queue")
    jobs = [parse_squeue_line(line) for line in done.stdout.splitlines() if line.strip()]
    jobs = [j for j in jobs if j is not None and (wanted is None or j.name in wanted)]
    return sorted(jobs, key=lambda j: _id_key(j.job_id), reverse=True)


def parse_squeue_line(line: str) -> Optional[JobState]:
    fields = line.rstrip("\n").split("|", 5)
    if len(fields) != 6:
        return None
    job_id, state, partition, nodes, reason, name = (f.strip() for f in fields)
    return JobState(job_id=job_id, state=state.split()[0] if state else UNKNOWN, name=name,
                    partition=partition or None, nodes=nodes or None, reason=reason or None)


def _id_key(job_id: str) -> tuple[int, int]:
    main, _, task = job_id.partition("_")
    return (int(main) if main.isdigit() else -1, int(task) if task.isdigit() else -1)


def job_state(job_id: str) -> JobState:
    """One job's state: ``scontrol show job`` (with the exit code) while slurmctld remembers the
    job, else ``sacct``; ``UNKNOWN`` when neither knows it any more."""
    shown = _scontrol_job(job_id)
    if shown is not None:
        return shown
    accounted = _sacct_job(job_id)
    return accounted if accounted is not None else JobState(job_id=job_id, state=UNKNOWN)


def parse_scontrol(text: str) -> dict[str, str]:
    """``scontrol show job -o``'s ``Key=Value`` pairs (a value ends where the next `` Key=`` starts)."""
    pairs = re.findall(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/.]*)=(.*?)(?=\s+[A-Za-z][A-Za-z0-9_:/.]*=|\s*$)",
                       text.strip())
    return dict(pairs)


def _exit_parts(text: Optional[str]) -> tuple[Optional[int], Optional[int]]:
    match = re.fullmatch(r"(\d+):(\d+)", (text or "").strip())
    return (int(match[1]), int(match[2])) if match else (None, None)


def _scontrol_job(job_id: str) -> Optional[JobState]:
    done = _run(["scontrol", "show", "job", "--oneliner", str(job_id)], what=f"reading job {job_id}", check=False)
    if done.returncode != 0 or "JobState=" not in done.stdout:
        return None  # "Invalid job id specified": slurmctld has forgotten it
    fields = parse_scontrol(done.stdout.splitlines()[0])
    code, sig = _exit_parts(fields.get("ExitCode"))
    nodes = fields.get("NodeList")
    return JobState(job_id=str(job_id), state=fields.get("JobState", UNKNOWN), name=fields.get("JobName"),
                    partition=fields.get("Partition"), nodes=None if nodes in (None, "(null)") else nodes,
                    reason=fields.get("Reason"), exit_code=code, signal=sig,
                    extra={k: fields[k] for k in ("StdOut", "RunTime", "TimeLimit") if k in fields})


def _sacct_job(job_id: str) -> Optional[JobState]:
    if not available("sacct"):
        return None
    done = _run(["sacct", "--noheader", "--parsable2", f"--jobs={job_id}",
                 "--format=JobID,State,ExitCode,Partition,NodeList,JobName"], what=f"reading job {job_id}",
                check=False)
    if done.returncode != 0:  # e.g. "Slurm accounting storage is disabled"
        return None
    for line in done.stdout.splitlines():
        fields = line.split("|")
        if len(fields) >= 6 and fields[0] == str(job_id):
            code, sig = _exit_parts(fields[2])
            state = fields[1].split()[0] if fields[1] else UNKNOWN  # "CANCELLED by 0"
            return JobState(job_id=str(job_id), state=state, name=fields[5], partition=fields[3] or None,
                            nodes=fields[4] or None, exit_code=code, signal=sig)
    return None


# --- Cancelling ---------------------------------------------------------------------------

def cancel(job_ids: Iterable[str]) -> None:
    """``scancel`` the jobs: a pending one leaves the queue, a running one gets SIGTERM (then
    SIGKILL after the cluster's KillWait), which ``modelzoo run`` records as ``interrupted``."""
    ids = [str(j) for j in job_ids]
    if ids:
        _run(["scancel", *ids], what=f"cancelling job{'s' if len(ids) > 1 else ''} {', '.join(ids)}")


# --- Inside a job -------------------------------------------------------------------------

def first_node(nodelist: str) -> str:
    """The first host of a Slurm node list (``gpu[03-05,07]`` -> ``gpu03``) without calling scontrol."""
    match = re.match(r"^([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not match:
        return nodelist
    prefix, ranges = match[1], match[2]
    return prefix + ranges.split(",")[0].split("-")[0] if ranges else prefix
