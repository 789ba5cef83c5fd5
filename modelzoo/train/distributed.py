"""Who am I in the job: rank, local rank, world size, and the process group.

One module owns it. A job's workers come from one of three places:

- ``modelzoo run --cards N`` starts them (torch.distributed's elastic launch sets
  ``RANK``/``LOCAL_RANK``/``WORLD_SIZE``/``LOCAL_WORLD_SIZE``);
- an outer ``torchrun`` sets the same variables;
- Slurm's ``srun`` sets ``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID`` (with
  ``MASTER_ADDR`` exported by the job script).

:func:`topology` reads them (a pure query); :func:`init_process_group` joins the group
once (NCCL on CUDA, gloo on the CPU); the small collectives the core uses live here too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Optional

# Slurm's names for what torch.distributed reads, used when srun starts one task per card.
_SLURM_TO_TORCH = {"SLURM_PROCID": "RANK", "SLURM_NTASKS": "WORLD_SIZE", "SLURM_LOCALID": "LOCAL_RANK",
                   "SLURM_NTASKS_PER_NODE": "LOCAL_WORLD_SIZE"}
DEFAULT_MASTER_PORT = "29500"


@dataclass(frozen=True)
class Topology:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    launcher: str = "none"  # none | torchrun (or modelzoo's own launch) | slurm

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def topology(environ: Optional[Mapping[str, str]] = None) -> Topology:
    """This process's place in the job, from the environment (changes nothing)."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" in env:
        return Topology(rank=int(env.get("RANK", "0")), local_rank=int(env.get("LOCAL_RANK", "0")),
                        world_size=int(env["WORLD_SIZE"]),
                        local_world_size=int(env.get("LOCAL_WORLD_SIZE", "1")), launcher="torchrun")
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "MASTER_ADDR" in env:
        per_node = env.get("SLURM_NTASKS_PER_NODE", "1").split("(")[0]
        return Topology(rank=int(env["SLURM_PROCID"]), local_rank=int(env.get("SLURM_LOCALID", "0")),
                        world_size=int(env["SLURM_NTASKS"]), local_world_size=int(per_node or 1),
                        launcher="slurm")
    return Topology()


def under_outer_launcher(environ: Optional[Mapping[str, str]] = None) -> bool:
    """True when torchrun or Slurm started this process as one worker of a larger job."""
    env = os.environ if environ is None else environ
    return "WORLD_SIZE" in env or topology(env).launcher == "slurm"


def slurm_facts(environ: Optional[Mapping[str, str]] = None) -> Optional[dict]:
    """The Slurm job this process runs in, for the record's ``env.slurm`` (job id, name,
    partition, node list...); None outside a Slurm job."""
    env = os.environ if environ is None else environ
    job_id = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID")
    if not job_id:
        return None
    names = {"job_name": "SLURM_JOB_NAME", "partition": "SLURM_JOB_PARTITION", "nodes": "SLURM_JOB_NODELIST",
             "num_nodes": "SLURM_JOB_NUM_NODES", "account": "SLURM_JOB_ACCOUNT", "cluster": "SLURM_CLUSTER_NAME",
             "gpus_per_node": "SLURM_GPUS_PER_NODE", "submit_host": "SLURM_SUBMIT_HOST"}
    facts: dict = {"job_id": job_id}
    facts.update({name: env[var] for name, var in names.items() if env.get(var)})
    if str(facts.get("num_nodes", "")).isdigit():
        facts["num_nodes"] = int(facts["num_nodes"])
    return facts


def _export_slurm(place: Topology) -> None:
    """torch.distributed's env:// rendezvous reads the torchrun names; give them Slurm's values."""
    os.environ.setdefault("RANK", str(place.rank))
    os.environ.setdefault("LOCAL_RANK", str(place.local_rank))
    os.environ.setdefault("WORLD_SIZE", str(place.world_size))
    os.environ.setdefault("MASTER_PORT", DEFAULT_MASTER_PORT)


def is_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


# Why torch runs the compute threads it runs, for the record (env.cpu_threads_chosen_by).
_threads_chosen_by: Optional[str] = None
_torch_default_threads: Optional[int] = None  # before the first choice: later runs in this process start from it


def share_cpu_threads(local_workers: int, busy_cores: Optional[Callable[[], float]] = None) -> int:
    """Choose this CPU worker's compute threads; returns the count.

    - ``OMP_NUM_THREADS`` set: the user's choice, untouched.
    - N workers on this host: each takes cores / N, or N x N threads' barriers stall on
      each other.
    - One worker: one thread per core that no other process is using at the start (0.3 s). A
      thread whose core another process takes holds every operator at its barrier: two
      threads next to one busy neighbour on the 2-core Xeon ran the demo step at 179
      images/s, one thread at 743, two on the quiet machine at 1,131 (docs/BENCHMARKS.md,
      "CPU threads").
    """
    import torch

    global _threads_chosen_by, _torch_default_threads
    if _torch_default_threads is None:
        _torch_default_threads = torch.get_num_threads()
    if "OMP_NUM_THREADS" in os.environ:
        _threads_chosen_by = "OMP_NUM_THREADS"
        return torch.get_num_threads()
    cores = usable_cores()
    if local_workers > 1:
        torch.set_num_threads(max(1, cores // local_workers))
        _threads_chosen_by = f"{cores} cores shared by {local_workers} workers"
        return torch.get_num_threads()
    busy = (busy_cores or cores_busy_elsewhere)()
    threads = threads_for_free_cores(busy)
    torch.set_num_threads(threads)
    _threads_chosen_by = (f"{_free_cores(busy, cores)} of {cores} cores free at the start (other processes used "
                          f"{busy:.1f}); set OMP_NUM_THREADS to choose")
    return threads


def _free_cores(busy: float, cores: int) -> int:
    return max(1, min(cores, int(cores - busy + 0.5)))  # a core counts as taken from half its time


def threads_for_free_cores(busy: float) -> int:
    """A one-worker CPU run's compute threads when other processes use ``busy`` cores' worth of
    our CPUs: one per free core, never more than torch's own default (at the start and when
    :class:`modelzoo.train.cputhreads.ThreadWatch` looks again)."""
    import torch

    default = _torch_default_threads if _torch_default_threads is not None else torch.get_num_threads()
    return min(default, _free_cores(busy, usable_cores()))


def threads_chosen_by() -> Optional[str]:
    """How :func:`share_cpu_threads` chose (None before it ran)."""
    return _threads_chosen_by


def usable_cores() -> int:
    return len(our_cpus())


def our_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity; every CPU where that is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0)) or [0]
    return list(range(os.cpu_count() or 1))


def cores_busy_elsewhere(seconds: float = 0.1, samples: int = 3) -> float:
    """Cores' worth of time this process's CPUs were busy while it slept: the least of
    ``samples`` intervals, so that a burst (the kernel writing back the files a previous
    run left, a process exiting) does not count as a neighbour that stays. Only our CPUs
    count: on a host pinned to 2 of 16 cores, the other 14 are not ours to share."""
    import psutil

    cpus = our_cpus()

    def busy() -> float:
        percent = psutil.cpu_percent(interval=seconds, percpu=True)
        return sum(percent[cpu] for cpu in cpus if cpu < len(percent)) / 100

    return min(busy() for _ in range(samples))


def init_process_group(device: str) -> Topology:
    """Join the job's process group (once; a no-op for one worker) and return this worker's place."""
    import torch
    import torch.distributed as dist

    place = topology()
    if device == "cpu":
        share_cpu_threads(place.local_world_size)
    if place.world_size > 1 and not is_initialized():
        if place.launcher == "slurm":
            _export_slurm(place)
        if device == "cuda":
            torch.cuda.set_device(place.local_rank)
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo",
                                device_id=torch.device("cuda", place.local_rank) if device == "cuda" else None)
    return place


def barrier() -> None:
    if is_initialized():
        import torch.distributed as dist

        dist.barrier()


def sum_over_ranks(value: float) -> float:
    """``value`` summed over every worker (itself with one)."""
    if not is_initialized():
        return value
    import torch
    import torch.distributed as dist

    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    box = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(box)
    return float(box.item())


def gather_objects(value):
    """Every worker's ``value``, in rank order (``[value]`` with one worker)."""
    if not is_initialized():
        return [value]
    import torch.distributed as dist

    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def broadcast_from_main(value):
    """Rank 0's ``value`` on every worker."""
    if not is_initialized():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_gradients_in_rank_order(ddp_model) -> None:
    """Make a gloo DDP model's gradient sum independent of its bucket layout, so that a resumed run
    ends with the weights of one never stopped.

    DDP lays its gradient buckets out anew after the first step of every (re)start, and gloo's
    ring all-reduce adds the ranks' values in an order that follows an element's place in its
    bucket: with more than two ranks (a + b + c is not c + a + b in floats) the first step after a
    resume rounded differently from the uninterrupted run's (test_eight_rank_faults.py). Here
    every rank gathers the others' buckets and adds them in rank order, whatever the layout. It
    moves world-size times the data of an all-reduce: for the CPU, where runs of more than two
    ranks are tests of the machinery (``--oversubscribe``), not benchmarks; CUDA keeps NCCL's
    all-reduce.
    """
    import torch
    import torch.distributed as dist

    def hook(state, bucket):
        mine = bucket.buffer()
        parts = [torch.empty_like(mine) for _ in range(dist.get_world_size())]

        def add_in_rank_order(future):
            total = parts[0].clone()
            for part in parts[1:]:
                total += part
            return total.div_(len(parts))

        return dist.all_gather(parts, mine, async_op=True).get_future().then(add_in_rank_order)

    ddp_model.register_comm_hook(None, hook)


def shutdown() -> None:
    if is_initialized():
        import torch.distributed as dist

        dist.destroy_process_group()
