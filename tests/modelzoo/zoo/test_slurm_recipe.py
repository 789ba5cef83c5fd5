"""A zoo recipe through `zoo run --launcher slurm` (the session's private one-node cluster).

The recipe's workdir is relative to the zoo root given on the command line: the job's
`modelzoo run` must get `--zoo-root` too, and record the parsed metric and FPS.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from toy_helpers import run_cli

from modelzoo.store import records

RECIPES = Path(__file__).resolve().parents[1]  # tests/modelzoo: the "zoo checkout" holding recipe/hostile.py


def test_a_recipe_cell_runs_on_slurm_with_the_zoo_root_of_the_command_line(tmp_path, slurm_cluster, monkeypatch):
    monkeypatch.delenv("MODELZOO_ZOO_ROOT", raising=False)
    (tmp_path / "zoo.yaml").write_text(f"""\
schema_version: 1
models:
  hostile:
    recipe:
      workdir: recipe
      command: {json.dumps(Path(sys.executable).name + " hostile.py good")}
      parse: {{preset: keyvalue, warmup: 1}}
      metrics: [{{key: acc1, title: Acc@1}}]
    target: {{metric: acc1, value: 50.0}}
releases:
  recipes:
    models:
      hostile: {{profiles: [recipe], cards: [1]}}
""")
    done = run_cli(tmp_path, "zoo", "run", "--release", "recipes", "--launcher", "slurm", "--device", "cpu",
                   "--zoo-root", str(RECIPES), timeout=240, MODELZOO_SLURM_POLL_S="0.5", **slurm_cluster.env)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    record, = [r for r in records.load_all(tmp_path / "runs") if r.get("zoo_cell")]
    assert record["status"] == "success" and record["metrics"]["acc1"] == 50.0 and record["metrics"]["fps"] > 0
    assert record["recipe"]["cwd"] == str(RECIPES / "recipe")
    assert "slurm" in record["env"]
