"""Fixtures of the fault suite; the helpers they use live in fault_helpers.py (a module
name of its own: several conftest.py files share the tests' import path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_helpers import TINY, Workspace


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path / "work", tmp_path / "cache")


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """The folder of one tiny successful toy run, trained once; tests copy it (:meth:`Workspace.adopt`)."""
    space = Workspace(tmp_path_factory.mktemp("finished") / "work", tmp_path_factory.mktemp("cache"))
    result = space.cli("run", "toy", *TINY)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = space.run_dirs()
    return run_dir
