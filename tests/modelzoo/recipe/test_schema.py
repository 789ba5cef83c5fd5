"""Bad recipe blocks: one line naming zoo.yaml:LINE and the fix, exit 2, nothing written."""

from __future__ import annotations

import sys

import pytest
from recipe_helpers import HERE

from modelzoo.cli import main

GOOD = {
    "workdir": str(HERE),
    "command": f"{sys.executable} hostile.py good",
    "parse": "{preset: keyvalue}",
}


def _zoo(tmp_path, **recipe) -> str:
    keys = {**GOOD, **recipe}
    lines = "\n".join(f"      {k}: {v}" for k, v in keys.items() if v is not None)
    path = tmp_path / "zoo.yaml"
    path.write_text(f"schema_version: 1\nmodels:\n  bad:\n    recipe:\n{lines}\n")
    return str(path)


@pytest.mark.parametrize("recipe, line, words", [
    ({"workdir": "no/such/folder"}, 5, ["models.bad.recipe.workdir", "is not a folder", "--zoo-root"]),
    ({"workdir": None}, 4, ["models.bad.recipe.workdir", "missing"]),
    ({"command": None}, 4, ["models.bad.recipe.command", "missing"]),
    ({"parse": "{metrics: {acc1: 'acc1=(?P<value>[0-9.'}}"}, 7, ["does not compile", "fix the regular expression"]),
    ({"command": "'python3 main.py --arch {arhc}'"}, 6, ["unknown placeholder {arhc}", "add 'arhc' to vars"]),
    ({"command": "'no_such_program_xyz main.py'"}, 6, ["no_such_program_xyz", "fix the command"]),
])
def test_bad_recipe_is_one_line_naming_the_zoo_yaml_line(tmp_path, capsys, recipe, line, words):
    zoo = _zoo(tmp_path, **recipe)
    code = main(["run", "bad", "--zoo", zoo, "--zoo-root", str(tmp_path), "--device", "cpu",
                 "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"zoo.yaml:{line}:" in err, err
    for word in words:
        assert word in err, err
    assert not any((tmp_path / "runs").glob("*/record.json"))


def test_an_unknown_zoo_root_names_the_option(tmp_path, capsys):
    zoo = _zoo(tmp_path, workdir="models/x")
    code = main(["run", "bad", "--zoo", zoo, "--zoo-root", str(tmp_path / "nowhere"), "--device", "cpu",
                 "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "from --zoo-root" in err and "is not a folder" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_relative_workdir_without_a_zoo_root_says_how_to_give_one(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MODELZOO_ZOO_ROOT", raising=False)
    zoo = _zoo(tmp_path, workdir="models/x")
    code = main(["run", "bad", "--zoo", zoo, "--device", "cpu", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and "zoo.yaml:5:" in err and "MODELZOO_ZOO_ROOT" in err


def test_list_marks_recipes_and_dry_run_prints_command_and_environment(tmp_path, capsys):
    zoo = _zoo(tmp_path, env="{OMP_NUM_THREADS: '1'}")
    assert main(["list", "--zoo", zoo]) == 0
    assert "zoo recipe" in capsys.readouterr().out
    assert main(["run", "bad", "--zoo", zoo, "--device", "cpu", "--dry-run", "--runs-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert f"cd {HERE}" in out
    assert "OMP_NUM_THREADS=1" in out and "CUDA_VISIBLE_DEVICES=''" in out and "hostile.py good" in out
    assert not any((tmp_path / "runs").iterdir())


def test_per_card_commands_vars_and_set_reach_the_planned_command(tmp_path, capsys):
    zoo = _zoo(tmp_path, command="{1: 'python3 hostile.py good {batch}', 2: 'python3 hostile.py good {cards}x{batch}'}",
               vars="{batch: 32}", samples_per_iteration="'{batch}'")
    base = ["run", "bad", "--zoo", zoo, "--device", "cpu", "--dry-run", "--runs-dir", str(tmp_path / "runs")]
    assert main(base + ["--set", "recipe.vars.batch=64"]) == 0
    out = capsys.readouterr().out
    assert "hostile.py good 64" in out and "64 samples per iteration" in out
    assert main(base + ["--cards", "2"]) == 0
    out = capsys.readouterr().out
    assert "hostile.py good 2x32" in out and "64 samples per iteration" in out  # 32 per card x 2
    assert main(base + ["--set", "recipe.vars.nope=1"]) == 2
    assert "recipe.vars.nope: unknown key (known: batch)" in capsys.readouterr().err


def test_a_card_count_without_a_command_is_refused(tmp_path, capsys):
    zoo = _zoo(tmp_path, command="{2: 'python3 hostile.py good'}")
    assert main(["run", "bad", "--zoo", zoo, "--device", "cpu", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "no command for 1 card(s) (given for 2)" in err and "zoo.yaml:6:" in err
