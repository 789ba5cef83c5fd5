"""Fixtures for the core's tests."""

from __future__ import annotations

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
