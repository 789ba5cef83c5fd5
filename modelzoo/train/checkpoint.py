"""Checkpoints: written atomically, read safely (``weights_only=True``), refused when foreign.

A checkpoint holds ``{"model": network state, "loss": loss state, "optimizer", "scaler",
"step", "run_id", "config"}``. Any file the core reads as weights goes through
:func:`read_state`: a truncated, empty or foreign file (``/etc/passwd``) is one line,
"not a checkpoint: <path> (<reason>)", never torch's advice about ``weights_only=False``.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from modelzoo.contract.api import UserError
from modelzoo.store import records

CHECKPOINT_FILE = records.CHECKPOINT_FILE


def read_state(path: Path) -> dict:
    """The dict saved in ``path`` (on the CPU), or UserError naming why it is not one."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} not found; pass a checkpoint (runs/<id>/checkpoint.pt) "
                        "or a state dict")
    if path.stat().st_size == 0:
        raise UserError(f"not a checkpoint: {path} (the file is empty)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError,
            AttributeError, ImportError, IndexError, KeyError, TypeError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights_only" in reason or "Weights only load failed" in reason:
            reason = "it holds objects other than tensors and plain containers"
        raise UserError(f"not a checkpoint: {path} ({reason[:160]})") from None
    except OSError as exc:  # a zip cut short makes torch seek before its start (EINVAL)
        raise UserError(f"not a checkpoint: {path} (reading it failed: {exc.strerror or exc})") from None
    if not isinstance(state, dict) or not state:
        raise UserError(f"not a checkpoint: {path} (it holds {type(state).__name__}, not a state dict)")
    return state


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` so that a reader sees the previous checkpoint or this one, never half.

    A full disk is ``records.WriteFailed`` ("no space left on device: <path>"), with the
    temporary file removed.
    """
    with records.atomic_writer(Path(path)) as handle:
        writer = _WriteErrorKeeper(handle)
        try:
            torch.save(state, writer)
        except RuntimeError:
            if writer.error is None:
                raise
            raise writer.error from None  # ENOSPC, not torch's "unexpected pos": WriteFailed names it


class _WriteErrorKeeper:
    """The file torch.save writes to, keeping the OSError of a failed write: torch's zip
    writer swallows it and raises a RuntimeError about file positions instead."""

    def __init__(self, handle):
        self.handle = handle
        self.error = None

    def write(self, data) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        self.handle.flush()


def load_training_state(path: Path, run_id: str) -> dict:
    """A checkpoint to resume ``run_id`` from, checked to be one of ours."""
    if not Path(path).is_file():
        raise UserError(f"run {run_id} has no checkpoint to resume from ({path}); start a new run instead")
    state = read_state(path)
    missing = [key for key in ("model", "loss", "optimizer", "step") if key not in state]
    if missing:
        raise UserError(f"not a checkpoint: {path} (no {', '.join(missing)}: not a modelzoo training "
                        "checkpoint); start a new run instead")
    return state
