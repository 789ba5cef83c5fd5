"""The CLI's verbs and every bad input: one line, cause and remedy, non-zero exit, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from toy_helpers import run_cli

from modelzoo.cli import main
from modelzoo.store import records


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error message"
    assert "Traceback" not in "\n".join(err)
    return err[-1]


def test_importing_the_cli_does_not_import_torch():
    code = ("import sys, modelzoo.cli, modelzoo.report.render, modelzoo.store.records, modelzoo.zoo.compare;"
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_list_shows_models_profiles_and_json(toy, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "toy" in out and "default (default)" in out and "fast" in out
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["models"][0]["model"] == "toy"
    assert listed["models"][0]["plugin"]["name"] == "modelzoo_toy"


def test_help_on_every_verb(capsys):
    for verb in ("list", "run", "eval", "export", "report", "compare"):
        with pytest.raises(SystemExit) as done:
            main([verb, "--help"])
        assert done.value.code == 0
        assert f"usage: modelzoo {verb}" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["run", "nosuch"], "unknown model 'nosuch'; known models: toy"),
    (["run", "toy", "--profile", "nope"], "unknown profile 'nope' for model 'toy'; known profiles: default, fast"),
    (["run", "toy", "--device", "cpu", "--cards", "512"], "--cards 512 on the CPU needs one core per worker"),
    (["run", "toy", "--set", "train.batch_sise=3"], "unknown key (did you mean 'batch_size'?)"),
    (["run", "toy", "--set", "train.batch_size=x"], "expected an integer, got 'x'"),
    (["compare", "nope1", "nope2"], "unknown run id 'nope1'"),
    (["report", "--format", "pdf"], "--format pdf is not known"),
])
def test_bad_input_is_one_line_with_exit_2(toy, capsys, args, message):
    assert main(args) == 2
    assert message in _error_line(capsys)


@pytest.mark.parametrize("cards", ["0", "-1", "x"])
def test_bad_card_counts(toy, capsys, cards):
    with pytest.raises(SystemExit) as done:
        main(["run", "toy", "--cards", cards])
    assert done.value.code == 2
    assert "--cards: expected a positive integer" in capsys.readouterr().err


def test_cuda_without_a_card(toy, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA card is visible here")
    assert main(["run", "toy", "--device", "cuda"]) == 2
    assert "--device cuda but no CUDA card is visible; use --device cpu" in _error_line(capsys)


def test_unwritable_runs_dir(toy, capsys):
    blocker = toy / "file"
    blocker.write_text("not a directory")
    assert main(["run", "toy", "--device", "cpu", "--runs-dir", str(blocker / "runs")]) == 2
    assert "cannot write to the runs directory" in _error_line(capsys)
    assert main(["report", "--output", str(blocker / "out"), "--runs-dir", str(toy)]) == 0  # no runs: friendly
    record = records.new_record(run_id="r1", kind="train", model="toy", model_title="Toy", plugin={},
                                profile="p", config={}, overrides={}, cards=1, world_size=1, device="cpu",
                                seed=0, metric_columns=[], log="")
    records.save(record, toy / "runs")
    assert main(["report", "--output", str(blocker / "out")]) == 2
    assert "cannot write to the report directory" in _error_line(capsys)


def test_broken_zoo_file_is_reported(toy, capsys):
    (toy / "zoo.yaml").write_text("schema_version: 1\nmodels:\n  toy:\n    profiles: {fast: {train: {epoch: 1}}}\n")
    assert main(["run", "toy", "--profile", "fast"]) == 2
    assert "zoo.yaml:4: models.toy.profiles.fast.train.epoch: unknown key (did you mean 'epochs'?)" in _error_line(capsys)


def test_report_without_runs_is_friendly(toy, capsys):
    assert main(["report"]) == 0
    assert "no run records" in capsys.readouterr().out


def test_dry_run_resolves_without_running(toy, capsys):
    assert main(["run", "toy", "--device", "cpu", "--dry-run", "--set", "train.batch_size=4"]) == 0
    out = capsys.readouterr().out
    assert "batch_size: 4" in out and "nothing was run" in out
    assert not (toy / "runs").exists() or not list((toy / "runs").iterdir())


def test_run_report_compare_and_resume_of_a_finished_run(toy, capsys):
    assert main(["run", "toy", "--device", "cpu", "--profile", "fast", "--seed", "3"]) == 0
    assert main(["run", "toy", "--device", "cpu", "--profile", "fast", "--seed", "3"]) == 0
    out = capsys.readouterr()
    assert "succeeded [synthetic data]" in out.out
    first, second = [r["run_id"] for r in records.load_all(toy / "runs")]
    record = records.find(toy / "runs", first)
    assert record["status"] == "success" and record["seed"] == 3
    assert record["config"]["train"]["seed"] == 3
    assert record["env"]["torch"] and record["env"]["cpu_count"]
    assert record["data"]["kind"] == "synthetic"
    assert record["metrics"]["fps"] > 0 and record["metrics"]["compute_fps"] > 0
    # identical seeds give identical accuracy; compare passes with loose FPS limits
    assert main(["compare", first, second, "--max-fps-drop", "99"]) == 0
    assert "no regression" in capsys.readouterr().out
    # a finished run cannot be resumed
    assert main(["run", "toy", "--device", "cpu", "--resume", first]) == 2
    assert "already finished (success)" in _error_line(capsys)


def test_compare_exit_codes(toy, capsys):
    runs = toy / "runs"
    base = records.new_record(run_id="base", kind="train", model="toy", model_title="Toy", plugin={},
                              profile="p", config={}, overrides={}, cards=1, world_size=1, device="cpu",
                              seed=0, metric_columns=[{"key": "accuracy", "title": "Accuracy",
                                                       "format": "{:.4f}", "std_key": None,
                                                       "higher_is_better": True}], log="")
    def metrics(fps, accuracy):  # 4 timed steps of 10 samples, as long as the FPS says
        return {"fps": fps, "accuracy": accuracy, "timed_steps": 4, "timed_seconds": 40 / fps, "steps": 6,
                "images_seen": 60}

    base.update(status="success", metrics=metrics(100.0, 0.90))
    records.save(base, runs)
    for run_id, fps, accuracy, code in [("same", 97.0, 0.899, 0), ("slow", 80.0, 0.90, 1),
                                        ("worse", 100.0, 0.85, 1)]:
        records.save({**base, "run_id": run_id, "metrics": metrics(fps, accuracy)}, runs)
        assert main(["compare", "base", run_id]) == code, run_id
        out = capsys.readouterr().out
        assert ("REGRESSION" in out) == bool(code)
    records.save({**base, "run_id": "broken", "status": "failed"}, runs)
    assert main(["compare", "base", "broken"]) == 2
    assert "not a successful run" in _error_line(capsys)


def test_plugin_hook_raising_during_a_run_leaves_a_failed_record(toy, capsys):
    assert main(["run", "toy", "--device", "cpu", "--set", "data.fail_in=modelzoo_build_model"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "toy failure in modelzoo_build_model" in err
    (record,) = records.load_all(toy / "runs")
    assert record["status"] == "failed"
    assert record["error"] == ("plugin 'modelzoo_toy' failed in modelzoo_build_model: "
                               "RuntimeError: toy failure in modelzoo_build_model")
    assert "Traceback" in (toy / "runs" / record["run_id"] / "train.log").read_text()


def test_debug_shows_the_traceback(toy):
    done = run_cli(toy, "run", "toy", "--device", "cpu", "--profile", "nope", "--debug")
    assert done.returncode != 0 and "Traceback" in done.stderr
    done = run_cli(toy, "run", "toy", "--device", "cpu", "--profile", "nope")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("modelzoo: error: unknown profile 'nope'")


def test_diverged_loss_stops_the_run(toy, capsys):
    assert main(["run", "toy", "--device", "cpu", "--set", "loss.nan_at_step=6"]) == 3
    (record,) = records.load_all(toy / "runs")
    assert record["status"] == "diverged"
    assert "NaN or inf" in record["error"]
    assert record["metrics"]["steps"] <= 8  # caught at the next health check (log_every 4)


def test_sweep_runs_each_value_and_summarizes_mean_and_std(toy, capsys, monkeypatch):
    from modelzoo.report.render import build_report

    assert main(["run", "toy", "--device", "cpu", "--profile", "fast", "--sweep", "train.seed=1..2"]) == 0
    found = records.load_all(toy / "runs")
    members = [r for r in found if r["kind"] == "train"]
    (summary,) = [r for r in found if r["kind"] == "sweep"]
    assert sorted(r["config"]["train"]["seed"] for r in members) == [1, 2]
    assert all(r["sweep_id"] == summary["run_id"] for r in members)
    accuracies = [r["metrics"]["accuracy"] for r in members]
    assert summary["metrics"]["accuracy"] == pytest.approx(sum(accuracies) / 2)
    assert summary["sweep"] == {"key": "train.seed", "values": ["1", "2"]}
    assert summary["data"]["protocol"] == "sweep, mean over train.seed=1,2"
    # the report shows the summary in place of its members
    assert [r["run_id"] for r in build_report(found).records] == [summary["run_id"]]
    assert main(["run", "toy", "--sweep", "train.seed=3..1"]) == 2
    assert "the range is empty" in _error_line(capsys)


def _interrupted_toy_record(toy, data_root):
    record = records.new_record(run_id="r-cut", kind="train", model="toy", model_title="Toy", plugin={},
                                profile="default", config={"train": {"seed": 3}}, overrides={}, cards=1,
                                world_size=1, device="cpu", seed=3, metric_columns=[], log="",
                                data_root=data_root)
    record["status"] = "interrupted"
    records.save(record, toy / "runs")


@pytest.mark.parametrize("given, expected", [
    ([], "recorded"),                              # the resume hint names no --data-root
    (["--data-root", "elsewhere"], "elsewhere"),   # an explicit one still wins
])
def test_resume_uses_the_interrupted_runs_data_root(toy, monkeypatch, given, expected):
    from modelzoo.train import launch

    monkeypatch.delenv("MODELZOO_DATA_ROOT", raising=False)
    _interrupted_toy_record(toy, str(toy / "recorded"))
    jobs = []
    monkeypatch.setattr(launch, "launch", lambda job, cards: jobs.append(job) or
                        {"status": "success", "run_id": "r-cut", "metrics": {}, "metric_columns": []})
    assert main(["run", "toy", "--resume", "r-cut", *given]) == 0
    assert Path(jobs[0].data_root).name == expected
