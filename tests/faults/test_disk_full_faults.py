"""Fault class 4: a full disk. The final checkpoint cannot be written -> the record says
``failed`` with ``no space left on device: <path>``, the exit is non-zero and no temp file
is left; a disk already full at start leaves no run folder behind.

The disk is a small tmpfs mounted on the runs folder (we are root); where mounting is
refused, ENOSPC is injected instead (enospc/sitecustomize.py). Both ways run where they can.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
from pathlib import Path

import pytest
from fault_helpers import TINY, assert_no_run_folder, assert_one_line_error, assert_runs_folder_sound

INJECTOR = Path(__file__).parent / "enospc"
# A toy this wide has a ~320 KB checkpoint: it cannot fit where record and log still do.
WIDE = ("--set", "model.width=64")
SMALL_DISK = "256k"


@contextlib.contextmanager
def _tmpfs(mount_point: Path, size: str):
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the injected variant covers it")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
    with contextlib.suppress(OSError):  # the last partial page, byte by byte until none is left
        with open(folder / "filler2", "wb", buffering=0) as handle:
            while handle.write(b"\0" * 512):
                pass
    with pytest.raises(OSError) as full:
        (folder / "probe").write_bytes(b"x" * 4096)
    assert full.value.errno == errno.ENOSPC


@pytest.fixture(params=["tmpfs", "injected"])
def disk(request, ws):
    """How the disk gets full: ``fill()`` (or nothing, for the final checkpoint) then the run."""
    if request.param == "tmpfs":
        with _tmpfs(ws.runs, SMALL_DISK):
            yield {"fill": lambda: _fill(ws.runs), "env": {}}
    else:
        ws.plugin_path.append(str(INJECTOR))
        yield {"fill": None, "env": {"MODELZOO_FAULT_ENOSPC": "checkpoint.pt"},
               "full_env": {"MODELZOO_FAULT_ENOSPC": "record.json,.lock"}}


def test_a_final_checkpoint_that_does_not_fit_fails_the_run_naming_the_file(ws, disk):
    result = ws.cli("run", "toy", *TINY, *WIDE, **disk["env"])
    (record,) = ws.records()
    checkpoint = ws.runs / record["run_id"] / "checkpoint.pt"
    assert_one_line_error(result, 2, f"no space left on device: {checkpoint}")
    assert record["status"] == "failed"
    assert record["error"].startswith(f"no space left on device: {checkpoint}")
    assert not checkpoint.exists()
    assert_runs_folder_sound(ws.runs)


def test_a_disk_full_at_start_leaves_no_run_folder(ws, disk):
    if disk["fill"]:
        disk["fill"]()
    result = ws.cli("run", "toy", *TINY, **disk.get("full_env", {}))
    assert_one_line_error(result, 2, "no space left on device: ", str(ws.runs))
    assert_no_run_folder(ws)
    assert_runs_folder_sound(ws.runs)
