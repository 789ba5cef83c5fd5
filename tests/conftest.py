"""Shared fixtures.

Third-party data (LFW, the face photos) lives outside the repository. Tests find it
through ``MODELZOO_TEST_DATA`` (the folder holding ``lfw/`` and ``faces/``; ``.ci/run``
sets it to ../shared/data). Unset: those tests skip with a visible reason. Set but
missing: they fail, so CI never passes by silently skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Keep entry-point discovery out of the tests: each test registers the plugins it uses.
os.environ.setdefault("MODELZOO_DISABLE_PLUGIN_AUTOLOAD", "1")


def _shared_folder(variable: str, what: str) -> Path:
    """The folder ``$variable`` names: skipped with the reason when unset, failed when missing."""
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{variable} is not set: point it at {what}")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"{variable}={value} does not exist")
    return path


def _shared_data() -> Path:
    return _shared_folder("MODELZOO_TEST_DATA", "the shared data folder (holding lfw/ and faces/) to run the "
                          "real-data tests")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _shared_data()


@pytest.fixture(scope="session")
def lfw_dir(shared_data: Path) -> Path:
    path = shared_data / "lfw"
    if not (path / "pairs.txt").is_file():
        pytest.fail(f"{path}/pairs.txt is missing from MODELZOO_TEST_DATA")
    return path


@pytest.fixture(scope="session")
def faces_dir(shared_data: Path) -> Path:
    path = shared_data / "faces"
    if not (path / "multiface.jpg").is_file():
        pytest.fail(f"{path}/multiface.jpg is missing from MODELZOO_TEST_DATA")
    return path


@pytest.fixture(scope="session")
def thirdparty() -> Path:
    """The zoo checkouts (read-only): ``deepsparkhub/`` and ``pytorch-examples/``."""
    return _shared_folder("MODELZOO_TEST_THIRDPARTY", "the shared third-party folder (holding deepsparkhub/ and "
                          "pytorch-examples/) to run the zoo recipe tests")


@pytest.fixture()
def folder_set(tmp_path: Path) -> Path:
    """A class-per-folder image set: 5 folders (created in non-sorted order) with 1..7 random
    20x20 PNGs, plus files a scan must skip (a text file, a hidden folder)."""
    import cv2
    import numpy as np

    def write(path: Path, image) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), image)

    rng = np.random.default_rng(0)
    root = tmp_path / "set"
    for name, count in [("zed", 3), ("alice", 7), ("Bob", 2), ("carol", 1), ("dave", 5)]:
        for i in range(count):
            write(root / name / f"{i:02d}.png", rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
    (root / "alice" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    write(root / ".hidden" / "x.png", np.zeros((20, 20, 3), np.uint8))
    return root


@pytest.fixture()
def two_builders_at_once():
    """``run(folder, build)``: two threads call ``build(log)`` while the test holds
    ``folder``'s build lock, so both find it taken; once both have logged that they wait,
    the lock is released. Returns the two results (in finishing order)."""
    import threading

    from modelzoo.store import runlock

    def run(folder: Path, build) -> list:
        results, logs = [], [[], []]
        threads = [threading.Thread(target=lambda n=n: results.append(build(logs[n].append))) for n in range(2)]
        with runlock.build_lock(folder):
            for thread in threads:
                thread.start()
            while sum(any("waiting for another process" in line for line in log) for log in logs) < 2:
                threads[0].join(0.01)
        for thread in threads:
            thread.join(60)
        return results

    return run
