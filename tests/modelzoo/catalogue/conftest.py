"""Fixtures for the catalogue tests (``dsh_root``, the real snapshot, is tests/modelzoo/conftest.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def imported(dsh_root: Path) -> dict:
    """The snapshot's catalogue document, built once."""
    from modelzoo.catalogue import importer

    return importer.build(dsh_root)
