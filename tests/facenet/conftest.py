"""Fixtures for the facenet plugin's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def facenet_cli(tmp_path_factory):
    """A folder for one test module's CLI runs: only the facenet plugin loaded, runs and cache
    inside the folder, no zoo file from the environment; yields the folder."""
    tmp = tmp_path_factory.mktemp("facenet")
    env = {"MODELZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "MODELZOO_PLUGINS": "modelzoo_facenet.plugin",
           "MODELZOO_RUNS": str(tmp / "runs"), "MODELZOO_CACHE": str(tmp / "cache")}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("MODELZOO_ZOO", raising=False)
        patch.chdir(tmp)
        yield tmp
