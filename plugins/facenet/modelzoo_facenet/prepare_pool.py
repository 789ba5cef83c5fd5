"""The worker pool of ``modelzoo prepare facenet``: align chunks of images with MTCNN.

:class:`Runner` runs :class:`Chunk` s of one set: on CPU with more than one worker, in
worker processes (spawned, one detector and one torch thread each, a bounded number of
chunks in flight); otherwise in the calling process, where on CUDA threads decode and
encode around batched detection on the card. :func:`process_chunk` is the work itself: decode, detect
once, choose a face, and from that one detection write every :class:`Output` the image
still lacks: the box crop (:mod:`modelzoo_facenet.crop`) and the crops aligned from the
same face's five landmarks (:mod:`modelzoo_facenet.align`), each PNG atomically; it says
per image and output whether it was written, centre-cropped or failed (and why).

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

from modelzoo.contract.api import UserError
from modelzoo.toolkit import stopping
from modelzoo_facenet.align import AlignmentError, align_face, fallback_landmarks
from modelzoo_facenet.crop import center_crop, crop_face, fallback_side, read_image, select_face, write_png_atomic

# The failure reason of an image MTCNN finds no usable face in (failures.txt lists it
# beside those of read_image).
NO_FACE = "no face found"

# The reason for an aligned output of an image whose face is found but whose landmarks
# cannot be aligned; align's AlignmentError says why after the colon.
NO_LANDMARKS = "face found but landmarks unusable"

# One output's outcome: (output index, status, reason); status "done", "fallback"
# (centre crop written, reason listed) or "failed". One image's: (relative source path,
# the outcomes of the outputs it was asked for).
Outcome = tuple[int, str, Optional[str]]
Result = tuple[str, tuple[Outcome, ...]]


def output_rel(ident: str, name: str) -> str:
    """The aligned PNG of ``<ident>/<name>``, relative to the set's output folder."""
    return f"{ident}/{os.path.splitext(name)[0]}.png"


@dataclass(frozen=True)
class Output:
    """One output set: a box crop (``margin`` given) or a crop aligned on the landmark
    template of ``size`` (``margin`` None)."""

    out: str                      # folder of identity folders
    size: tuple[int, int]         # (height, width)
    margin: Optional[int] = None  # source pixels around the face box; None: aligned


@dataclass(frozen=True)
class Chunk:
    """Images of one set aligned in one detector call (picklable: plain strings and numbers)."""

    raw: str
    outputs: tuple[Output, ...]
    items: tuple[tuple[str, str, tuple[int, ...]], ...]   # (identity, file name, outputs to write)
    rule: str
    fallback: bool


# Per worker process: the detector built once by the pool initializer.
_DETECTOR = None


def _worker_init(weights_dir: str, device: str, threads: int) -> None:
    global _DETECTOR
    stopping.pool_worker_start()  # dies with the job; the job stops it on Ctrl-C or SIGTERM
    import torch

    torch.set_num_threads(threads)
    from modelzoo_facenet.mtcnn import MTCNN

    _DETECTOR = MTCNN(weights_dir=weights_dir, device=device)


def _worker_run(chunk: Chunk) -> list[Result]:
    with stopping.pool_task():
        return process_chunk(_DETECTOR, chunk, None)


def _make(image: np.ndarray, det, pick: Optional[int], spec: Output
          ) -> tuple[Optional[np.ndarray], Optional[str]]:
    """The crop of one output from the detection, or (None, reason)."""
    if pick is None:
        return None, NO_FACE
    if spec.margin is not None:
        try:
            return crop_face(image, det.boxes[pick], spec.margin, spec.size[0]), None
        except ValueError:  # the box lies outside the image
            return None, NO_FACE
    marks = getattr(det, "landmarks", None)
    points = marks[pick] if marks is not None and pick < len(marks) else None
    try:
        return align_face(image, points, spec.size), None
    except AlignmentError as exc:
        return None, f"{NO_LANDMARKS}: {exc}"


def _fallback(image: np.ndarray, spec: Output) -> np.ndarray:
    if spec.margin is not None:
        return center_crop(image, spec.size[0], fallback_side(image.shape, spec.margin))
    return align_face(image, fallback_landmarks(image.shape), spec.size)


def process_chunk(detector, chunk: Chunk, pool: Optional[ThreadPoolExecutor]) -> list[Result]:
    """Align one chunk: MTCNN once per image, then each output the item asks for.

    Returns per image (relative source path, ((output index, status, reason), ...)) with
    status "done", "fallback" (centre crop written, reason listed) or "failed".
    """
    raw = Path(chunk.raw)
    mapper = pool.map if pool is not None else map
    decoded = list(mapper(lambda it: read_image(raw / it[0] / it[1]), chunk.items))
    results: list[Result] = []
    good = [i for i, (img, _) in enumerate(decoded) if img is not None]
    detections = detector.detect([decoded[i][0] for i in good]) if good else []
    found = dict(zip(good, detections))
    writes: list[tuple[Path, np.ndarray]] = []
    made_dirs: set[Path] = set()
    for i, (ident, name, needs) in enumerate(chunk.items):
        rel = f"{ident}/{name}"
        image, reason = decoded[i]
        if image is None:
            results.append((rel, tuple((k, "failed", reason) for k in needs)))
            continue
        det = found[i]
        pick = select_face(det, image.shape, chunk.rule)
        outcomes: list[Outcome] = []
        for k in needs:
            spec = chunk.outputs[k]
            crop, why = _make(image, det, pick, spec)
            status = "done"
            if crop is None:
                if not chunk.fallback:
                    outcomes.append((k, "failed", why))
                    continue
                crop, status = _fallback(image, spec), "fallback"
            folder = Path(spec.out) / ident
            if folder not in made_dirs:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise UserError(f"cannot create {folder}: {exc.strerror or exc}; check the "
                                    "permissions of --data-root") from None
                made_dirs.add(folder)
            writes.append((Path(spec.out) / output_rel(ident, name), crop))
            outcomes.append((k, status, why))
        results.append((rel, tuple(outcomes)))
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
            if exc[0] is None:
                self.pool.shutdown(wait=True)
            else:  # a stop signal or an error: no worker may write on after the job has ended
                stopping.stop_pool(self.pool)
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
            with stopping.children_ignore_sigint():  # a submit may start a worker
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
