"""Real component: the PyTorch project's ImageNet example (pytorch-examples/imagenet/main.py, a
script nobody here wrote) run by modelzoo on the CPU as a zoo recipe, on a generated ImageFolder.

One ``modelzoo run`` of the shipped zoo.yaml's ``pytorch-imagenet`` recipe (profile tiny),
then ``zoo run`` of a release mixing the recipe with a native model (the toy plugin), then
``zoo check``. Each recipe run is one short epoch of SqueezeNet at 224 px (~15 s on 2 cores).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from toy_helpers import REPO, run_cli

from modelzoo.recipe.sample_data import write_image_folder

MIXED = """\
schema_version: 1
models:
  pytorch-imagenet:
    recipe:
      workdir: pytorch-examples/imagenet
      cwd: output
      command: python3 {workdir}/main.py {data}/tiny-imagefolder -a squeezenet1_1 -b 4 --epochs 1 -j 0 -p 1
      samples_per_iteration: 4
      timeout: 600
      data_kind: synthetic
      parse: {preset: progress-meter, warmup: 1}
      metrics:
        - {key: acc1, title: Acc@1, format: "{:.2f}"}
    target: {metric: acc1, value: 0.0}
  toy:
    target: {metric: accuracy, value: 0.0}
releases:
  mixed:
    models:
      pytorch-imagenet: {profiles: [recipe], cards: [1]}
      toy: {profiles: [default], cards: [1], max_steps: 12}
    tolerances: {fps_pct: 100, metrics: {acc1: {abs: 100.0}, accuracy: {abs: 1.0}}}
"""


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    write_image_folder(data / "tiny-imagefolder", classes=2, train_per_class=6, val_per_class=2)
    return data


def _listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_the_imagenet_example_runs_as_a_recipe_with_fps_and_acc1(tmp_path, thirdparty):
    data = _data(tmp_path)
    zoo_folder = thirdparty / "pytorch-examples" / "imagenet"
    before = _listing(zoo_folder)
    shutil.copy(REPO / "zoo.yaml", tmp_path / "zoo.yaml")  # the shipped recipe
    done = run_cli(tmp_path, "run", "pytorch-imagenet", "--profile", "tiny", "--cards", "1", "--device", "cpu",
                   "--data-root", str(data), "--zoo-root", str(thirdparty))
    assert done.returncode == 0, done.stderr
    record = json.loads(next((tmp_path / "runs").glob("*/record.json")).read_text())
    assert record["status"] == "success" and record["plugin"]["name"] == "modelzoo-recipes"
    metrics = record["metrics"]
    assert metrics["fps"] > 0 and metrics["recipe_fps"] > 0       # modelzoo's window and the script's own
    assert 0.0 <= metrics["acc1"] <= 100.0                         # from its " *   Acc@1" line
    assert len(record["curves"]["loss"]["loss"]) == 3              # one per iteration line (12 images / 4)
    power = record["resources"]["power"]
    assert power["avg_w"] is None or power["source"] is not None   # null only with its reason
    if power["avg_w"] is None:
        assert power["reason"]
    assert record["env"]["zoo_commit"] is None and record["env"]["zoo_commit_reason"]
    assert record["data"]["kind"] == "synthetic"
    assert "Epoch: [0][" in Path(record["log"]).read_text(errors="replace")
    assert (Path(record["recipe"]["cwd"]) / "checkpoint.pth.tar").is_file()  # its checkpoint, in the run's folder
    assert _listing(zoo_folder) == before                                   # the zoo checkout is left as it was


def test_a_release_mixing_a_recipe_and_a_native_model_runs_and_passes_zoo_check(tmp_path, thirdparty):
    data = _data(tmp_path)
    (tmp_path / "zoo.yaml").write_text(MIXED)
    env = {"MODELZOO_ZOO_ROOT": str(thirdparty), "MODELZOO_DATA_ROOT": str(data)}
    done = run_cli(tmp_path, "zoo", "run", "--release", "mixed", "--device", "cpu", **env)
    assert done.returncode == 0, done.stdout + done.stderr
    checked = run_cli(tmp_path, "zoo", "check", "--release", "mixed", **env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "pytorch-imagenet" in checked.stdout and "toy" in checked.stdout
    report = run_cli(tmp_path, "report", "--format", "md,json", "--output", str(tmp_path / "reports"), **env)
    assert report.returncode == 0, report.stderr
    markdown = (tmp_path / "reports" / "results.md").read_text()
    assert "pytorch-imagenet" in markdown
    assert "FPS is modelzoo's, timed from outside the script; the script's own figure" in markdown
