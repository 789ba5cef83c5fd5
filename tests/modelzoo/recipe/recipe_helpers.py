"""Helpers for the recipe tests: a zoo file with one recipe model running hostile.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def hostile_zoo(tmp_path: Path, mode: str, *, timeout: float = 20, grace: float = 1, extra: str = "",
                log_limit_mb: int = 64) -> Path:
    """zoo.yaml with model 'hostile': ``python hostile.py MODE`` in this folder, key=value parsing."""
    path = tmp_path / "zoo.yaml"
    command = json.dumps(f"{Path(sys.executable).name} hostile.py {mode} {extra}".strip())
    path.write_text(f"""\
schema_version: 1
models:
  hostile:
    description: a script that misbehaves
    recipe:
      workdir: {json.dumps(str(HERE))}
      command: {command}
      timeout: {timeout}
      grace: {grace}
      log_limit_mb: {log_limit_mb}
      parse: {{preset: keyvalue, warmup: 1}}
      metrics:
        - {{key: acc1, title: Acc@1, format: "{{:.2f}}"}}
""")
    return path
