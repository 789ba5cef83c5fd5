"""Resident training data: the decoded set in the memory of the device that trains.

With a decoded-image cache (:class:`modelzoo.toolkit.imagedata.CachedDataset`, uint8 images in a
memmap), every step of the loader path still reads a batch from the page cache, stacks it
on the host and copies it to the card. Here the whole set is copied once, in NCHW order,
to where the step runs, and each step is one gather there:

- ``card``: card memory, when the set fits :data:`CARD_FRACTION` of the free card memory
  (measured after the model and optimizer exist; the rest is left to activations);
- ``pinned``: pinned host memory when it does not fit the card (CUDA): a background thread
  gathers each batch on the host and copies it on a side stream, a few batches ahead;
- ``host``: host RAM when the run is on a CPU.

The host budget is :data:`HOST_FRACTION` of the available RAM (``MemAvailable``), shared
by the workers of the host (each holds its own copy). Sampling is the loader's: the batches
of indices come from the same ``BatchStream``, so for a given seed and start step the
batches equal what ``DataLoader(dataset, batch_sampler=stream)`` + ``to_device`` gives,
bit for bit (uint8 images N x 3 x H x W, int64 labels, as a ``[images, labels]`` list).
Crop, flip and jitter stay the plugin's ``device_transform``, which the step runs on the
batch's device.

Public API::

    choose(mode, data, device, *, workers_on_host=1, card_budget=None, host_budget=None)
        -> (ResidentBatches | None, record dict)       # what the trainer calls
    place(dataset, device, *, collate_fn=None, ...) -> Placement   # the decision alone
    ResidentBatches.from_dataset(dataset, device, budget_bytes=None, ...) -> ResidentBatches | None
    ResidentBatches.iter_batches(batch_stream) -> iterator of [uint8 images, int64 labels]
    ResidentBatches.loader(batch_stream) -> iterable: a drop-in for the trainer's DataLoader
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from modelzoo.contract.api import UserError
from modelzoo.toolkit.imagedata import CachedDataset

CARD_FRACTION = 0.5   # of free card memory: the set may take half, activations need the rest
HOST_FRACTION = 0.5   # of available host RAM, divided among the host's workers
INDEX_CHUNK = 64      # batches of indices taken from the stream and moved to the device at once
PREFETCH = 3          # pinned path: batches gathered and copied ahead of the step
_LOAD_CHUNK_BYTES = 256 * 2**20  # memmap -> resident copy in pieces (no second full copy)

WHERE = {"card": "{device} memory", "pinned": "pinned host RAM, copied to {device} ahead",
         "host": "cpu RAM"}


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def available_ram_bytes() -> int:
    """RAM the kernel could give without swapping (``MemAvailable``); total RAM where unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def free_card_bytes(device: torch.device) -> int:
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


@dataclass(frozen=True)
class Placement:
    """Where the set would live (``card``, ``pinned``, ``host``, or None: not resident)."""

    where: Optional[str]
    nbytes: int
    budget_bytes: int
    reason: str
    device: str = "cpu"

    def record(self) -> dict:
        """The record's ``resident_data`` entry."""
        entry = {"resident": self.where is not None, "bytes": self.nbytes, "budget_bytes": self.budget_bytes,
                 "reason": self.reason}
        if self.where is not None:
            entry["where"] = WHERE[self.where].format(device=self.device)
        return entry


def refusal(dataset, collate_fn: Optional[Callable]) -> Optional[str]:
    """Why ``dataset`` cannot be made resident whatever the memory, or None."""
    if not isinstance(dataset, CachedDataset):
        return (f"the training set ({type(dataset).__name__}) is not a decoded-image cache "
                "(modelzoo.toolkit.imagedata.CachedDataset; the facenet plugin's data.decoded_cache=true)")
    kind = type(dataset)
    if kind.__getitem__ is not CachedDataset.__getitem__ or kind.__getitems__ is not CachedDataset.__getitems__:
        return f"{kind.__name__} changes CachedDataset's items; the resident copy could differ from them"
    if collate_fn is not None:
        return "the plugin collates batches itself (TrainData.collate_fn)"
    if dataset.images.ndim != 4 or dataset.images.shape[-1] != 3 or dataset.images.dtype != np.uint8:
        return f"the cache holds {dataset.images.dtype} {tuple(dataset.images.shape)}, not uint8 N x H x W x 3"
    return None


def resident_bytes(dataset: CachedDataset) -> int:
    return int(dataset.images.nbytes) + 8 * len(dataset.labels)


def place(dataset, device: torch.device | str, *, collate_fn: Optional[Callable] = None,
          card_budget: Optional[int] = None, host_budget: Optional[int] = None,
          workers_on_host: int = 1) -> Placement:
    """Decide where ``dataset`` lives; budgets default to :data:`CARD_FRACTION` of free card
    memory and :data:`HOST_FRACTION` of available RAM / ``workers_on_host``."""
    device = torch.device(device)
    why_not = refusal(dataset, collate_fn)
    if why_not:
        return Placement(None, 0, 0, why_not, str(device))
    need = resident_bytes(dataset)
    host_note = f"{HOST_FRACTION:.0%} of available RAM / {workers_on_host} worker(s)"
    if host_budget is None:
        host_budget = int(available_ram_bytes() * HOST_FRACTION / max(1, workers_on_host))
        host_note = f"{host_note} on this host"
    else:
        host_note = "given"
    if device.type == "cuda":
        card_note = f"{CARD_FRACTION:.0%} of free memory on {device}"
        if card_budget is None:
            card_budget = int(free_card_bytes(device) * CARD_FRACTION)
        else:
            card_note = "given"
        if need <= card_budget:
            return Placement("card", need, card_budget, f"the decoded set ({_gib(need)}) fits the card budget "
                             f"({_gib(card_budget)}, {card_note})", str(device))
        if need <= host_budget:
            return Placement("pinned", need, host_budget, f"the decoded set ({_gib(need)}) exceeds the card "
                             f"budget ({_gib(card_budget)}, {card_note}) and fits pinned host RAM "
                             f"({_gib(host_budget)}, {host_note})", str(device))
        return Placement(None, need, card_budget, f"the decoded set ({_gib(need)}) exceeds both the card budget "
                         f"({_gib(card_budget)}, {card_note}) and the host budget ({_gib(host_budget)}, "
                         f"{host_note})", str(device))
    if device.type != "cpu":
        return Placement(None, need, 0, f"resident data supports cuda and cpu devices, not {device.type}",
                         str(device))
    if need <= host_budget:
        return Placement("host", need, host_budget, f"the decoded set ({_gib(need)}) fits the RAM budget "
                         f"({_gib(host_budget)}, {host_note})", str(device))
    return Placement(None, need, host_budget, f"the decoded set ({_gib(need)}) exceeds the RAM budget "
                     f"({_gib(host_budget)}, {host_note})", str(device))


class ResidentBatches:
    """The decoded set as one uint8 N x 3 x H x W tensor (plus int64 labels) where it was placed."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, device: torch.device, where: str,
                 load_s: float = 0.0):
        self.images = images
        self.labels = labels
        self.device = torch.device(device)
        self.where = where
        self.load_s = load_s

    @property
    def nbytes(self) -> int:
        return self.images.numel() * self.images.element_size() + self.labels.numel() * 8

    @classmethod
    def from_dataset(cls, dataset, device: torch.device | str, budget_bytes: Optional[int] = None, *,
                     host_budget_bytes: Optional[int] = None, collate_fn: Optional[Callable] = None,
                     log: Optional[Callable[[str], None]] = None) -> Optional[ResidentBatches]:
        """Load ``dataset`` where :func:`place` puts it (``budget_bytes``: the card budget on
        CUDA, the RAM budget on a CPU); None, with the reason given to ``log``, when it cannot."""
        device = torch.device(device)
        budgets = ({"card_budget": budget_bytes, "host_budget": host_budget_bytes} if device.type == "cuda"
                   else {"host_budget": budget_bytes if budget_bytes is not None else host_budget_bytes})
        placement = place(dataset, device, collate_fn=collate_fn, **budgets)
        if placement.where is None:
            if log:
                log(f"resident data: no ({placement.reason})")
            return None
        return cls.load(dataset, device, placement.where)

    @classmethod
    def load(cls, dataset: CachedDataset, device: torch.device | str, where: str) -> ResidentBatches:
        """Copy the memmap into ``where`` (``card``, ``pinned`` or ``host``; ``pinned`` on a CPU
        device is plain RAM with the prefetch thread, which is how its logic is tested here)."""
        device = torch.device(device)
        started = time.perf_counter()
        source = dataset.images
        n, h, w, c = source.shape
        on_card = where == "card"
        pin = where == "pinned" and device.type == "cuda"
        images = torch.empty((n, c, h, w), dtype=torch.uint8, device=device if on_card else "cpu",
                             pin_memory=pin)
        per = max(1, _LOAD_CHUNK_BYTES // max(1, h * w * c))
        for start in range(0, n, per):
            block = torch.from_numpy(np.array(source[start:start + per]))  # a writable copy of the piece
            if on_card:
                block = block.to(device)  # permute on the card: the host only streams bytes
            images[start:start + per].copy_(block.permute(0, 3, 1, 2))
        labels = torch.as_tensor(np.asarray(dataset.labels, dtype=np.int64))
        labels = labels.to(device) if on_card else (labels.pin_memory() if pin else labels)
        if on_card:
            torch.cuda.synchronize(device)
        return cls(images, labels, device, where, time.perf_counter() - started)

    # --- Batches ---------------------------------------------------------------------

    def loader(self, batch_stream: Iterable) -> _Loader:
        """An iterable of batches over ``batch_stream``: what the trainer iterates in place of
        its DataLoader (``to_device`` then leaves the batches where they are)."""
        return _Loader(self, batch_stream)

    def iter_batches(self, batch_stream: Iterable) -> Iterator[list]:
        """``[uint8 images N x 3 x H x W, int64 labels]`` on the device for each batch of
        indices of ``batch_stream``, as the loader over the cache would give them."""
        if self.where == "pinned":
            return self._prefetched(batch_stream)
        return self._gathered(batch_stream)

    def _index_chunks(self, batch_stream: Iterable) -> Iterator[tuple[torch.Tensor, list[int]]]:
        """Up to :data:`INDEX_CHUNK` batches of indices at a time, flattened into one int64
        tensor on the device (one small copy per chunk, not per step), with batch lengths."""
        batches = iter(batch_stream)
        while True:
            chunk = [list(b) for b in _take(batches, INDEX_CHUNK)]
            if not chunk:
                return
            flat = torch.as_tensor([i for b in chunk for i in b], dtype=torch.int64)
            if self.device.type == "cuda":
                flat = flat.pin_memory().to(self.device, non_blocking=True)
            yield flat, [len(b) for b in chunk]

    def _gathered(self, batch_stream: Iterable) -> Iterator[list]:
        for flat, lengths in self._index_chunks(batch_stream):
            labels = self.labels.index_select(0, flat)  # one launch for the chunk's labels
            offset = 0
            for length in lengths:
                picked = flat[offset:offset + length]
                yield [self.images.index_select(0, picked), labels[offset:offset + length]]
                offset += length

    def _prefetched(self, batch_stream: Iterable) -> Iterator[list]:
        """Host gather + copy on a side stream in a thread, :data:`PREFETCH` batches ahead.

        The caching host allocator keeps each pinned staging block until the copy that
        reads it has finished, so staging needs no bookkeeping here.
        """
        cuda = self.device.type == "cuda"
        copy_stream = torch.cuda.Stream(self.device) if cuda else None
        ready: queue.Queue = queue.Queue(maxsize=PREFETCH)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                if cuda:
                    torch.cuda.set_device(self.device)
                for batch in batch_stream:
                    index = torch.as_tensor(list(batch), dtype=torch.int64)
                    images = torch.empty((len(index),) + tuple(self.images.shape[1:]), dtype=torch.uint8,
                                         pin_memory=cuda)
                    torch.index_select(self.images, 0, index, out=images)
                    labels = self.labels.index_select(0, index)
                    event = None
                    if cuda:
                        with torch.cuda.stream(copy_stream):
                            images = images.to(self.device, non_blocking=True)
                            labels = labels.pin_memory().to(self.device, non_blocking=True)
                            event = torch.cuda.Event()
                            event.record(copy_stream)
                    if not put((images, labels, event)):
                        return
            except BaseException as exc:  # re-raised in the training loop
                put(exc)
                return
            put(None)

        thread = threading.Thread(target=produce, name="modelzoo-resident-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                images, labels, event = item
                if event is not None:
                    current = torch.cuda.current_stream(self.device)
                    current.wait_event(event)
                    # allocated on the copy stream, used on this one: not reused before it is done
                    images.record_stream(current)
                    labels.record_stream(current)
                yield [images, labels]
        finally:
            stop.set()
            thread.join(timeout=5)


class _Loader:
    def __init__(self, batches: ResidentBatches, batch_stream: Iterable):
        self.batches = batches
        self.batch_stream = batch_stream

    def __iter__(self) -> Iterator[list]:
        return self.batches.iter_batches(self.batch_stream)


def _take(iterator: Iterator, count: int) -> list:
    out = []
    for item in iterator:
        out.append(item)
        if len(out) == count:
            break
    return out


def choose(mode: str, data, device: torch.device | str, *, workers_on_host: int = 1,
           card_budget: Optional[int] = None, host_budget: Optional[int] = None,
           log: Optional[Callable[[str], None]] = None) -> tuple[Optional[ResidentBatches], dict]:
    """``train.resident`` for the plugin's ``TrainData``: the loaded set (or None) and the
    record's entry. ``auto``: resident where it fits; ``on``: a UserError naming the reason
    where it cannot; ``off``: the loader path."""
    if mode == "off":
        return None, {"resident": False, "reason": "train.resident=off"}
    placement = place(data.dataset, device, collate_fn=data.collate_fn, card_budget=card_budget,
                      host_budget=host_budget, workers_on_host=workers_on_host)
    record = placement.record()
    record["reason"] = f"train.resident={mode}: {placement.reason}"
    if placement.where is None:
        if mode == "on":
            raise UserError(f"train.resident=on, but the training data cannot be resident: {placement.reason}; "
                            "use --set train.resident=auto (or off)")
        if log:
            log(f"resident data: no ({placement.reason})")
        return None, record
    batches = ResidentBatches.load(data.dataset, device, placement.where)
    record["load_s"] = round(batches.load_s, 3)
    if log:
        log(f"resident data: {record['where']}, {_gib(placement.nbytes)} loaded in {batches.load_s:.1f}s "
            f"({placement.reason})")
    return batches, record
