"""The ``modelzoo prepare facenet`` job: align raw face data sets with MTCNN.

Aligns raw CASIA-WebFace and/or LFW folders (``RAW/<identity>/<image>``) into the layout
the recipe reads, one face per image detected and cropped as davidsandberg/facenet does
(docs/PROTOCOLS.md#face-alignment; :mod:`modelzoo_facenet.crop`)::

    <data_root>/webface_182_44/<identity>/<stem>.png     (--casia-size/--casia-margin)
    <data_root>/webface_112x112/<identity>/<stem>.png    (--aligned 112x112)
    <data_root>/webface_112x96/<identity>/<stem>.png     (--aligned 112x96)
    <data_root>/lfw_data/lfw_160/<person>/<stem>.png      (--lfw-size)
    <data_root>/lfw_data/lfw_112x112/<person>/<stem>.png  (--aligned 112x112)
    <data_root>/lfw_data/lfw_112x96/<person>/<stem>.png   (--aligned 112x96)
    <data_root>/lfw_data/pairs.txt  (+ people.txt when it sits beside pairs.txt)
    <set dir>/failures.txt          relative path <TAB> reason, one line per image

The box crops (182/160, davidsandberg's margin around the face box) feed FaceNet; the
aligned crops (the similarity transform of MTCNN's five landmarks onto the ArcFace
112x112 template or its 112x96 SphereFace/CosFace version, :mod:`modelzoo_facenet.align`)
feed ArcFace and CosFace. ``--aligned`` picks them: ``all`` (the default: one
``prepare`` serves every face model), a comma-separated list such as ``112x96``, or
``none`` (only the box crops, the command's output before the aligned sets existed).
MTCNN runs once per image for all of them: every output comes from the same detection
(the face box and its landmarks). An image is done when all its outputs exist; a rerun
with more sizes detects again only for the images that lack one, and writes only what
is missing (finished PNGs are never rewritten).

It runs MTCNN in worker processes (one detector and one torch thread each) or, on CUDA,
in one process that batches on the card while threads decode and encode
(:mod:`modelzoo_facenet.prepare_pool`); this module is the job around it: options,
inventory, LFW pairs, the failures journal and progress. It is
resumable: an image whose PNG exists is skipped, each PNG is written to a temporary
name and renamed into place, and stray temporary files of a killed run are removed.
An image without a face is listed in ``failures.txt`` and skipped, or, with
``--center-crop-failures``, replaced by a centre crop (and still listed; aligned sets get
a crop framed where LFW's faces sit, :func:`modelzoo_facenet.align.fallback_landmarks`).
An image whose face is found but whose landmarks cannot be aligned (missing, collinear)
is listed in the aligned sets' ``failures.txt`` with the reason. A corrupt or foreign
file is listed and never stops the job.

Entry points: :func:`add_prepare_arguments` and :func:`run_prepare` (the plugin's
``prepare`` hook), :func:`main` (``python -m modelzoo_facenet.prepare``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from modelzoo.contract.api import PrepareResult, UserError, int_at_least
from modelzoo.toolkit.runtime import DEVICES, ProgressLine, choose_device, writable_dir
from modelzoo_facenet.align import ALIGNED_OPTION, ALL, NONE, aligned_dir, parse_sizes, size_name
from modelzoo_facenet.crop import FACE_RULES, TMP_SUFFIX
from modelzoo_facenet.prepare_pool import Chunk, Output, Runner, output_rel

# A failure reason of the job, written to failures.txt beside those of read_image and
# the pool's NO_FACE.
DUPLICATE = "duplicate name (another file in the folder has the same stem)"

FAILURES_NAME = "failures.txt"


# --- Options --------------------------------------------------------------------------

def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_positive_int = int_at_least(1)
_non_negative_int = int_at_least(0)


DEFAULTS: dict[str, Any] = {
    "casia": None,
    "lfw": None,
    "lfw_pairs": None,
    "workers": None,          # None: the CPUs this process may use
    "device": "auto",
    "mtcnn_weights": None,
    "face_rule": "center",
    "casia_size": 182,
    "casia_margin": 44,
    "lfw_size": 160,
    "lfw_margin": 32,
    "center_crop_failures": False,
    "aligned": ALL,           # aligned sizes: "all", "none" or e.g. "112x112,112x96"
    "batch_size": None,       # None: 32 images per detector call on CPU, 256 on CUDA
    "limit": None,
}


def _aligned_sizes(text: str) -> tuple[tuple[int, int], ...]:
    try:
        return parse_sizes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``modelzoo prepare facenet`` (the core adds ``--data-root``)."""
    g = parser.add_argument_group("raw inputs")
    g.add_argument("--casia", metavar="RAW_DIR",
                   help="raw CASIA-WebFace: one folder per identity holding its images; "
                        "aligned into <data-root>/webface_<size>_<margin>")
    g.add_argument("--lfw", metavar="RAW_DIR",
                   help="raw LFW: one folder per person (or a folder holding that, such as "
                        "lfw/ with images_deepfunneled/ and pairs.txt); aligned into "
                        "<data-root>/lfw_data/lfw_<size>")
    g.add_argument("--lfw-pairs", metavar="FILE",
                   help="LFW pairs.txt, copied to <data-root>/lfw_data/pairs.txt "
                        "(default: pairs.txt in RAW_DIR or its parent)")
    g = parser.add_argument_group("alignment")
    g.add_argument("--face-rule", choices=FACE_RULES, default=DEFAULTS["face_rule"],
                   help="which face to keep when MTCNN finds several: center (davidsandberg: "
                        "big and near the centre), largest, probable (default: center)")
    g.add_argument("--casia-size", type=_positive_int, default=DEFAULTS["casia_size"], metavar="PX",
                   help="output size of the CASIA crops (default: 182)")
    g.add_argument("--casia-margin", type=_non_negative_int, default=DEFAULTS["casia_margin"], metavar="PX",
                   help="margin around the CASIA face box, source pixels (default: 44)")
    g.add_argument("--lfw-size", type=_positive_int, default=DEFAULTS["lfw_size"], metavar="PX",
                   help="output size of the LFW crops (default: 160)")
    g.add_argument("--lfw-margin", type=_non_negative_int, default=DEFAULTS["lfw_margin"], metavar="PX",
                   help="margin around the LFW face box, source pixels (default: 32)")
    g.add_argument(ALIGNED_OPTION, type=_aligned_sizes, default=DEFAULTS["aligned"], metavar="SIZES",
                   help="also write crops aligned from MTCNN's five landmarks (ArcFace 112x112, "
                        "SphereFace/CosFace 112x96) into <set>_112x112 / <set>_112x96: all, none, "
                        "or a comma-separated list such as 112x96 (default: all)")
    g.add_argument("--center-crop-failures", action="store_true",
                   help="write a centre crop for an image without a face instead of skipping "
                        "it (it is still listed in failures.txt)")
    g = parser.add_argument_group("execution")
    g.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="worker processes on CPU, or decode/encode threads on CUDA "
                        "(default: the number of CPUs)")
    g.add_argument("--device", choices=DEVICES, default=DEFAULTS["device"],
                   help="where MTCNN runs: cuda when a card is visible, else cpu (default: auto)")
    g.add_argument("--mtcnn-weights", metavar="DIR",
                   help="folder holding pnet.pt, rnet.pt, onet.pt (default: those of the "
                        "installed facenet-pytorch package)")
    g.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                   help="images per MTCNN call (default: 32 on CPU, 256 on CUDA)")
    g.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                   help="only the first N images of each set (sorted by path), for a quick try")


# --- Inventory ------------------------------------------------------------------------

@dataclass
class _Set:
    name: str                 # "casia" or "lfw"
    raw: Path                 # folder of identity folders
    outputs: list[Output]     # the box crop first, then the aligned sizes
    items: list[tuple[str, str]] = field(default_factory=list)   # (identity, file name)
    duplicates: list[str] = field(default_factory=list)          # relative paths


def _has_identity_images(folder: Path) -> bool:
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if entry.is_dir() and not entry.name.startswith("."):
                    with os.scandir(entry.path) as inner:
                        if any(e.is_file() and not e.name.startswith(".") for e in inner):
                            return True
    except OSError:
        return False
    return False


def _image_root(raw: Path, what: str, option: str) -> Path:
    """The folder of identity folders: ``raw`` itself, or its only sub-folder that is one
    (LFW archives unpack to lfw/<person>/..., lfw_funneled/..., images_deepfunneled/...)."""
    if not raw.exists():
        raise UserError(f"{what} folder not found: {raw}; pass {option} the folder holding "
                        "one sub-folder per identity")
    if not raw.is_dir():
        raise UserError(f"{what} path is not a folder: {raw}; pass {option} the folder holding "
                        "one sub-folder per identity")
    subdirs = sorted(p for p in raw.iterdir() if p.is_dir() and not p.name.startswith("."))
    # A top-level folder holding only folders-of-folders (no images one level down).
    if not _has_identity_images(raw):
        nested = [d for d in subdirs if _has_identity_images(d)]
        if len(nested) == 1:
            return nested[0]
        raise UserError(f"{what} folder {raw} has no images in identity sub-folders "
                        f"(expected {raw}/<identity>/<image>); pass {option} the right folder")
    return raw


def _inventory(job: _Set, limit: Optional[int]) -> None:
    """List ``job.raw/<identity>/<file>`` sorted; the first ``limit`` files when given.

    Every visible file counts (a foreign file becomes a "not an image" failure). A second
    file with the same stem in a folder would overwrite the first one's PNG: it is listed
    as a duplicate instead.
    """
    entries: list[tuple[str, str, bool]] = []
    for ident in sorted(os.listdir(job.raw)):
        folder = job.raw / ident
        if ident.startswith(".") or not folder.is_dir():
            continue
        seen: set[str] = set()
        for name in sorted(os.listdir(folder)):
            if name.startswith(".") or not (folder / name).is_file():
                continue
            stem = os.path.splitext(name)[0]
            entries.append((ident, name, stem in seen))
            seen.add(stem)
        if limit is not None and len(entries) >= limit:
            break
    if limit is not None:
        entries = entries[:limit]
    job.items = [(i, n) for i, n, dup in entries if not dup]
    job.duplicates = [f"{i}/{n}" for i, n, dup in entries if dup]


def _existing_outputs(out: Path) -> set[str]:
    """Relative paths of finished PNGs; removes temporary files a killed run left."""
    done: set[str] = set()
    if not out.is_dir():
        return done
    for ident in os.listdir(out):
        folder = out / ident
        if not folder.is_dir():
            continue
        for name in os.listdir(folder):
            if name.endswith(TMP_SUFFIX):
                try:
                    (folder / name).unlink()
                except OSError:
                    pass
            elif name.endswith(".png"):
                done.add(f"{ident}/{name}")
    return done


# --- LFW pairs ------------------------------------------------------------------------

def _find_pairs(raw_arg: Path, image_root: Path, explicit: Optional[str]) -> Path:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UserError(f"LFW pairs file not found: {path}; pass --lfw-pairs the View 2 pairs.txt")
        return path
    looked = []
    for folder in (raw_arg, raw_arg.parent, image_root, image_root.parent):
        candidate = folder / "pairs.txt"
        if candidate.is_file():
            return candidate
        looked.append(str(candidate))
    raise UserError(f"LFW pairs.txt not found (looked at {', '.join(dict.fromkeys(looked))}); "
                    "pass --lfw-pairs FILE")


def _pairs_people(pairs: Path) -> tuple[set[str], set[tuple[str, int]]]:
    """People and (person, image number) named by a View 2 pairs file."""
    try:
        lines = pairs.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read LFW pairs file {pairs}: {exc}; pass --lfw-pairs FILE") from None
    people: set[str] = set()
    images: set[tuple[str, int]] = set()
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split()
        try:
            if len(parts) == 3:
                refs = [(parts[0], int(parts[1])), (parts[0], int(parts[2]))]
            elif len(parts) == 4:
                refs = [(parts[0], int(parts[1])), (parts[2], int(parts[3]))]
            elif not parts:
                continue
            else:
                raise ValueError
        except ValueError:
            raise UserError(f"{pairs} line {number} is not an LFW pair ('name i j' or "
                            f"'name1 i name2 j'): {line.strip()[:60]!r}; pass --lfw-pairs the "
                            "View 2 pairs.txt") from None
        for ref in refs:
            people.add(ref[0])
            images.add(ref)
    if not people:
        raise UserError(f"{pairs} names no pairs; pass --lfw-pairs the View 2 pairs.txt")
    return people, images


def _check_pairs(pairs: Path, job: _Set, log: Callable[[str], None]) -> list[str]:
    """Compare pairs.txt with the raw folder. All people missing: UserError (wrong file or
    folder). Some: a warning naming them. Returns the warnings."""
    people, images = _pairs_people(pairs)
    present = {d for d in os.listdir(job.raw) if (job.raw / d).is_dir()}
    missing_people = sorted(people - present)
    if len(missing_people) == len(people):
        raise UserError(f"none of the {len(people)} people in {pairs} has a folder in {job.raw}; "
                        "pass --lfw the LFW image folder and --lfw-pairs its pairs.txt")
    warnings = []
    if missing_people:
        warnings.append(f"warning: {pairs} names {len(missing_people)} people with no folder in "
                        f"{job.raw} (e.g. {', '.join(missing_people[:3])}); their pairs cannot be "
                        "evaluated")
    stems: dict[str, set[str]] = {}
    for person, _ in images:
        if person in present and person not in stems:
            stems[person] = {os.path.splitext(n)[0] for n in os.listdir(job.raw / person)}
    missing_images = sorted(f"{p}_{i:04d}" for p, i in images
                            if p in stems and f"{p}_{i:04d}" not in stems[p])
    if missing_images:
        warnings.append(f"warning: {pairs} names {len(missing_images)} images missing from "
                        f"{job.raw} (e.g. {', '.join(missing_images[:3])}); their pairs cannot be "
                        "evaluated")
    for w in warnings:
        log(w)
    return warnings


def _copy_atomic(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}{TMP_SUFFIX}")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


# --- One set --------------------------------------------------------------------------

def _progress_text(name: str, done: int, total: int, elapsed_s: float) -> str:
    rate = done / max(elapsed_s, 1e-9)
    eta = time.strftime("%H:%M:%S", time.gmtime((total - done) / rate)) if rate > 0 else "?"
    return f"{name}: {done}/{total} images, {rate:.1f} images/s, ETA {eta}"


def _read_failures(path: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    try:
        for line in path.read_text().splitlines():
            rel, sep, reason = line.partition("\t")
            if sep:
                entries[rel] = reason
    except (OSError, UnicodeDecodeError):
        pass
    return entries


def _write_failures(path: Path, entries: dict[str, str]) -> None:
    if not entries:
        if path.exists():
            path.unlink()
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    tmp.write_text("".join(f"{rel}\t{entries[rel]}\n" for rel in sorted(entries)))
    os.replace(tmp, path)


@dataclass
class _Tally:
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def _run_set(job: _Set, opts: dict, runner: Runner, log: Callable[[str], None]) -> _Tally:
    """Align one set into all its outputs. Counts are per image: ``processed`` images
    with an output written now, ``skipped`` images with every output already there,
    ``failed`` images listed in some failures file now (each distinct reason counted)."""
    outs = [Path(o.out) for o in job.outputs]
    for out in outs:
        out.mkdir(parents=True, exist_ok=True)
    done = [_existing_outputs(out) for out in outs]
    todo: list[tuple[str, str, tuple[int, ...]]] = []
    for ident, name in job.items:
        png = output_rel(ident, name)
        needs = tuple(k for k, have in enumerate(done) if png not in have)
        if needs:
            todo.append((ident, name, needs))
    tally = _Tally(skipped=len(job.items) - len(todo))
    paths = [out / FAILURES_NAME for out in outs]
    # Entries of earlier runs survive for images not retried now (e.g. centre crops).
    failures: list[dict[str, str]] = []
    for k, path in enumerate(paths):
        retried = {f"{i}/{n}" for i, n, needs in todo if k in needs}
        failures.append({rel: why for rel, why in _read_failures(path).items() if rel not in retried})
        for rel in job.duplicates:
            failures[k][rel] = DUPLICATE
    tally.failed += len(job.duplicates)
    tally.reasons[DUPLICATE] = len(job.duplicates)
    per_output = ", ".join(f"{out.name} {sum(k in needs for _, _, needs in todo)}"
                           for k, out in enumerate(outs))
    log(f"{job.name}: {len(job.items)} images in {job.raw}, {tally.skipped} already aligned, "
        f"{len(todo)} to do ({per_output}) -> {outs[0].parent}")
    written = [0] * len(outs)
    if todo:
        batch = opts["batch_size"]
        chunks = [Chunk(str(job.raw), tuple(job.outputs), tuple(todo[i:i + batch]), opts["face_rule"],
                        bool(opts["center_crop_failures"]))
                  for i in range(0, len(todo), batch)]
        progress = ProgressLine(log)
        handled = 0
        # Failures are appended as they come so that a killed run loses none; the files
        # are rewritten sorted and without duplicates at the end.
        journals = [open(path, "a") for path in paths]
        try:
            for results in runner.run(chunks):
                for rel, outcomes in results:
                    reasons = set()
                    for k, status, why in outcomes:
                        if status != "failed":
                            written[k] += 1
                        if why is not None:
                            reasons.add(why)
                            failures[k][rel] = why
                            journals[k].write(f"{rel}\t{why}\n")
                    if any(status != "failed" for _, status, _ in outcomes):
                        tally.processed += 1
                    if reasons:
                        tally.failed += 1
                        for why in reasons:
                            tally.reasons[why] = tally.reasons.get(why, 0) + 1
                for journal in journals:
                    journal.flush()
                handled += len(results)
                progress.show(_progress_text(job.name, handled, len(todo), progress.elapsed_s))
        finally:
            for journal in journals:
                journal.close()
            progress.close()
            for path, entries in zip(paths, failures):
                _write_failures(path, entries)
    else:
        for path, entries in zip(paths, failures):
            _write_failures(path, entries)
    for out, have, n, entries in zip(outs, done, written, failures):
        log(f"  {out.name}: {n} written now, {len(have)} already there, {len(entries)} in {FAILURES_NAME}")
    return tally


def run_prepare(options: dict[str, Any], data_root: str | os.PathLike,
                log: Callable[[str], None] = print) -> PrepareResult:
    """Align raw CASIA-WebFace and/or LFW into ``data_root`` (layout in the module doc).

    ``options`` holds the values of :func:`add_prepare_arguments`' options (argparse
    ``dest`` names: ``casia``, ``lfw``, ``lfw_pairs``, ``workers``, ``device``,
    ``mtcnn_weights``, ``face_rule``, ``casia_size``, ``casia_margin``, ``lfw_size``,
    ``lfw_margin``, ``aligned``, ``center_crop_failures``, ``batch_size``, ``limit``);
    missing keys take the defaults. ``aligned`` is ``--aligned``'s text (``"all"``,
    ``"none"``, ``"112x96"``, ...) or a sequence of (height, width) sizes. Progress goes
    to stderr on a terminal, else to ``log`` every 30 s.

    Returns a :class:`PrepareResult` counting images, not files: ``processed`` images
    with an output written now (centre-crop fallbacks included), ``skipped`` images with
    every output already there, ``failed`` images listed in a failures file now (those
    with a centre crop included); ``outputs`` names each folder (``lfw``, ``lfw_112x96``,
    ``casia``, ``casia_112x112``, ``lfw_pairs``, ...); ``failures_file`` names the
    failures file(s) (" and "-joined when several have one).
    Raises :class:`UserError` for bad input, before any work starts.
    """
    opts = dict(DEFAULTS)
    opts.update({k: v for k, v in options.items() if v is not None or k not in DEFAULTS})
    if not opts.get("casia") and not opts.get("lfw"):
        raise UserError("nothing to prepare; give --casia RAW_DIR (CASIA-WebFace) and/or "
                        "--lfw RAW_DIR (LFW)")
    if opts["face_rule"] not in FACE_RULES:
        raise UserError(f"unknown --face-rule {opts['face_rule']!r}; choose from {', '.join(FACE_RULES)}")
    data_root = Path(data_root).expanduser()
    start = time.monotonic()

    jobs: list[_Set] = []
    pairs: Optional[Path] = None
    requested = opts["aligned"]
    if not isinstance(requested, str):  # sizes from a caller: (height, width) pairs
        requested = ",".join(size_name(a) for a in requested) or NONE
    try:
        aligned = parse_sizes(requested)
    except ValueError as exc:
        raise UserError(f"{ALIGNED_OPTION} {requested}: {exc}") from None
    if opts.get("casia"):
        raw = _image_root(Path(opts["casia"]).expanduser(), "CASIA-WebFace", "--casia")
        size, margin = int(opts["casia_size"]), int(opts["casia_margin"])
        box = Output(str(data_root / f"webface_{size}_{margin}"), (size, size), margin)
        jobs.append(_Set("casia", raw, [box] + [Output(str(data_root / aligned_dir("casia", a)), a)
                                               for a in aligned]))
    if opts.get("lfw"):
        lfw_arg = Path(opts["lfw"]).expanduser()
        raw = _image_root(lfw_arg, "LFW", "--lfw")
        size, margin = int(opts["lfw_size"]), int(opts["lfw_margin"])
        box = Output(str(data_root / "lfw_data" / f"lfw_{size}"), (size, size), margin)
        jobs.append(_Set("lfw", raw, [box] + [Output(str(data_root / aligned_dir("lfw", a)), a)
                                             for a in aligned]))
        pairs = _find_pairs(lfw_arg, raw, opts.get("lfw_pairs"))
    for job in jobs:
        _inventory(job, opts.get("limit"))
        if not job.items and not job.duplicates:
            raise UserError(f"no files in the identity folders of {job.raw}; pass "
                            f"--{job.name} the folder holding <identity>/<image> files")
    writable_dir(data_root, "data root", "--data-root")
    if pairs is not None:
        _check_pairs(pairs, next(j for j in jobs if j.name == "lfw"), log)
    from modelzoo_facenet.mtcnn import find_weights_dir

    weights_dir = find_weights_dir(opts.get("mtcnn_weights"))
    device = choose_device(opts["device"])
    workers = int(opts["workers"] or _default_workers())
    if not opts.get("batch_size"):
        opts["batch_size"] = 256 if device != "cpu" else 32

    outputs: dict[str, str] = {}
    failure_files: list[str] = []
    total = _Tally()
    with Runner(weights_dir, device, workers) as runner:
        for job in jobs:
            set_start = time.monotonic()
            tally = _run_set(job, opts, runner, log)
            seconds = time.monotonic() - set_start
            outputs[job.name] = job.outputs[0].out
            for spec in job.outputs[1:]:
                outputs[f"{job.name}_{size_name(spec.size)}"] = spec.out
            failure_files.extend(str(Path(o.out) / FAILURES_NAME) for o in job.outputs
                                 if (Path(o.out) / FAILURES_NAME).exists())
            reasons = ", ".join(f"{why}: {n}" for why, n in sorted(tally.reasons.items()) if n)
            rate = tally.processed / seconds if seconds > 0 else 0.0
            log(f"{job.name}: aligned {tally.processed} ({rate:.1f} images/s), skipped "
                f"{tally.skipped}, {tally.failed} failures{' (' + reasons + ')' if reasons else ''} "
                f"in {seconds:.1f}s")
            total.processed += tally.processed
            total.skipped += tally.skipped
            total.failed += tally.failed
    if pairs is not None:
        lfw_data = data_root / "lfw_data"
        _copy_atomic(pairs, lfw_data / "pairs.txt")
        outputs["lfw_pairs"] = str(lfw_data / "pairs.txt")
        people = pairs.with_name("people.txt")
        if people.is_file():
            _copy_atomic(people, lfw_data / "people.txt")
            outputs["lfw_people"] = str(lfw_data / "people.txt")
    return PrepareResult(outputs=outputs, processed=total.processed, skipped=total.skipped,
                         failed=total.failed,
                         failures_file=" and ".join(failure_files) or None,
                         seconds=time.monotonic() - start)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m modelzoo_facenet.prepare --data-root DIR [prepare options]``."""
    parser = argparse.ArgumentParser(prog="python -m modelzoo_facenet.prepare",
                                     description="MTCNN-align CASIA-WebFace / LFW for facenet.")
    parser.add_argument("--data-root", required=True, help="where the aligned sets go")
    add_prepare_arguments(parser)
    options = vars(parser.parse_args(argv))
    data_root = options.pop("data_root")
    try:
        result = run_prepare(options, data_root)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


if __name__ == "__main__":
    # The worker processes unpickle their functions from modelzoo_facenet.prepare_pool,
    # so running this module as __main__ needs no detour through the package.
    sys.exit(main())
