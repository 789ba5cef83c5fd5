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


def _shared_data() -> Path:
    value = os.environ.get("MODELZOO_TEST_DATA")
    if not value:
        pytest.skip("MODELZOO_TEST_DATA is not set: point it at the shared data folder "
                    "(holding lfw/ and faces/) to run the real-data tests")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"MODELZOO_TEST_DATA={value} does not exist")
    return path


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
