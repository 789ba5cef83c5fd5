"""The shared job helpers: device choice, writable folders, the progress line."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from modelzoo.contract.api import UserError
from modelzoo.toolkit import runtime
from modelzoo.toolkit.runtime import ProgressLine, choose_device, writable_dir


def test_importing_runtime_does_not_import_torch():
    code = "import sys, modelzoo.toolkit.runtime; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("visible", [True, False])
def test_choose_device(monkeypatch, visible):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: visible)
    assert choose_device("auto") == ("cuda" if visible else "cpu")
    assert choose_device("cpu") == "cpu"
    if visible:
        assert choose_device("cuda") == "cuda"
    else:
        with pytest.raises(UserError) as err:
            choose_device("cuda")
        assert str(err.value) == ("--device cuda but no CUDA card is visible; use --device cpu "
                                  "or check the driver")


def test_writable_dir_creates_and_probes(tmp_path):
    target = tmp_path / "a" / "b"
    assert writable_dir(target, "data root", "--data-root") == target
    assert target.is_dir() and list(target.iterdir()) == []  # the probe file is gone
    assert writable_dir(str(target), "data root", "--data-root") == target


def test_writable_dir_names_the_folder_and_the_option(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError) as err:
        writable_dir(blocker / "data", "data root", "--data-root")
    message = str(err.value)
    assert message.startswith(f"cannot write to the data root {blocker / 'data'}: ")
    assert message.endswith("; pass --data-root DIR") and "\n" not in message


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(runtime.time, "monotonic", clock)
    return clock


def test_progress_off_a_terminal_logs_periodically(clock):
    logged: list[str] = []
    stream = io.StringIO()
    progress = ProgressLine(logged.append, log_every_s=30, stream=stream)
    progress.show("a")            # at 0 s: too early
    clock.now += 31
    progress.show("b")
    clock.now += 10
    progress.show("c")            # 10 s after the last line
    clock.now += 25
    progress.show("d")
    progress.close()
    assert logged == ["b", "d"] and stream.getvalue() == ""
    assert progress.elapsed_s == pytest.approx(66)


def test_progress_on_a_terminal_redraws_one_line(clock):
    logged: list[str] = []
    screen = _Terminal()
    progress = ProgressLine(logged.append, stream=screen)
    progress.show("1/3")          # within the first redraw interval: not drawn
    clock.now += 0.5
    progress.show("2/3")
    clock.now += 0.1
    progress.show("3/3")          # throttled, but close shows it
    progress.close()
    assert screen.getvalue() == "\r2/3\x1b[K\r3/3\x1b[K\n"
    assert logged == []           # the console already shows the live line


def test_progress_for_a_training_log_keeps_every_line(clock):
    logged: list[str] = []
    screen = _Terminal()
    progress = ProgressLine(logged.append, log_every_s=0, log_when_live=True, stream=screen)
    for step in range(3):
        clock.now += 1
        progress.show(f"step {step}")
    progress.close()
    assert logged == ["step 0", "step 1", "step 2"]
    assert screen.getvalue().endswith("\rstep 2\x1b[K\n")
    # A rank other than the first: never drawn, still logged.
    quiet = _Terminal()
    other = ProgressLine(logged.append, live=False, log_every_s=0, stream=quiet)
    other.show("step 9")
    other.close()
    assert quiet.getvalue() == "" and logged[-1] == "step 9"


def test_the_cycle_collector_is_paused_for_the_block_and_restored_after_it():
    import gc

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with runtime.cycle_collection_paused():
            assert not gc.isenabled()
            raise RuntimeError("a failing report")
    assert gc.isenabled()  # back on, even after an error
    gc.disable()
    try:
        with runtime.cycle_collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
