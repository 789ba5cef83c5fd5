"""Fixtures for the tests of modelzoo.zoo: a real Slurm cluster (see slurm_cluster.py)."""

from __future__ import annotations

import pytest
from slurm_cluster import start_or_skip


@pytest.fixture(scope="session")
def slurm_cluster():
    """One private Slurm cluster for the session (skipped with the reason where it cannot start)."""
    cluster = start_or_skip()
    try:
        yield cluster
    finally:
        cluster.stop()
