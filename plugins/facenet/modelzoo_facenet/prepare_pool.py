"""The worker pool of ``modelzoo prepare facenet``: align chunks of images with MTCNN.

:class:`Runner` runs :class:`Chunk` s of one set: on CPU with more than one worker, in
worker processes (spawned, one detector and one torch thread each, a bounded number of
chunks in flight); otherwise in the calling process, where on CUDA threads decode and
encode around batched detection on the card. :func:`process_chunk` is the work itself: decode, detect, choose
and crop a face (:mod:`modelzoo_facenet.crop`), write each PNG atomically, and say per
image whether it was aligned, centre-cropped or failed (and why).

The prepare job (:mod:`modelzoo_facenet.prepare`) takes inventory, cuts chunks, journals
failures and shows progress. Worker processes unpickle :class:`Chunk` and the worker
functions from this module, whichever module started the job.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from modelzoo.api import UserError
from modelzoo_facenet.crop import center_crop, crop_face, fallback_side, read_image, select_face, write_png_atomic

# The failure reason of an image MTCNN finds no usable face in (failures.txt lists it
# beside those of read_image).
NO_FACE = "no face found"

# One image's outcome: (relative source path, status, reason); status "done", "fallback"
# (centre crop written, reason listed) or "failed".
Result = tuple[str, str, Optional[str]]


def output_rel(ident: str, name: str) -> str:
    """The aligned PNG of ``<ident>/<name>``, relative to the set's output folder."""
    return f"{ident}/{os.path.splitext(name)[0]}.png"


@dataclass(frozen=True)
class Chunk:
    """Images of one set aligned in one detector call (picklable: plain strings and numbers)."""

    raw: str
    out: str
    items: tuple[tuple[str, str], ...]   # (identity, file name)
    size: int
    margin: int
    rule: str
    fallback: bool


# Per worker process: the detector built once by the pool initializer.
_DETECTOR = None


def _worker_init(weights_dir: str, device: str, threads: int) -> None:
    global _DETECTOR
    import torch

    torch.set_num_threads(threads)
    from modelzoo_facenet.mtcnn import MTCNN

    _DETECTOR = MTCNN(weights_dir=weights_dir, device=device)


def _worker_run(chunk: Chunk) -> list[Result]:
    return process_chunk(_DETECTOR, chunk, None)


def process_chunk(detector, chunk: Chunk, pool: Optional[ThreadPoolExecutor]) -> list[Result]:
    """Align one chunk. Returns (relative source path, status, reason) per image with
    status "done", "fallback" (centre crop written, reason listed) or "failed"."""
    raw, out = Path(chunk.raw), Path(chunk.out)
    mapper = pool.map if pool is not None else map
    decoded = list(mapper(lambda it: read_image(raw / it[0] / it[1]), chunk.items))
    results: list[Result] = []
    good = [i for i, (img, _) in enumerate(decoded) if img is not None]
    detections = detector.detect([decoded[i][0] for i in good]) if good else []
    found = dict(zip(good, detections))
    writes: list[tuple[Path, np.ndarray]] = []
    made_dirs: set[str] = set()
    for i, (ident, name) in enumerate(chunk.items):
        rel = f"{ident}/{name}"
        image, reason = decoded[i]
        if image is None:
            results.append((rel, "failed", reason))
            continue
        det = found[i]
        pick = select_face(det, image.shape, chunk.rule)
        crop = None
        if pick is not None:
            try:
                crop = crop_face(image, det.boxes[pick], chunk.margin, chunk.size)
            except ValueError:
                crop = None
        status, why = "done", None
        if crop is None:
            if not chunk.fallback:
                results.append((rel, "failed", NO_FACE))
                continue
            crop = center_crop(image, chunk.size, fallback_side(image.shape, chunk.margin))
            status, why = "fallback", NO_FACE
        if ident not in made_dirs:
            try:
                (out / ident).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"cannot create {out / ident}: {exc.strerror or exc}; check the "
                                "permissions of --data-root") from None
            made_dirs.add(ident)
        writes.append((out / output_rel(ident, name), crop))
        results.append((rel, status, why))
    list(mapper(lambda w: _write_output(*w), writes))
    return results


def _write_output(path: Path, rgb: np.ndarray) -> None:
    try:
        write_png_atomic(path, rgb)
    except OSError as exc:  # disk full, permissions changed under us
        raise UserError(f"cannot write {path}: {exc.strerror or exc}; check the free space and "
                        "permissions of --data-root, then run again (finished images are kept)") from None


class Runner:
    """Runs chunks: a process pool on CPU, or the calling process on CUDA."""

    def __init__(self, weights_dir: Path, device: str, workers: int) -> None:
        self.weights_dir, self.device, self.workers = str(weights_dir), device, workers
        self.pool: Optional[ProcessPoolExecutor] = None
        self.threads: Optional[ThreadPoolExecutor] = None
        self.detector = None

    def __enter__(self) -> Runner:
        if self.device == "cpu" and self.workers > 1:
            import multiprocessing

            # spawn: a forked copy of a process that has used torch threads can hang.
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_init,
                                            initargs=(self.weights_dir, self.device, 1))
        else:
            from modelzoo_facenet.mtcnn import MTCNN

            self.detector = MTCNN(weights_dir=self.weights_dir, device=self.device)
            if self.device != "cpu":
                self.threads = ThreadPoolExecutor(self.workers)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=exc[0] is None, cancel_futures=True)
        if self.threads is not None:
            self.threads.shutdown(wait=True)

    def run(self, chunks: list[Chunk]) -> Iterable[list[Result]]:
        if self.pool is None:
            for chunk in chunks:
                yield process_chunk(self.detector, chunk, self.threads)
            return
        # A bounded number of chunks in flight keeps memory flat on huge sets.
        pending: set[Future] = set()
        queue = iter(chunks)
        for chunk in queue:
            pending.add(self.pool.submit(_worker_run, chunk))
            if len(pending) >= 2 * self.workers:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                yield fut.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(self.pool.submit(_worker_run, nxt))
