"""Start the workers of a run.

- ``--cards 1``: the worker runs in this process.
- ``--cards N``: N worker processes through torch.distributed's elastic launch, one per
  card (local rank -> device), NCCL on CUDA and gloo on the CPU, and no automatic
  restarts: a restarted worker would silently corrupt the timings. A worker's error is
  written to the record and shown as one line, like a one-card run's; tracebacks only
  with ``--debug``.
- Under an outer launcher (``torchrun`` or Slurm) this process is one worker of a larger
  job (see :mod:`modelzoo.train.distributed`), which is how multi-node runs work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import traceback
from dataclasses import asdict

from modelzoo.contract.api import UserError
from modelzoo.store import records
from modelzoo.train import distributed
from modelzoo.train.trainer import Job, run_worker


def check_cards(cards: int, device: str) -> None:
    """Refuse a card count the machine cannot give, before anything starts."""
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
        if cards > cpus:
            raise UserError(f"--cards {cards} on the CPU needs one core per worker and there are "
                            f"{cpus}; lower --cards")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _elastic_entry(job_fields: dict) -> None:
    """A spawned worker: on error a non-zero exit and nothing else on the terminal (rank 0
    has written the record, and the launching process prints its one line); the
    traceback only with --debug."""
    # Out of the terminal's process group: Ctrl-C reaches the launcher alone, whose agent passes
    # it on once; a worker that got it twice would take the second as "abort, no checkpoint".
    # SIGTERM when the launcher dies (kill -9) then stops the workers, which no group kill reaches.
    os.setpgrp()
    _signal_when_parent_dies(signal.SIGTERM)
    job = Job(**job_fields)
    stopped = _stop_signal_watch()
    try:
        run_worker(job)
    except BaseException as exc:  # noqa: BLE001 - every way out is reported the same
        if job.debug:
            traceback.print_exception(exc)
        sys.stderr.flush()
        os._exit(130 if isinstance(exc, KeyboardInterrupt) else 1)
    if stopped():
        # The agent stops a job by signalling its workers and waiting for them to exit (30 s,
        # then SIGKILL); a worker that returned would wait for the agent to collect its result.
        sys.stderr.flush()
        os._exit(130)


def _signal_when_parent_dies(sig: int) -> None:
    """Linux's PR_SET_PDEATHSIG; elsewhere nothing (a killed launcher leaves its workers running)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(sig), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the launcher died before the request: no signal will come
            os.kill(os.getpid(), sig)


def _stop_signal_watch():
    """A check of whether SIGTERM or SIGINT reached this process, whichever handler took it
    (the trainer's turns them into a checkpoint and a clean return): Python writes every
    signal's number to the wakeup fd before any handler runs."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)

    def received() -> bool:
        seen = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(read_fd, 4096):
                seen += chunk
        return any(number in (signal.SIGTERM, signal.SIGINT) for number in seen)
    return received


def launch(job: Job, cards: int) -> dict:
    """Run ``job`` on ``cards`` workers; returns the final record (rank 0's)."""
    if distributed.under_outer_launcher() or cards == 1:
        record = run_worker(job)
        return record if record is not None else {"status": "success", "run_id": job.run_id}
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if not job.debug:  # the agent's own failure report repeats what the record says
        for name in [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed.elastic")]:
            logging.getLogger(name).setLevel(logging.CRITICAL)  # each sets its own level ($LOGLEVEL)
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=cards, run_id=job.run_id,
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}",
                          max_restarts=0, start_method="spawn", monitor_interval=0.5)
    try:
        elastic_launch(config, _elastic_entry)(asdict(job))
    except (ChildFailedError, SignalException) as exc:
        return _record_after_failure(job, exc)
    return records.load(job.run_dir)


def _record_after_failure(job: Job, exc: BaseException) -> dict:
    """The record once the workers are gone; written here when rank 0 could not say why."""
    record = records.load(job.run_dir)
    if record["status"] != "running":
        return record
    from torch.distributed.elastic.multiprocessing.api import SignalException

    if isinstance(exc, SignalException):
        error = f"stopped by a signal; resume with 'modelzoo run {job.model} --resume {job.run_id}'"
        records.mark_finished(record, "interrupted", error)
    else:
        first = next(iter(exc.failures.values()), None)
        records.mark_finished(record, "failed", f"worker failed: {first.message if first else exc}")
    records.save(record, job.runs_dir)
    return record


def share_run_id(run_id: str) -> str:
    """Every worker of an outer launch takes rank 0's run id."""
    return distributed.broadcast_from_main(run_id)
