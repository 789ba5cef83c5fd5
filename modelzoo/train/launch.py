"""Start the workers of a run.

- ``--cards 1``: the worker runs in this process.
- ``--cards N``: N worker processes through torch.distributed's elastic launch, one per
  card (local rank -> device), NCCL on CUDA and gloo on the CPU, and no automatic
  restarts: a restarted worker would silently corrupt the timings. A worker's error is
  written to the record and shown as one line, like a one-card run's; tracebacks only
  with ``--debug``; a worker killed outright is named by its rank (:class:`RankNotes`). On
  the CPU, ``--oversubscribe`` allows more workers than cores.
- Under an outer launcher (``torchrun`` or Slurm) this process is one worker of a larger
  job (see :mod:`modelzoo.train.distributed`), which is how multi-node runs work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import traceback
from dataclasses import asdict
from typing import Optional

from modelzoo.contract.api import UserError
from modelzoo.store import records
from modelzoo.toolkit import stopping
from modelzoo.train import distributed
from modelzoo.train.trainer import Job, run_worker


def check_cards(cards: int, device: str, oversubscribe: bool = False) -> None:
    """Refuse a card count the machine cannot give, before anything starts. On the CPU,
    ``oversubscribe`` allows more workers than cores (each then runs one compute thread:
    :func:`modelzoo.train.distributed.share_cpu_threads`), a test of N ranks, not a benchmark."""
    if cards < 1:
        raise UserError(f"--cards must be a positive integer, got {cards}")
    if device == "cuda":
        import torch
        visible = torch.cuda.device_count()
        if cards > visible:
            raise UserError(f"--cards {cards} asks for more cards than the {visible} visible; "
                            "check CUDA_VISIBLE_DEVICES or lower --cards")
    else:
        cpus = os.cpu_count() or 1
        if cards > cpus and not oversubscribe:
            raise UserError(f"--cards {cards} on the CPU needs one core per worker and there are "
                            f"{cpus}; lower --cards, or pass --oversubscribe to share the cores")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _elastic_entry(job_fields: dict, notes: str) -> None:
    """A spawned worker: on error a non-zero exit and nothing else on the terminal (rank 0
    has written the record, and the launching process prints its one line); the
    traceback only with --debug."""
    # Out of the terminal's process group: Ctrl-C reaches the launcher alone, whose agent passes
    # it on once; a worker that got it twice would take the second as "abort, no checkpoint".
    # SIGTERM when the launcher dies (kill -9) then stops the workers, which no group kill reaches.
    os.setpgrp()
    stopping.die_with_parent(signal.SIGTERM)
    job = Job(**job_fields)
    rank = RankNotes(notes).arrived()
    stopped = stopping.SignalWatch()  # whichever handler takes it (the trainer's checkpoints and returns)
    try:
        run_worker(job)
    except BaseException as exc:  # noqa: BLE001 - every way out is reported the same
        if job.debug:
            traceback.print_exception(exc)
        sys.stderr.flush()
        signum = getattr(exc, "signum", None) or stopped.received()
        rank.left()
        os._exit(stopping.exit_status(signum=signum) if isinstance(exc, KeyboardInterrupt) else 1)
    rank.left()
    if stopped.received():
        # The agent stops a job by signalling its workers and waiting for them to exit (30 s,
        # then SIGKILL); a worker that returned would wait for the agent to collect its result.
        sys.stderr.flush()
        os._exit(stopping.exit_status(signum=stopped.received()))


RANK_NOTES = ".ranks"  # the launcher's folder of RankNotes inside the run folder


class RankNotes:
    """Which worker died without a word. Every rank notes its pid when it starts and notes again
    on every way out; a rank with no second note was killed (kill -9, the OOM killer). Its
    peers only see a connection drop, and the agent reports whichever failed rank it polls
    first, so this is how the record's line names the rank that was killed."""

    def __init__(self, folder: str, rank: Optional[int] = None):
        self.folder = folder
        self.rank = rank

    def arrived(self) -> RankNotes:
        rank = int(os.environ.get("RANK", "0"))
        with open(os.path.join(self.folder, f"{rank}.pid"), "w") as handle:
            handle.write(str(os.getpid()))
        return RankNotes(self.folder, rank)

    def left(self) -> None:
        with contextlib.suppress(OSError):
            open(os.path.join(self.folder, f"{self.rank}.left"), "w").close()

    def silent(self, world_size: int) -> list[tuple[int, str]]:
        """(rank, pid) of each rank that started and never left."""
        found = []
        for rank in range(world_size):
            pid_file = os.path.join(self.folder, f"{rank}.pid")
            if os.path.exists(pid_file) and not os.path.exists(os.path.join(self.folder, f"{rank}.left")):
                with open(pid_file) as handle:
                    found.append((rank, handle.read().strip()))
        return found


def launch(job: Job, cards: int) -> dict:
    """Run ``job`` on ``cards`` workers; returns the final record (rank 0's)."""
    if distributed.under_outer_launcher() or cards == 1:
        record = run_worker(job)
        return record if record is not None else {"status": "success", "run_id": job.run_id}
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if not job.debug:  # the agent's own failure report repeats what the record says
        for name in [n for n in logging.root.manager.loggerDict
                     if n.startswith(("torch.distributed.elastic", "torch.multiprocessing"))]:
            logging.getLogger(name).setLevel(logging.CRITICAL)  # each sets its own level ($LOGLEVEL)
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=cards, run_id=job.run_id,
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}",
                          max_restarts=0, start_method="spawn", monitor_interval=0.5)
    # in the run folder, not /tmp: a launcher killed outright leaves it with its run, and the
    # next launch of that run (--resume) starts it afresh
    notes = os.path.join(job.run_dir, RANK_NOTES)
    shutil.rmtree(notes, ignore_errors=True)
    os.makedirs(notes)
    try:
        elastic_launch(config, _elastic_entry)(asdict(job), notes)
    except (ChildFailedError, SignalException) as exc:
        return record_after_failure(job, exc, RankNotes(notes).silent(cards))
    finally:
        shutil.rmtree(notes, ignore_errors=True)
    return records.load(job.run_dir)


def record_after_failure(job: Job, exc: BaseException, silent: list[tuple[int, str]]) -> dict:
    """The record once the workers are gone; written here when rank 0 could not say why, or
    when a rank died without a word (``silent``): its peers then only saw a connection drop,
    and the line must name the rank that was killed."""
    record = records.load(job.run_dir)
    from torch.distributed.elastic.multiprocessing.api import SignalException

    stopped = isinstance(exc, SignalException)
    killed = None
    if silent and not stopped:
        # the ranks the agent saw fail first: a rank it killed itself while stopping the rest
        # (one stuck in a collective with the dead peer) is silent too, but never among these
        seen_failing = getattr(exc, "failures", None) or {}
        rank, pid = min(silent, key=lambda noted: (noted[0] not in seen_failing, noted[0]))
        killed = (f"worker rank {rank} (pid {pid}) was killed (a signal: kill -9, or the OOM killer); "
                  "the other ranks were stopped")
    if record["status"] != "running" and not (killed and record["status"] == "failed"):
        return record
    if stopped:
        error = f"stopped by a signal; resume with 'modelzoo run {job.model} --resume {job.run_id}'"
        records.mark_finished(record, "interrupted", error)
    elif killed:
        if record["status"] == "running":
            records.mark_finished(record, "failed", killed)
        record["error"] = killed
    else:
        first = next(iter(exc.failures.values()), None)
        records.mark_finished(record, "failed", f"worker failed: {first.message if first else exc}")
    records.save(record, job.runs_dir)
    return record


def share_run_id(run_id: str) -> str:
    """Every worker of an outer launch takes rank 0's run id."""
    return distributed.broadcast_from_main(run_id)
