"""The application layer as a notebook or a CI script uses it: modelzoo.app (and modelzoo.run & co.)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import modelzoo
from modelzoo import app
from modelzoo.store import records
from modelzoo.toolkit.stopping import Stopped

QUICK = {"train.max_steps": 4, "train.compute_fps_steps": 2}
RELEASE_ZOO = """\
schema_version: 1
models:
  toy:
    target: {metric: accuracy, value: 0.0}
releases:
  nightly:
    models:
      toy: {profiles: [fast], cards: [1], max_steps: 4}
    tolerances: {fps_pct: 100}
"""


def _run_folders(session: app.Session) -> list[str]:
    return sorted(p.name for p in session.runs_dir.iterdir() if p.is_dir()) if session.runs_dir.is_dir() else []


def test_importing_modelzoo_and_its_app_imports_no_torch():
    code = ("import sys, modelzoo, modelzoo.app; modelzoo.run; modelzoo.Session;"
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_package_exports_the_app_and_nothing_unknown():
    assert modelzoo.run is app.run and modelzoo.compare is app.compare and modelzoo.Session is app.Session
    from modelzoo import report as report_package  # keeps its name (the function is app.report)

    assert report_package.__name__ == "modelzoo.report"
    with pytest.raises(AttributeError, match="no attribute 'runn'"):
        modelzoo.runn  # noqa: B018
    assert set(app.__all__) <= set(dir(app))


def test_run_returns_the_saved_record_with_typed_overrides(toy):
    session = app.Session(runs_dir=toy / "runs")
    record = app.run("toy", profile="fast", overrides={**QUICK, "train.seed": 7}, session=session)
    assert record["status"] == "success" and record["metrics"]["fps"] > 0
    assert record["seed"] == 7 and record["overrides"] == {**QUICK, "train.seed": 7}
    assert record["config"]["train"]["max_steps"] == 4
    saved = records.load(session.runs_dir / record["run_id"])
    assert saved["status"] == "success" and saved["metrics"] == record["metrics"]
    # the same options as strings (--set's form) resolve to the same config
    planned = app.plan("toy", profile="fast", overrides=["train.max_steps=4", "train.compute_fps_steps=2",
                                                          "train.seed=7"], session=session)
    assert planned.config == record["config"] and planned.device == "cpu"


def test_plan_checks_and_writes_nothing(toy):
    session = app.Session(runs_dir=toy / "runs")
    planned = app.plan("toy", profile="fast", session=session, overrides={"train.batch_size": 8})
    assert planned.profile == "fast" and planned.config["train"]["batch_size"] == 8
    assert _run_folders(session) == []


@pytest.mark.parametrize("overrides, message", [
    ({"train.batch_sise": 8}, "did you mean 'batch_size'"),
    ({"train.batch_size": "eight"}, "expected an integer"),
    ("train.batch_size=8", "pass a list of KEY=VALUE strings or a mapping"),
])
def test_bad_options_raise_a_user_error_before_any_run_folder(toy, overrides, message):
    session = app.Session(runs_dir=toy / "runs")
    with pytest.raises(app.UserError, match=message):
        app.run("toy", overrides=overrides, session=session)
    with pytest.raises(TypeError):
        app.run("toy", batch_size=8, session=session)  # not an option of RunRequest
    assert _run_folders(session) == []


def test_a_stop_signal_before_the_workers_handlers_is_recorded_interrupted(toy, monkeypatch):
    """SIGTERM (scancel) that lands after the record exists but before the trainer's handlers:
    the record says interrupted (not left 'running' for a dead process) and the handler is restored."""
    from modelzoo.train import launch

    def signal_while_starting(job, cards):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the signal ends this at once
        raise AssertionError("SIGTERM did not stop the start-up")

    monkeypatch.setattr(launch, "launch", signal_while_starting)
    before = signal.getsignal(signal.SIGTERM)
    session = app.Session(runs_dir=toy / "runs")
    with pytest.raises(app.RunStopped) as stopped:
        app.run("toy", profile="fast", session=session)
    assert stopped.value.record["status"] == "interrupted"
    assert stopped.value.record["error"] == "stopped by SIGTERM"
    (run_id,) = _run_folders(session)
    assert records.load(session.runs_dir / run_id)["status"] == "interrupted"
    assert signal.getsignal(signal.SIGTERM) == before


def test_sigterm_inside_the_training_loop_raises_run_stopped_with_a_checkpointed_record(toy):
    """One behaviour through the API: SIGTERM in the loop checkpoints, records ``interrupted`` and
    raises RunStopped (SIGTERM's), never returns as if the run had ended, and leaves the caller's
    handlers as they were; the run resumes to success."""
    session = app.Session(runs_dir=toy / "runs")
    stop_at_step_2 = threading.Thread(target=_sigterm_when_logged, args=(session.runs_dir, "step 2/"), daemon=True)
    stop_at_step_2.start()
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(app.RunStopped) as stopped:
        app.run("toy", profile="fast", session=session,
                overrides={"data.delay_s": 0.05, "train.log_every": 2, "train.compute_fps_steps": 2})
    assert stopped.value.signum == signal.SIGTERM
    record = stopped.value.record
    assert record["status"] == "interrupted" and f"--resume {record['run_id']}" in record["error"]
    assert (session.runs_dir / record["run_id"] / "checkpoint.pt").is_file()
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers
    resumed = app.run("toy", resume=record["run_id"], max_steps=4, session=session)
    assert resumed["status"] == "success" and resumed["run_id"] == record["run_id"]


def _sigterm_when_logged(runs_dir, marker: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(marker in log.read_text() for log in runs_dir.glob("*/train.log")):
            os.kill(os.getpid(), signal.SIGTERM)
            return
        time.sleep(0.02)


def test_sigterm_before_the_record_exists_raises_stopped_and_writes_nothing(toy, monkeypatch):
    from modelzoo.app import running

    def plan_then_signal(request, session):
        planned = plan_request(request, session)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the signal ends this at once
        return planned

    plan_request = running.plan_request
    monkeypatch.setattr(running, "plan_request", plan_then_signal)
    session = app.Session(runs_dir=toy / "runs")
    with pytest.raises(Stopped) as stopped:
        app.run("toy", profile="fast", session=session)
    assert stopped.value.signum == signal.SIGTERM and not isinstance(stopped.value, app.RunStopped)
    assert _run_folders(session) == []


@pytest.mark.parametrize("options, message", [
    ({"device": "tpu"}, "device must be one of auto, cuda, cpu or None, got 'tpu'"),
    ({"cards": "2"}, "cards must be a positive int, got '2' (str)"),
    ({"cards": 0}, "cards must be a positive int, got 0"),
    ({"cards": True}, "cards must be a positive int, got True (bool)"),
    ({"max_steps": 2.5}, "max_steps must be a positive int or None, got 2.5"),
    ({"seed": "7"}, "seed must be an int or None"),
    ({"profile": 3}, "profile must be a str or None"),
    ({"oversubscribe": "yes"}, "oversubscribe must be a bool"),
    ({"overrides": [("train.seed", 1)]}, "pass a list of KEY=VALUE strings or a mapping"),
    ({"overrides": 7}, "pass a list of KEY=VALUE strings or a mapping"),
    ({"session": object()}, "session must be a modelzoo.app.Session, got object"),
    ({"session": "runs"}, "session must be a modelzoo.app.Session, got str"),
])
def test_the_apis_arguments_are_checked_as_the_clis_are(toy, options, message):
    session = app.Session(runs_dir=toy / "runs")
    options = {"session": session, "profile": "fast", **options}
    for call in (app.run, app.plan):
        with pytest.raises(app.UserError) as refused:
            call("toy", **options)
        assert message in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(app.UserError, match="device 'tpu' is not one of auto, cuda, cpu"):
        app.evaluate("toy", "weights.pt", device="tpu", session=session)
    assert _run_folders(session) == []


def test_report_and_compare_read_the_records_back(toy):
    session = app.Session(runs_dir=toy / "runs")
    base = app.run("toy", profile="fast", overrides=QUICK, session=session)
    new = app.run("toy", profile="fast", overrides=QUICK, session=session)
    result = app.compare(base["run_id"], new["run_id"], session=session, max_fps_drop=99.0,
                         max_metric_drop=["accuracy=1.0"])
    assert result.regressions == [] and {row[0] for row in result.rows} >= {"FPS", "Accuracy"}
    written = app.report(session, formats=["md", "json"], output=toy / "reports")
    assert [p.name for p in written.paths] == ["results.md", "results.json"] and written.runs == 2
    assert base["run_id"] in written.paths[0].read_text()
    assert new["run_id"] in written.paths[0].read_text()
    assert [m["model"] for m in json.loads(written.paths[1].read_text())["models"]] == ["toy"]
    with pytest.raises(app.UserError, match="not known"):
        app.report(session, formats=["pdf"])
    empty = app.report(app.Session(runs_dir=toy / "none"), output=toy / "reports-none")
    assert empty.paths == [] and empty.runs == 0 and not (toy / "reports-none").exists()


def test_list_models_and_warnings_go_to_the_callers_hook(toy, monkeypatch):
    monkeypatch.setenv("MODELZOO_PLUGINS", "modelzoo_toy,no_such_plugin_module")
    said = []
    catalog = app.list_models(app.Session(runs_dir=toy / "runs", warn=said.append))
    assert [row["model"] for row in catalog.models][:1] == ["toy"] and "fast" in catalog.models[0]["profiles"]
    assert said and "no_such_plugin_module" in said[0] and catalog.warnings == said


def test_sweep_runs_one_member_per_value_and_summarises(toy):
    session = app.Session(runs_dir=toy / "runs")
    seen = []
    result = app.sweep("toy", "train.seed=1,2", profile="fast", overrides=QUICK, session=session,
                       on_member=seen.append)
    assert [r["seed"] for r in seen] == [1, 2] and result.stopped is None
    assert result.summary["kind"] == "sweep" and result.summary["status"] == "success"
    assert {r["sweep_id"] for r in result.members} == {result.sweep_id}


def test_zoo_run_and_check_from_python(toy, capfd):
    (toy / "zoo.yaml").write_text(RELEASE_ZOO)
    said, shown = [], []
    session = app.Session(zoo_file=str(toy / "zoo.yaml"), runs_dir=toy / "runs", say=said.append,
                          show=shown.append)
    summary = app.zoo_run("nightly", session=session, device="cpu")
    assert summary["kind"] == "zoo" and summary["status"] == "success"
    assert [m["status"] for m in summary["members"]] == ["success"]
    assert any(line.startswith("cell toy/fast x1: starting") for line in said)
    assert len(shown) == 1 and shown[0].startswith("cell toy/fast x1: success (new run ")
    assert "cell toy/fast" not in capfd.readouterr().out  # the session's callbacks got the lines, not stdout
    again = app.zoo_run("nightly", session=session, device="cpu")  # resumable: the cell is skipped
    assert [m["action"] for m in again["members"]] == ["skip"]
    release_id, verdicts = app.zoo_check("nightly", session=session)
    assert release_id == "nightly" and [v.passed for v in verdicts] == [True]
    with pytest.raises(app.UserError, match="release 'weekly' is not in"):
        app.zoo_run("weekly", session=session)


@pytest.mark.parametrize("verb", ["evaluate", "export"])
def test_sigterm_inside_evaluate_or_export_raises_stopped_and_restores_the_handlers(toy, monkeypatch, verb):
    """Through the API, as through the CLI: a stop signal raises Stopped (the process is not
    killed with the evaluation's record left unwritten); an evaluation records ``interrupted``."""
    from modelzoo.app import weights

    def load_then_signal(*args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the signal ends this at once
        raise AssertionError("SIGTERM did not stop the evaluation")

    monkeypatch.setattr(weights, "_load_network", load_then_signal)
    session = app.Session(runs_dir=toy / "runs")
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(Stopped) as stopped:
        getattr(app, verb)("toy", str(toy / "weights.pt"), device="cpu", session=session)
    assert stopped.value.signum == signal.SIGTERM
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == handlers
    if verb == "evaluate":
        (run_id,) = _run_folders(session)
        saved = records.load(session.runs_dir / run_id)
        assert saved["status"] == "interrupted" and saved["error"] == "stopped by SIGTERM"
    else:
        assert _run_folders(session) == [] and not list(toy.glob("weights.onnx*"))
