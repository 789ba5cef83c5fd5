"""Fault class 21: worker pools stop with the command. ``modelzoo prepare facenet`` (its MTCNN pool)
and the demo-data generation of a run (its image pool): SIGTERM exits 143 and Ctrl-C to the
terminal's process group exits 130, even while the workers are still starting, each with one
line; ``kill -9`` of the command ends its workers too; no worker outlives the command and
nothing is written once it is gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from fault_helpers import Workspace, assert_one_line_error, assert_runs_folder_sound, process_alive, stop, wait_for_log

STOP_WITHIN_S = 10
GONE_WITHIN_S = 10  # a worker killed with its parent: the kernel's signal, then its exit


def _raw_lfw(lfw_dir: Path, folder: Path, images: int = 80) -> Path:
    src = lfw_dir / "images_deepfunneled"
    folder.mkdir(parents=True)
    shutil.copy(lfw_dir / "pairs.txt", folder.parent / "pairs.txt")  # names people not copied: a warning
    copied = 0
    for person in sorted(os.listdir(src)):
        for name in sorted(os.listdir(src / person)):
            (folder / person).mkdir(parents=True, exist_ok=True)
            shutil.copy(src / person / name, folder / person / name)
            copied += 1
            if copied == images:
                return folder
    return folder


def _workers(pid: int) -> list[int]:
    """The pool's worker processes of ``pid`` (multiprocessing's spawned children)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            continue
    return found



def _wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.05)
    return value


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()} \
        if folder.exists() else {}


def _prepare(space: Workspace, raw: Path, *extra: str):
    return space.start("prepare", "facenet", "--data-root", str(space.root / "data"), "--lfw", str(raw),
                       "--lfw-pairs", str(raw.parent / "pairs.txt"), "--workers", "2", "--batch-size", "2",
                       "--device", "cpu", *extra)


def _pngs(space: Workspace) -> int:
    return len(list((space.root / "data").rglob("*.png")))


def _sigterm_while_aligning(space: Workspace, raw: Path):
    process = _prepare(space, raw)
    _wait_until(lambda: _pngs(space) >= 4 or process.poll() is not None, 120, "prepare never wrote a PNG")
    workers = _workers(process.pid)
    result, seconds = stop(process, signal.SIGTERM)
    return result, seconds, workers, _files(space.root / "data")


def _ctrl_c_while_workers_start(space: Workspace, raw: Path):
    process = _prepare(space, raw)
    def both_started():  # the pool spawns its two workers one after the other: wait for the second too
        found = _workers(process.pid)
        return found if len(found) == 2 else process.poll() is not None

    workers = _wait_until(both_started, 120, "the two workers never started")
    assert _pngs(space) == 0  # still starting (importing torch, loading MTCNN): nothing aligned yet
    result, seconds = stop(process, signal.SIGINT, group=True)
    return result, seconds, workers, _files(space.root / "data")


def _kill_9_while_aligning(space: Workspace, raw: Path):
    process = _prepare(space, raw)
    _wait_until(lambda: _pngs(space) >= 4 or process.poll() is not None, 120, "prepare never wrote a PNG")
    workers = _workers(process.pid)
    process.kill()
    process.communicate()
    return workers


@pytest.fixture(scope="module")
def stopped_prepares(tmp_path_factory, lfw_dir):
    raw = _raw_lfw(lfw_dir, tmp_path_factory.mktemp("raw") / "lfw")
    spaces = {}
    for name in ("sigterm", "ctrl-c", "kill-9"):
        spaces[name] = Workspace(tmp_path_factory.mktemp(name) / "work", tmp_path_factory.mktemp("cache"))
        spaces[name].plugins = "modelzoo_facenet.plugin"
    with ThreadPoolExecutor(max_workers=3) as pool:
        term = pool.submit(_sigterm_while_aligning, spaces["sigterm"], raw)
        ctrl_c = pool.submit(_ctrl_c_while_workers_start, spaces["ctrl-c"], raw)
        kill = pool.submit(_kill_9_while_aligning, spaces["kill-9"], raw)
        return {"sigterm": (spaces["sigterm"], term.result()), "ctrl-c": (spaces["ctrl-c"], ctrl_c.result()),
                "kill-9": (spaces["kill-9"], kill.result())}


@pytest.mark.parametrize(("how", "status", "line"), [
    ("sigterm", 143, "modelzoo: interrupted by SIGTERM"),
    ("ctrl-c", 130, "modelzoo: interrupted by SIGINT"),
])
def test_a_stopped_prepare_exits_128_plus_the_signal_leaving_no_worker_and_writing_nothing_after(
        stopped_prepares, how, status, line):
    space, (result, seconds, workers, at_exit) = stopped_prepares[how]
    assert len(workers) == 2
    assert result.returncode == status, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == line and "Traceback" not in result.stderr
    assert seconds < STOP_WITHIN_S
    assert [pid for pid in workers if process_alive(pid)] == []  # gone before the command returned
    time.sleep(1.0)  # a worker that outlived it would still be writing
    assert _files(space.root / "data") == at_exit
    assert not [name for name in at_exit if name.endswith(".tmp")]


def test_kill_9_of_prepare_ends_its_workers_and_nothing_is_written_after(stopped_prepares):
    space, workers = stopped_prepares["kill-9"]
    assert len(workers) == 2
    _wait_until(lambda: not [pid for pid in workers if process_alive(pid)], GONE_WITHIN_S, "a worker outlived kill -9")
    written = _files(space.root / "data")
    time.sleep(1.0)
    assert _files(space.root / "data") == written


# --- the demo set's generation pool (inside a run) ------------------------------------------

DEMO_BIG = ("run", "facenet", "--profile", "demo", "--device", "cpu", "--set", "data.demo_train_identities=3000",
            "--set", "data.demo_images_per_identity=4")


def _generating(space: Workspace):
    process = space.start(*DEMO_BIG)
    wait_for_log(space, "generating the synthetic demo set", process, timeout=120)
    workers = _wait_until(lambda: _workers(process.pid) or process.poll() is not None, 60, "no demo worker")
    return process, workers


def _stop_generation(space: Workspace, sig: int):
    process, workers = _generating(space)
    if sig == signal.SIGKILL:
        process.kill()
        process.communicate()
        return None, workers
    return stop(process, sig)[0], workers


@pytest.fixture(scope="module")
def stopped_generation(tmp_path_factory):
    spaces = {}
    for name in ("sigterm", "kill-9"):
        spaces[name] = Workspace(tmp_path_factory.mktemp(f"demo-{name}") / "work", tmp_path_factory.mktemp("cache"))
        spaces[name].plugins = "modelzoo_facenet.plugin"
    with ThreadPoolExecutor(max_workers=2) as pool:
        term = pool.submit(_stop_generation, spaces["sigterm"], signal.SIGTERM)
        kill = pool.submit(_stop_generation, spaces["kill-9"], signal.SIGKILL)
        return {"sigterm": (spaces["sigterm"], *term.result()), "kill-9": (spaces["kill-9"], *kill.result())}


def test_sigterm_while_the_demo_set_is_generated_stops_the_pool_and_records_interrupted(stopped_generation):
    space, result, workers = stopped_generation["sigterm"]
    record = space.only_record()
    assert_one_line_error(result, 143, f"run {record['run_id']} interrupted: stopped by SIGTERM")
    assert record["status"] == "interrupted"
    assert workers and [pid for pid in workers if process_alive(pid)] == []
    cache = _files(space.cache)
    time.sleep(1.0)
    assert _files(space.cache) == cache
    assert not [name for name in cache if "/train/" in name]  # the half-made set's folder was removed
    assert_runs_folder_sound(space.runs)


def test_kill_9_while_the_demo_set_is_generated_ends_its_pool(stopped_generation):
    space, _, workers = stopped_generation["kill-9"]
    assert workers
    _wait_until(lambda: not [pid for pid in workers if process_alive(pid)], GONE_WITHIN_S, "a demo worker outlived kill -9")
    cache = _files(space.cache)
    time.sleep(1.0)
    assert _files(space.cache) == cache
