"""The demo end to end: a short CPU training must beat the untrained network by far,
and its checkpoint must evaluate and export through the CLI."""

from __future__ import annotations

import pytest

from modelzoo.cli import main
from modelzoo.store import records

# A smaller synthetic set than the profile's, so the test takes well under a minute.
SMALL = ["--set", "data.demo_train_identities=200", "--set", "data.demo_images_per_identity=16",
         "--set", "data.demo_test_identities=60", "--set", "data.demo_seed=5"]


@pytest.fixture(scope="module")
def demo_runs(facenet_cli):
    # two steps, the second timed: a run that times no step has no FPS and is refused
    untrained = _run(["--max-steps", "2", "--set", "train.fps_warmup_steps=1"])
    trained = _run(["--set", "train.epochs=14"])  # 700 steps: the loss leaves its plateau near 300
    return facenet_cli, untrained, trained


def _run(extra):
    before = {r["run_id"] for r in records.load_all("runs")}
    assert main(["run", "facenet", "--profile", "demo", "--device", "cpu", *SMALL, *extra]) == 0
    (record,) = [r for r in records.load_all("runs") if r["run_id"] not in before]
    return record


def test_short_training_beats_the_untrained_network(demo_runs):
    _, untrained, trained = demo_runs
    before, after = untrained["metrics"]["lfw_accuracy"], trained["metrics"]["lfw_accuracy"]
    assert after > 0.75 and after > before + 0.2, (before, after)
    assert trained["data"]["kind"] == "synthetic"
    assert trained["data"]["evaluation"]["kind"] == "synthetic"
    assert len(trained["curves"]["roc"]["fpr"]) == len(trained["curves"]["roc"]["tpr"]) > 100


def test_checkpoint_evaluates_and_exports(demo_runs, capsys):
    tmp, _, trained = demo_runs
    checkpoint = trained["checkpoint"]
    assert main(["eval", "facenet", "--profile", "demo", "--device", "cpu", "--weights", checkpoint, *SMALL]) == 0
    (evaluated,) = [r for r in records.load_all("runs") if r["kind"] == "eval"]
    assert evaluated["metrics"]["lfw_accuracy"] == pytest.approx(trained["metrics"]["lfw_accuracy"])
    assert evaluated["data"]["kind"] == "synthetic"
    output = tmp / "demo.ts"
    assert main(["export", "facenet", "--profile", "demo", "--device", "cpu", "--weights", checkpoint,
                 "--format", "torchscript", "--output", str(output), *SMALL]) == 0
    assert "max abs diff" in capsys.readouterr().out and output.is_file()
