"""Start the workers of a run.

- ``--cards 1``: the worker runs in this process.
- ``--cards N``: N worker processes through torch.distributed's elastic launch, one per
  card (local rank -> device), NCCL on CUDA and gloo on the CPU, and no automatic
  restarts: a restarted worker would silently corrupt the timings.
- Under an outer launcher (``torchrun`` or Slurm: ``WORLD_SIZE`` and friends already set)
  this process is one worker of a larger job; the outer launcher's rendezvous is used,
  which is how multi-node runs work (see README, "Several nodes").
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict
from typing import Optional

from modelzoo import records
from modelzoo.api import UserError
from modelzoo.trainer import Job, run_worker

# Slurm's names for what torch.distributed reads, used when srun starts one task per card.
_SLURM_TO_TORCH = {"SLURM_PROCID": "RANK", "SLURM_NTASKS": "WORLD_SIZE", "SLURM_LOCALID": "LOCAL_RANK"}


def outer_world_size() -> int:
    """World size set by an outer launcher (torchrun, Slurm), or 0 when there is none."""
    if "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "MASTER_ADDR" in os.environ:
        for slurm, torch_name in _SLURM_TO_TORCH.items():
            os.environ.setdefault(torch_name, os.environ[slurm])
        os.environ.setdefault("MASTER_PORT", "29500")
        return int(os.environ["WORLD_SIZE"])
    return 0


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


def _elastic_entry(job_fields: dict) -> Optional[dict]:
    return run_worker(Job(**job_fields))


def launch(job: Job, cards: int) -> dict:
    """Run ``job`` on ``cards`` workers; returns the final record."""
    if outer_world_size() > 0 or cards == 1:
        record = run_worker(job)
        return record if record is not None else {"status": "success", "run_id": job.run_id}
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=cards, run_id=job.run_id,
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{_free_port()}",
                          max_restarts=0, start_method="spawn", monitor_interval=0.5)
    try:
        elastic_launch(config, _elastic_entry)(asdict(job))
    except ChildFailedError as exc:
        record = records.load(job.run_dir)
        if record["status"] == "running":  # rank 0 died before it could say why
            first = next(iter(exc.failures.values()), None)
            record.update(status="failed", finished=records.utc_now(),
                          error=f"worker failed: {first.message if first else exc}")
            records.save(record, job.runs_dir)
        return record
    return records.load(job.run_dir)


def init_outer_worker(device: str) -> tuple[int, int]:
    """Join an outer launcher's process group early, so rank 0 can share the run id."""
    import torch
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if device == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo",
                                device_id=torch.device("cuda", local_rank) if device == "cuda" else None)
    return rank, int(os.environ["WORLD_SIZE"])


def share_run_id(run_id: str) -> str:
    """Every worker of an outer launch takes rank 0's run id."""
    import torch.distributed as dist

    box = [run_id]
    dist.broadcast_object_list(box, src=0)
    return box[0]
