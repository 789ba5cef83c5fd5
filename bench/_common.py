"""What the bench scripts share: the import path, and the machine facts they print.

A script imports this first (``from _common import REPO, machine_facts``; its own folder,
bench/, is on ``sys.path`` when it runs). Importing puts the checkout and the facenet
plugin on ``sys.path``, so the scripts run from a bare checkout (a lent card machine
without ``pip install``) as they do from the project's virtual environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

for _path in (REPO, REPO / "plugins" / "facenet", BENCH):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def machine_facts(device: str = "cpu") -> dict:
    """bench/machine.py's facts; if they fail, the facts every run records, with a note why."""
    try:
        from machine import facts
        return facts(device)
    except Exception as exc:  # a benchmark's figures are still worth having without them
        from modelzoo.measure.env import capture
        return {**capture(device), "note": f"bench/machine.py unavailable ({exc})"}
