"""A real one-node Slurm cluster on this machine, for the tests of ``--launcher slurm``.

Debian's slurm-wlm (slurmctld, slurmd) and munge, started as root from a generated
slurm.conf under a private temporary folder: one node named after this host with its
CPUs, no GPUs, no accounting (no slurmdbd, so no ``sacct``), its own munge key and
socket and its own ports, so it never meets a Slurm the machine may already run.
Clients find it through ``SLURM_CONF`` (:attr:`SlurmCluster.env`). :meth:`SlurmCluster.stop`
cancels every job, stops the daemons and removes the folder; the daemons are started
with a parent-death signal, so they do not outlive a test session that is killed.

:func:`start_or_skip` is what the fixture calls: where Slurm cannot run here (not
installed, not root) it skips with the reason, unless ``MODELZOO_TEST_SLURM=require``
(set by ``.ci/run``), where it fails instead, so that CI never passes by skipping.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

REQUIRE_ENV = "MODELZOO_TEST_SLURM"  # "require": a cluster that cannot start fails the tests
PARTITION = "mz"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo")
INSTALL = "apt-get install -y slurm-wlm munge (.ci/run and 'bash init.sh --test' do it as root)"


class ClusterUnavailable(Exception):
    """Slurm cannot be started here; the message says why and what would fix it."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the daemon's child before exec: SIGTERM when the test process dies (PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)


def _memory_mb() -> int:
    """A bit under the memory free now, so that slurmd never reports less than slurm.conf says."""
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        fields = dict(line.split(":", 1) for line in meminfo)
    available_kb = int(fields.get("MemAvailable", fields["MemFree"]).split()[0])
    return max(256, int(available_kb / 1024 * 0.8))


def missing_reason() -> Optional[str]:
    """Why Slurm cannot be started on this machine, or None."""
    absent = [tool for tool in DAEMONS + CLIENTS if shutil.which(tool) is None]
    if absent:
        return f"Slurm is not installed here ({', '.join(absent)} not on PATH); {INSTALL}"
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs, and these tests do not run as root; run them as root"
    return None


class SlurmCluster:
    """One slurmctld + one slurmd + munged, private to this object."""

    def __init__(self, folder: Optional[Path] = None):
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="modelzoo-slurm-"))
        self.node = socket.gethostname().split(".")[0]
        self.partition = PARTITION
        self.cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.conf = self.folder / "slurm.conf"
        self.munge_socket = self.folder / "run" / "munge.socket"
        self.env = {"SLURM_CONF": str(self.conf)}
        self._processes: dict[str, subprocess.Popen] = {}

    # --- Start -------------------------------------------------------------------------

    def start(self, timeout_s: float = 60) -> SlurmCluster:
        try:
            self._write_files()
            self._spawn("munged", ["munged", "--foreground", "--force",
                                   f"--key-file={self.folder / 'munge' / 'munge.key'}",
                                   f"--socket={self.munge_socket}",
                                   f"--pid-file={self.folder / 'munge' / 'munged.pid'}",
                                   f"--log-file={self.folder / 'log' / 'munged.log'}",
                                   f"--seed-file={self.folder / 'munge' / 'munged.seed'}"])
            self._wait(lambda: self.munge_socket.exists(), timeout_s, "munged did not create its socket")
            self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
            self._spawn("slurmd", ["slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
            self._wait(self._node_idle, timeout_s, f"node {self.node} did not become idle in sinfo")
        except BaseException:
            self.stop()
            raise
        return self

    def _write_files(self) -> None:
        for name, mode in (("munge", 0o700), ("run", 0o755), ("log", 0o755), ("state", 0o700),
                           ("spool", 0o755)):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
            (self.folder / name).chmod(mode)
        self.folder.chmod(0o755)  # munged refuses a socket behind a folder others cannot enter
        key = self.folder / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o600)
        f = self.folder
        self.conf.write_text("\n".join([
            "ClusterName=modelzoo-test",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={f / 'state'}",
            f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={f / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={f / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SchedulerType=sched/backfill",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",  # the CPUs and memory below, whatever slurmd detects
            "SchedulerParameters=sched_interval=1",
            "MinJobAge=600",  # finished jobs stay visible to squeue/scontrol for the session
            "KillWait=30",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_memory_mb()} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            ""]))

    def _spawn(self, name: str, argv: list[str]) -> None:
        out = open(self.folder / "log" / f"{name}.out", "wb")  # noqa: SIM115 - closed with the process
        try:
            self._processes[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                                     stdin=subprocess.DEVNULL, env={**os.environ, **self.env},
                                                     preexec_fn=_die_with_parent, cwd=self.folder)
        finally:
            out.close()

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dead = [n for n, p in self._processes.items() if p.poll() is not None]
            if dead:
                raise ClusterUnavailable(f"{dead[0]} exited with code {self._processes[dead[0]].returncode}: "
                                         f"{self.log_tail(dead[0])}")
            if ready():
                return
            time.sleep(0.2)
        raise ClusterUnavailable(f"{what} within {timeout_s:.0f} s: {self.log_tail('slurmd')}")

    def _node_idle(self) -> bool:
        done = self.client(["sinfo", "--noheader", "--Node", "--format=%N|%T"], check=False)
        return done.returncode == 0 and f"{self.node}|idle" in done.stdout.split()

    # --- Use ---------------------------------------------------------------------------

    def client(self, argv: list[str], check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster."""
        return subprocess.run(argv, env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=timeout, check=check)

    def jobs(self) -> list[dict]:
        """Every job slurmctld still knows: id, name, state, reason (finished ones for MinJobAge)."""
        done = self.client(["squeue", "--noheader", "--states=all", "--format=%i|%T|%r|%j"])
        rows = [line.split("|", 3) for line in done.stdout.splitlines() if line.strip()]
        return [{"id": r[0], "state": r[1], "reason": r[2], "name": r[3]} for r in rows]

    def _steps_alive(self) -> bool:
        """Does a slurmstepd of this cluster still run? Each one keeps a socket in the spool folder."""
        return any(path.is_socket() for path in (self.folder / "spool").glob(f"{self.node}_*"))

    def log_tail(self, daemon: str, lines: int = 5) -> str:
        texts = []
        for path in (self.folder / "log" / f"{daemon}.out", self.folder / "log" / f"{daemon}.log"):
            with contextlib.suppress(OSError):
                texts += path.read_text(errors="replace").splitlines()[-lines:]
        return " | ".join(texts) or "(no log)"

    # --- Stop --------------------------------------------------------------------------

    def stop(self) -> None:
        """Cancel every job (their processes end with them), stop the daemons, remove the folder."""
        if "slurmctld" in self._processes and self._processes["slurmctld"].poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.client(["scancel", "--full", f"--user={os.getuid()}"], check=False)
                deadline = time.monotonic() + 40  # KillWait, then SIGKILL
                while time.monotonic() < deadline and (self._steps_alive() or any(
                        j["state"] in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING") for j in self.jobs())):
                    time.sleep(0.5)
        for name in reversed(DAEMONS):
            process = self._processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._reap_steps()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _reap_steps(self, timeout_s: float = 30) -> None:
        """Wait for this cluster's slurmstepd processes (they work in its folder) to end; kill
        any still there after ``timeout_s``. slurmd starts them detached, so no signal of ours
        reaches them otherwise."""
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:  # one that slurmd was starting appears a moment later
            if self._processes_in_folder():
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 1.5:
                break
            time.sleep(0.1)
        left = self._processes_in_folder()
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def _processes_in_folder(self) -> list[int]:
        mine = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if Path(os.readlink(entry / "cwd")).is_relative_to(self.folder):
                        mine.append(int(entry.name))
        return mine


def start_or_skip():
    """A started cluster; pytest.skip (or fail under ``MODELZOO_TEST_SLURM=require``) with the reason."""
    import pytest

    required = os.environ.get(REQUIRE_ENV) == "require"
    reason = missing_reason()
    if reason is None:
        try:
            return SlurmCluster().start()
        except (ClusterUnavailable, OSError, subprocess.SubprocessError) as exc:
            reason = f"a Slurm cluster could not be started here: {exc}"
    if required:
        pytest.fail(f"{reason} ({REQUIRE_ENV}=require)")
    pytest.skip(reason)
