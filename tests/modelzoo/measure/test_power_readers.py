"""The driver tools' loop mode (``SmiStreamReader``, issue 14): a fake ``ixsmi`` that emulates
nvidia-smi's ``-lms`` / ``--loop-ms`` (or refuses it, hangs, prints once, stops mid-run), the
fallback to one query per reading, and no process left behind by ``close()``, a failed run or
a worker that dies outright."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modelzoo.measure import power_readers
from modelzoo.measure.power import PowerSampler
from modelzoo.measure.power_readers import BackendUnavailable, SmiCsvReader, SmiStreamReader, open_reader

REPO = Path(__file__).resolve().parents[3]

FAKE = '''#!{python}
import json, os, sys, time
CONF = json.loads({conf!r})
args = sys.argv[1:]
if CONF.get("log"):
    with open(CONF["log"], "a") as handle:
        handle.write(" ".join(args) + "\\n")
if CONF.get("pidfile"):
    with open(CONF["pidfile"], "a") as handle:
        handle.write(f"{{os.getpid()}}\\n")
ms = args[args.index("-lms") + 1] if "-lms" in args else None
for arg in args:
    if arg.startswith("--loop-ms="):
        ms = arg.split("=", 1)[1]
loop = CONF["loop"]
if ms is not None and (loop == "reject" or (loop == "reject-lms" and "-lms" in args)):
    bad = "-lms" if "-lms" in args else "--loop-ms"
    sys.stderr.write(f"ixsmi: unrecognized option '{{bad}}'\\nUsage: ixsmi [OPTION]...\\n")
    sys.exit(2)
def block(n, rows):
    return "".join(f"{{card}}, {{watts + n * CONF['step']:.2f}}\\n" for card, watts in rows)
if ms is None or loop == "once":
    sys.stdout.write(block(0, CONF["rows"]))
    sys.exit(0)
if loop == "hang":
    time.sleep(60)
    sys.exit(0)
if CONF.get("noise"):
    sys.stdout.write("WARNING: a line that is not a row\\n")
n = 0
while True:
    rows = CONF["rows"]
    if CONF.get("blocks") is not None and n >= CONF["blocks"]:
        after = CONF["after"]
        if after == "exit":
            sys.stdout.write("ixsmi: lost the device\\n")
            sys.stdout.flush()
            sys.exit(1)
        if after == "hang":
            time.sleep(60)
        rows = rows[:1]  # "card0": the other cards stop reporting
    try:
        sys.stdout.write(block(n, rows))
        sys.stdout.flush()
    except BrokenPipeError:  # its reader is gone
        if not CONF["deaf"]:
            raise
        sys.stdout = open(os.devnull, "w")  # a tool that carries on regardless
    n += 1
    time.sleep(int(ms) / 1000)
'''

ROWS = [[0, 61.5], [1, 70.25]]


def _fake(bin_dir: Path, loop: str = "loop", rows=None, step: float = 0.0, blocks=None, after: str = "exit",
          noise: bool = False, deaf: bool = False, log=None, pidfile=None, name: str = "ixsmi") -> Path:
    """An executable ``name`` in ``bin_dir`` that answers like nvidia-smi; ``loop`` says what it
    does with a loop option: "loop" (a block per interval), "reject" (exit 2 for both
    spellings), "reject-lms" (only ``-lms``), "once" (ignores it, prints one block), "hang"
    (prints nothing). ``blocks`` + ``after``: after that many blocks it "exit"s 1, "hang"s, or
    keeps printing only card 0 ("card0"). Row values grow by ``step`` W a block. ``deaf``: it
    carries on when its output pipe closes (no death by SIGPIPE)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    conf = {"loop": loop, "rows": rows or ROWS, "step": step, "blocks": blocks, "after": after, "noise": noise,
            "deaf": deaf, "log": str(log) if log else None, "pidfile": str(pidfile) if pidfile else None}
    tool = bin_dir / name
    tool.write_text(FAKE.format(python=sys.executable, conf=json.dumps(conf)))
    tool.chmod(0o755)
    return tool


@pytest.fixture
def on_path(tmp_path, monkeypatch):
    """A bin folder first on PATH, and no pynvml: the host of an Iluvatar card."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    monkeypatch.setitem(sys.modules, "pynvml", None)
    return bin_dir


def _running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _wait_not_running(pids: list, seconds: float = 3.0) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_running(pid) for pid in pids):
        time.sleep(0.05)
    return [pid for pid in pids if _running(pid)]


def _pids(pidfile: Path, count: int = 1, seconds: float = 10.0) -> list:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pidfile.exists():
            pids = [int(line) for line in pidfile.read_text().split()]
            if len(pids) >= count:
                return pids
        time.sleep(0.05)
    raise AssertionError(f"no pid in {pidfile}")


# --------------------------------------------------------------------------- the stream


def test_stream_end_to_end_and_close_reaps_the_tool(on_path, tmp_path):
    log = tmp_path / "argv.log"
    _fake(on_path, log=log, noise=True)
    reader, reason = open_reader("cuda")
    assert reason is None and isinstance(reader, SmiStreamReader)
    assert reader.source == "ixsmi stream" and reader.mode == "stream" and reader.cards == [0, 1]
    pid = reader.pid
    sampler = PowerSampler(reader, reader.source, hz=10)
    sampler.start()
    time.sleep(0.5)
    out = sampler.stop().as_dict(images=100)
    assert out["source"] == "ixsmi stream" and out["reason"] is None
    cards = {card["index"]: card for card in out["per_card"]}
    assert cards[0]["avg_w"] == pytest.approx(61.5) and cards[1]["peak_w"] == pytest.approx(70.25)
    assert cards[0]["samples"] >= 4
    assert out["sampler_cpu_s"] is not None and out["sampler_cpu_s"] > 0  # both threads
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped by stop(): no zombie
    assert log.read_text().splitlines() == ["--query-gpu=index,power.draw --format=csv,noheader,nounits -lms 250"]


def test_a_reading_is_the_latest_block(on_path):
    _fake(on_path, step=1.0)  # +1 W a block
    reader = SmiStreamReader("ixsmi", cards=[1], loop_ms=50)
    try:
        first = reader()
        time.sleep(0.4)
        second = reader()
    finally:
        reader.close()
    assert list(first) == [1] and first[1].watts >= 70.25
    assert second[1].watts >= first[1].watts + 3  # several 50 ms blocks later


def test_only_the_asked_cards_and_a_missing_one_is_named(on_path):
    _fake(on_path, rows=[[0, 10.0], [1, 20.0], [2, 30.0]])
    reader = SmiStreamReader("ixsmi", cards=[0, 2, 7], loop_ms=50)
    try:
        values = reader()
    finally:
        reader.close()
    assert values[0].watts == 10.0 and values[2].watts == 30.0
    assert values[7].watts is None and values[7].reason == "ixsmi printed no row for card 7"
    with pytest.raises(BackendUnavailable, match="by index"):
        SmiStreamReader("ixsmi", cards=["GPU-1234"])


def test_the_second_spelling_when_the_first_is_refused(on_path, tmp_path):
    log = tmp_path / "argv.log"
    _fake(on_path, loop="reject-lms", log=log)
    reader, reason = open_reader("cuda")
    try:
        assert reader.source == "ixsmi stream" and reason is None
        assert reader()[0].watts == 61.5
    finally:
        reader.close()
    assert [line.split()[-1] for line in log.read_text().splitlines()] == ["250", "--loop-ms=250"]


def test_a_tool_that_refuses_the_loop_option_falls_back_to_queries(on_path, tmp_path):
    log = tmp_path / "argv.log"
    _fake(on_path, loop="reject", log=log)
    sampler = PowerSampler.for_device("cuda", hz=10)
    assert sampler.source == "ixsmi query" and isinstance(sampler.reader, SmiCsvReader)
    out = (sampler.start(), time.sleep(0.3), sampler.stop())[-1].as_dict()
    assert out["source"] == "ixsmi query" and out["per_card"][0]["avg_w"] == pytest.approx(61.5)
    assert ("tried first: ixsmi loop mode: -lms 250: ixsmi exited 2: Usage: ixsmi [OPTION]... after 0 block(s); "
            "--loop-ms=250: ixsmi exited 2:") in out["reason"]
    calls = log.read_text().splitlines()
    assert calls[:2] == [f"{' '.join(power_readers.SMI_QUERY)} -lms 250",
                         f"{' '.join(power_readers.SMI_QUERY)} --loop-ms=250"]
    assert set(calls[2:]) == {" ".join(power_readers.SMI_QUERY)}  # then one query per reading


def test_a_tool_that_prints_once_and_exits_falls_back(on_path):
    _fake(on_path, loop="once")
    reader, reason = open_reader("cuda")
    assert reader.source == "ixsmi query"
    assert "ixsmi loop mode: -lms 250: ixsmi exited 0: no other output after 1 block(s)" in reason
    assert "--loop-ms" not in reason  # not a refusal: the other spelling is not tried


def test_a_silent_tool_times_out_is_killed_and_falls_back(on_path, tmp_path, monkeypatch):
    pidfile = tmp_path / "pids"
    _fake(on_path, loop="hang", pidfile=pidfile)
    began = time.monotonic()
    with pytest.raises(BackendUnavailable, match=r"ixsmi loop mode: -lms 250: no parseable block within 1 s"):
        SmiStreamReader("ixsmi", timeout=1.0)
    assert time.monotonic() - began < 4.0
    assert not any(Path(f"/proc/{pid}").exists() for pid in _pids(pidfile))  # killed and reaped
    monkeypatch.setattr(power_readers, "SMI_TIMEOUT_S", 1.0)  # the default, read at call time
    reader, reason = open_reader("cuda")
    assert reader.source == "ixsmi query" and "no parseable block within 1 s" in reason
    assert not any(Path(f"/proc/{pid}").exists() for pid in _pids(pidfile, 3)[:2])


def test_no_fresh_row_is_a_failed_reading_not_a_stale_value(on_path):
    _fake(on_path, blocks=3, after="hang")  # alive, but silent after three blocks
    reader = SmiStreamReader("ixsmi", loop_ms=50, stale_s=0.3)
    try:
        assert reader()[0].watts == 61.5
        time.sleep(0.6)
        with pytest.raises(RuntimeError, match=r"ixsmi loop mode printed no row for 0\.\d s"):
            reader()
    finally:
        reader.close()


def test_failed_readings_through_the_sampler(on_path):
    _fake(on_path, blocks=4, after="hang")
    reader = SmiStreamReader("ixsmi", loop_ms=50, stale_s=0.3)
    out = (PowerSampler(reader, reader.source, hz=10).start(), time.sleep(0.8))[0].stop().as_dict()
    assert "readings failed (RuntimeError: ixsmi loop mode printed no row for" in out["reason"]
    assert out["per_card"][0]["avg_w"] == pytest.approx(61.5)  # from the fresh readings only


def test_a_card_that_stops_reporting_is_missing(on_path):
    _fake(on_path, blocks=3, after="card0")
    reader = SmiStreamReader("ixsmi", loop_ms=50, stale_s=0.3)
    try:
        time.sleep(0.7)
        values = reader()
    finally:
        reader.close()
    assert values[0].watts == 61.5
    assert values[1].watts is None and values[1].reason.startswith("ixsmi printed no new row for card 1 for ")


def test_a_tool_that_ends_mid_run_switches_to_queries(on_path):
    _fake(on_path, blocks=4, after="exit")
    reader = SmiStreamReader("ixsmi", loop_ms=50)
    sampler = PowerSampler(reader, reader.source, hz=10).start()
    time.sleep(0.8)
    out = sampler.stop().as_dict()
    assert out["source"] == "ixsmi stream"  # as it started; the reason says what followed
    assert "ixsmi loop mode ended" in out["reason"] and "ixsmi exited 1: ixsmi: lost the device" in out["reason"]
    assert "per-query readings from then on" in out["reason"]
    assert out["per_card"][1]["avg_w"] == pytest.approx(70.25) and out["per_card"][1]["samples"] >= 6


# --------------------------------------------------------------------------- nothing left behind


def test_close_stops_a_wrapper_script_and_its_child(on_path, tmp_path):
    pidfile = tmp_path / "pids"
    _fake(tmp_path / "real", pidfile=pidfile)  # the binary a vendor's wrapper script runs
    wrapper = on_path / "ixsmi"
    wrapper.write_text(f'#!/bin/sh\necho $$ >> "{pidfile}"\n"{tmp_path / "real" / "ixsmi"}" "$@"\nexit $?\n')
    wrapper.chmod(0o755)
    reader = SmiStreamReader("ixsmi", loop_ms=50)
    shell, tool = _pids(pidfile, 2)
    assert shell == reader.pid and _running(tool)
    reader.close()
    assert not Path(f"/proc/{shell}").exists()  # ours: reaped
    assert _wait_not_running([tool]) == []  # its child: killed with the session (its parent is init now)
    reader.close()  # idempotent


def test_a_failed_training_block_still_stops_the_tool(on_path, tmp_path):
    pidfile = tmp_path / "pids"
    _fake(on_path, pidfile=pidfile)
    reader = SmiStreamReader("ixsmi", loop_ms=50)
    with pytest.raises(ZeroDivisionError):
        with PowerSampler(reader, reader.source, hz=10):
            time.sleep(0.2)
            1 / 0  # noqa: B018 - the training step that fails
    assert not Path(f"/proc/{_pids(pidfile)[0]}").exists()


CHILD = """
import os, sys, time
from modelzoo.measure.power_readers import SmiStreamReader
reader = SmiStreamReader("ixsmi", loop_ms=50)
print(reader.pid, flush=True)
time.sleep(0.2)
if sys.argv[1] == "raise":
    raise RuntimeError("training failed")  # never closed: the interpreter's exit stops the tool
os._exit(1)  # a worker that leaves without cleaning up (the elastic launcher's workers do)
"""


@pytest.mark.parametrize("how", ["raise", "os._exit"])
def test_a_process_that_dies_without_close_leaves_no_tool_running(on_path, tmp_path, how):
    # "raise": a tool that survives its closed pipe, so only the exit-time stop can end it
    _fake(on_path, deaf=how == "raise")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), how], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    tool = int(done.stdout.split()[0])
    # "raise": stopped at exit (gone at once); "os._exit": SIGPIPE at its next write, within an interval
    assert _wait_not_running([tool]) == []
