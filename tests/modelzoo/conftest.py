"""Fixtures for the core's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from toy_helpers import TOY_DIR


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """The toy plugin registered through $MODELZOO_PLUGINS, runs under tmp_path."""
    monkeypatch.syspath_prepend(str(TOY_DIR))
    monkeypatch.setenv("MODELZOO_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("MODELZOO_PLUGINS", "modelzoo_toy")
    monkeypatch.setenv("MODELZOO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MODELZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MODELZOO_ZOO", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- the DeepSparkHub snapshot (catalogue tests) ----------------------------------------
# MODELZOO_TEST_THIRDPARTY: the shared thirdparty folder (.ci/run sets it to ../shared/thirdparty);
# read-only: tests that write work on copies.

@pytest.fixture(scope="session")
def dsh_root(thirdparty: Path) -> Path:
    root = thirdparty / "deepsparkhub"
    if not (root / "tests" / "model_info.json").is_file():
        pytest.fail(f"MODELZOO_TEST_THIRDPARTY={thirdparty} has no deepsparkhub/tests/model_info.json")
    return root


@pytest.fixture()
def copy_of(dsh_root: Path, tmp_path: Path):
    """``copy_of(*readmes)``: a minimal checkout in tmp_path (model_info.json and those READMEs)."""
    import shutil

    def make(*relatives: str) -> Path:
        root = tmp_path / "dsh"
        (root / "tests").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dsh_root / "tests" / "model_info.json", root / "tests" / "model_info.json")
        for relative in relatives:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dsh_root / relative, root / relative)
        (root / "models").mkdir(exist_ok=True)
        return root

    return make
