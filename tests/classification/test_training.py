"""End to end through the CLI: a tiny demo run trains, evaluates and records; eval reloads its checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = ["--set", "data.demo_classes=3", "--set", "data.demo_train_per_class=16", "--set", "data.demo_test_per_class=8",
        "--set", "data.val_resize=16", "--set", "data.train_crop=14", "--set", "data.val_crop=14",
        "--set", "model.arch=resnet18", "--set", "train.batch_size=8", "--set", "train.epochs=2",
        "--set", "train.log_every=2", "--set", "train.fps_warmup_steps=1", "--set", "train.compute_fps_steps=2"]


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update({"MODELZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "MODELZOO_PLUGINS": "modelzoo_classification.plugin",
                "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins" / "classification"),
                                               env.get("PYTHONPATH", "")]),
                "MODELZOO_RUNS": str(tmp_path / "runs"), "MODELZOO_CACHE": str(tmp_path / "cache"),
                "OMP_NUM_THREADS": "1"})
    env.pop("MODELZOO_ZOO", None)
    return subprocess.run([sys.executable, "-m", "modelzoo", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)


def test_demo_run_trains_evaluates_and_records_synthetic_data(tmp_path):
    done = _cli(tmp_path, "run", "resnet50", "--profile", "demo", "--device", "cpu", *TINY)
    assert done.returncode == 0, done.stderr[-2000:]
    (record_file,) = (tmp_path / "runs").glob("*/record.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "success"
    metrics = record["metrics"]
    assert 0.0 <= metrics["acc1"] <= 100.0 and metrics["acc5"] == 100.0 and metrics["eval_images"] == 24
    assert metrics["steps"] == 12 and metrics["fps"] > 0  # 2 epochs of 48 images in batches of 8
    assert record["data"]["kind"] == "synthetic" and record["data"]["identities"] == 3
    assert record["data"]["evaluation"]["kind"] == "synthetic"
    assert "[synthetic data]" in done.stdout + done.stderr

    checkpoint = record_file.parent / "checkpoint.pt"
    scored = _cli(tmp_path, "eval", "resnet50", "--profile", "demo", "--device", "cpu", "--weights", str(checkpoint),
                  *_eval_sets())
    assert scored.returncode == 0, scored.stderr[-2000:]
    evaluated = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/record.json")
                 if p != record_file]
    assert len(evaluated) == 1 and evaluated[0]["metrics"]["acc1"] == metrics["acc1"]


def _eval_sets() -> list[str]:
    """The data and model settings of TINY (evaluation needs the same held-out set and network)."""
    out = []
    for flag, value in zip(TINY[::2], TINY[1::2]):
        if value.startswith(("data.", "model.")):
            out += [flag, value]
    return out


def test_list_does_not_import_torch(tmp_path):
    code = ("import sys; from modelzoo.cli import main; main(['list']); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    env = dict(os.environ, MODELZOO_DISABLE_PLUGIN_AUTOLOAD="1", MODELZOO_PLUGINS="modelzoo_classification.plugin",
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "plugins" / "classification")]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "resnet50" in done.stdout and done.stdout.strip().endswith("NO-TORCH"), done.stdout + done.stderr
