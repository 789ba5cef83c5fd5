"""The bench scripts' import path: the checkout and the facenet plugin on ``sys.path``.

A script imports this first (``import benchpath`` or ``from benchpath import REPO``; its own
folder, bench/, is on ``sys.path`` when it runs); the machine facts it prints are
bench/machine.py's ``machine_facts``. Importing puts the checkout and the facenet
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
