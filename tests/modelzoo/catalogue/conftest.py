"""Fixtures for the catalogue tests: the DeepSparkHub snapshot under ``MODELZOO_TEST_THIRDPARTY``
(``.ci/run`` sets it to ../shared/thirdparty), read-only; tests that write work on copies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def dsh_root() -> Path:
    value = os.environ.get("MODELZOO_TEST_THIRDPARTY")
    if not value:
        pytest.skip("MODELZOO_TEST_THIRDPARTY is not set: point it at the shared thirdparty folder "
                    "(the one holding deepsparkhub/) to run the catalogue tests on the real zoo")
    root = Path(value) / "deepsparkhub"
    if not (root / "tests" / "model_info.json").is_file():
        pytest.fail(f"MODELZOO_TEST_THIRDPARTY={value} has no deepsparkhub/tests/model_info.json")
    return root


@pytest.fixture(scope="session")
def imported(dsh_root: Path) -> dict:
    """The snapshot's catalogue document, built once."""
    from modelzoo.catalogue import importer

    return importer.build(dsh_root)


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
