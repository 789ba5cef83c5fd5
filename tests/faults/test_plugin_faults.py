"""Fault class 12: a broken plugin is reported, never swallowed, and never takes the CLI
down: one that calls sys.exit() at import is a warning; one whose environment hook raises
is named in a warning while the run still succeeds."""

from __future__ import annotations

import pytest
from fault_helpers import TINY, Workspace, assert_runs_folder_sound, run_together

ENV_FAILS = '''\
"""The toy plugin, but its environment hook raises."""
from modelzoo import hookimpl
from modelzoo_toy import *  # noqa: F401,F403 - every toy hook
from modelzoo_toy import __version__  # noqa: F401


@hookimpl
def modelzoo_environment(model):
    raise RuntimeError("no facts today")
'''
ENV_WARNING = "plugin 'toy_env_fails' failed in modelzoo_environment: RuntimeError: no facts today"


def _with_plugin(space: Workspace, module: str, source: str, plugins: str) -> Workspace:
    folder = space.root.parent / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / f"{module}.py").write_text(source)
    space.plugin_path.append(str(folder))
    space.plugins = plugins
    return space


def test_a_plugin_that_exits_at_import_is_a_warning_and_the_cli_keeps_working(ws):
    _with_plugin(ws, "exits_at_import", "import sys\nsys.exit(3)\n", plugins="exits_at_import,modelzoo_toy")
    result = ws.cli("list")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "modelzoo: warning: plugin 'exits_at_import' (from $MODELZOO_PLUGINS) failed to import: SystemExit: 3"]
    assert "toy " in result.stdout and "toyseq " in result.stdout


@pytest.fixture(scope="module")
def env_failing(tmp_path_factory, finished_run):
    """A run and an evaluation of the toy through a plugin whose environment hook raises."""
    def space():
        return _with_plugin(Workspace(tmp_path_factory.mktemp("envfail") / "work",
                                      tmp_path_factory.mktemp("cache")), "toy_env_fails", ENV_FAILS,
                            plugins="toy_env_fails")

    trained, evaluated = space(), space()
    weights = str(finished_run / "checkpoint.pt")
    run, evaluation = run_together(
        (trained, ("run", "toy", *TINY)),
        (evaluated, ("eval", "toy", "--device", "cpu", "--weights", weights)))
    return {"run": (trained, run), "eval": (evaluated, evaluation)}


def _assert_succeeds_warning_of_the_hook(space, result):
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    record = space.only_record()
    assert record["status"] == "success"
    assert any(ENV_WARNING in warning for warning in record["warnings"]), record["warnings"]
    assert any(ENV_WARNING in line and "warning" in line for line in result.stderr.splitlines())
    assert_runs_folder_sound(space.runs)


def test_an_evaluation_whose_plugin_environment_hook_raises_succeeds_naming_it(env_failing):
    _assert_succeeds_warning_of_the_hook(*env_failing["eval"])


def test_a_run_whose_plugin_environment_hook_raises_succeeds_naming_it(env_failing):
    _assert_succeeds_warning_of_the_hook(*env_failing["run"])
