"""`zoo check --release NEW --baseline OLD`: each cell against the same cell in the previous
release's runs, noise-aware, with the rule that judged it named; bad input is one line.

The first test runs the toy's release matrix twice through `zoo run` (the second release with
a deliberate slowdown of one model through --set) and checks that exactly the slowed cell
is flagged; the others judge hand-made records."""

from __future__ import annotations

import json
import textwrap

import pytest
from toy_helpers import run_cli, timing

from modelzoo.cli import main
from modelzoo.store import records

ZOO = textwrap.dedent("""\
    schema_version: 1
    models:
      toy: {}
      toyseq: {}
    releases:
      r1:
        models:
          toy: {profiles: [default], cards: [1], max_steps: 10}
          toyseq: {profiles: [default], cards: [1], max_steps: 10}
      r2:
        models:
          toy: {profiles: [default], cards: [1], max_steps: 10}
          toyseq: {profiles: [default], cards: [1], max_steps: 10}
    """)


def test_a_release_slowed_on_purpose_is_flagged_in_exactly_the_slowed_cell(tmp_path):
    (tmp_path / "zoo.yaml").write_text(ZOO)
    # 10 ms a sample: ~30x slower. The toys' own FPS (microseconds a step) swings 4x from run to run on
    # a busy machine, so the gate is given a 90 % limit: a 10x change either way, which only the slowdown makes
    for release, slow in (("r1", []), ("r2", ["--set", "data.delay_s=0.01"])):
        for model, extra in (("toy", slow), ("toyseq", [])):
            done = run_cli(tmp_path, "zoo", "run", "--release", release, "--models", model, "--device", "cpu",
                           *extra, timeout=240)
            assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    checked = run_cli(tmp_path, "zoo", "check", "--release", "r2", "--baseline", "r1", "--max-fps-drop", "90",
                      timeout=60)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    verdicts = {line.split()[0]: line for line in lines[1:3]}
    assert " regression " in verdicts["toy/default"] and "FPS" in verdicts["toy/default"]
    assert "(limit 90.0 %: --max-fps-drop 90 %)" in verdicts["toy/default"]
    assert " unchanged " in verdicts["toyseq/default"]
    assert lines[-1].startswith("zoo check r2 against r1: FAIL: toy/default CPU x1 (regression: FPS ")


def _record(run_id: str, release: str, fps: float, *, model: str = "toy", accuracy: float = 0.9,
            host: str = "h", cards: int = 1, stability=None, **cell) -> dict:
    record = records.new_record(run_id=run_id, kind="train", model=model, model_title=model.capitalize(),
                                plugin={"name": "modelzoo_toy", "version": "0.0.1"}, profile="default",
                                config={"train": {}}, overrides={}, cards=cards, world_size=cards, device="cpu",
                                seed=0, metric_columns=[{"key": "accuracy", "title": "Accuracy",
                                                         "format": "{:.4f}", "higher_is_better": True}], log=None)
    # the timing fields an FPS must agree with (modelzoo.store.plausible): 10 steps of 16 samples
    record["metrics"] = {"fps": fps, "accuracy": accuracy, **timing(fps, batch=16, timed_steps=10, steps=12)}
    if stability:
        record["metrics"]["fps_stability"] = stability
    record["env"] = {"host": host, "cpu": "a CPU", "gpu": None}
    record["release"] = release
    record["zoo_cell"] = {"release": release, "model": model, "profile": "default", "cards": cards,
                          "max_steps": 10, **cell}
    records.mark_finished(record, "success")
    return record


def _check(toy, capsys, found: list[dict], *args: str) -> tuple[int, list[str]]:
    for record in found:
        records.save(record, toy / "runs")
    rc = main(["zoo", "check", "--release", "new", "--baseline", "old", *args])
    captured = capsys.readouterr()
    return rc, (captured.out + captured.err).splitlines()


def _line(lines: list[str], cell: str) -> str:
    return next(line for line in lines if line.startswith(cell))


def test_verdicts_per_cell_and_the_rule_that_judged_each(toy, capsys):
    found = [_record("a1", "old", 100.0), _record("a2", "new", 90.0),                       # FPS -10 %
             _record("b1", "old", 100.0, model="toyseq"), _record("b2", "new", 97.0, model="toyseq"),  # -3 %
             _record("c1", "old", 100.0, cards=2), _record("c2", "new", 100.0, cards=2, accuracy=0.8),
             _record("d1", "old", 100.0, cards=4),                                           # missing in NEW
             _record("e2", "new", 100.0, cards=8),                                           # new cell
             _record("f1", "old", 100.0, cards=3), _record("f2", "new", 120.0, cards=3)]     # improvement
    rc, lines = _check(toy, capsys, found)
    assert rc == 1
    assert "regression" in _line(lines, "toy/default CPU x1 ") and "-10.0 %" in _line(lines, "toy/default CPU x1 ")
    assert "(limit 5.0 %: default 5 %)" in _line(lines, "toy/default CPU x1 ")
    assert " unchanged " in _line(lines, "toyseq/default CPU x1 ")
    assert "Accuracy 0.9000 -> 0.8000 (-0.1): regression (limit 0.0045: default 0.5 %)" in \
        _line(lines, "toy/default CPU x2 ")
    assert " missing in NEW " in _line(lines, "toy/default CPU x4 ")
    assert " new cell " in _line(lines, "toy/default CPU x8 ")
    assert " improvement " in _line(lines, "toy/default CPU x3 ")
    assert lines[-1].startswith("zoo check new against old: FAIL: toy/default CPU x1 (regression: FPS 100.00 -> 90.00")


def test_the_threshold_widens_to_the_cells_own_noise(toy, capsys):
    noisy = [_record(f"a{i}", "old", fps) for i, fps in enumerate((100.0, 92.0, 108.0))]
    noisy += [_record(f"b{i}", "new", fps) for i, fps in enumerate((94.0, 86.0, 102.0))]     # -6 %, 3 runs each
    windows = {"n": 5, "mean": 100.0, "std": 1.0, "min": 99.0, "max": 101.0, "cv": 0.01}
    steady = [_record("c1", "old", 100.0, cards=2, stability=windows),
              _record("c2", "new", 94.0, cards=2, stability={**windows, "mean": 94.0})]     # -6 %, quiet windows
    rc, lines = _check(toy, capsys, noisy + steady)
    noisy_line = _line(lines, "toy/default CPU x1 ")
    assert " unchanged " in noisy_line and "3 SE of the noise (3 runs), wider than the default" in noisy_line
    steady_line = _line(lines, "toy/default CPU x2 ")
    assert " regression " in steady_line and "the noise (5 repeat windows) is narrower" in steady_line
    assert rc == 1


def test_a_baseline_release_without_runs_is_one_line_exit_2(toy, capsys):
    rc, lines = _check(toy, capsys, [_record("a2", "new", 90.0)])
    assert rc == 2 and len(lines) == 1
    assert lines[0].startswith("modelzoo: error: baseline release 'old' has no successful release runs")


@pytest.mark.parametrize("bad, expected", [
    ([_record("a1", "old", 100.0), _record("a2", "new", 90.0), _record("a3", "new", 91.0, host="other")],
     "runs of one cell in release 'new' on different machines: h (a CPU) (run a2), other (a CPU) (run a3)"),
])
def test_bad_input_in_a_cell_is_named_never_unchanged(toy, capsys, bad, expected):
    rc, lines = _check(toy, capsys, bad)
    assert rc == 2
    assert any("cannot judge" in line and expected in line for line in lines), lines
    assert not any(" unchanged " in line for line in lines)


def _forged(record: dict, **metrics) -> dict:
    record["metrics"].update(metrics)
    return record


@pytest.mark.parametrize("bad, expected", [
    (_record("a2", "new", 100.0, profile="fast"), "it is a run of profile 'default', not the cell's 'fast'"),
    (_forged(_record("a2", "new", 100.0), timed_steps=0), "states an FPS but timed 0 steps"),
    (_forged(_record("a2", "new", 100.0), fps=1e308), "FPS 1e+308 is beyond any measurement"),
    (_forged(_record("a2", "new", 100.0), accuracy=2.5), "accuracy 2.5 is outside its possible range [0, 1]"),
])
def test_a_run_that_cannot_be_true_fails_its_cell_by_the_one_plausibility_check(toy, capsys, bad, expected):
    rc, lines = _check(toy, capsys, [_record("a1", "old", 100.0), bad])
    assert rc == 1
    (line,) = [line for line in lines if " implausible " in line]  # the cell it is filed under
    assert "run a2 cannot be true: " in line and expected in line, line


def test_the_gate_reads_a_record_rewritten_with_its_size_and_mtime_restored(toy, capsys):
    import os

    _check(toy, capsys, [_record("a1", "old", 100.0), _record("a2", "new", 100.0)])   # indexed: unchanged
    path = toy / "runs" / "a2" / records.RECORD_FILE
    stat, text = path.stat(), path.read_text()
    path.write_text(text.replace('"fps": 100.0', '"fps": 10.00'))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert json.loads(path.read_text())["metrics"]["fps"] == 10.0 and path.stat().st_size == stat.st_size
    rc, lines = _check(toy, capsys, [])
    # the new FPS was read (the edit left its timing behind, which the plausibility check names)
    assert rc == 1 and "FPS 10 over 10 steps" in _line(lines, "toy/default CPU x1 ")


def test_zoo_run_set_reaches_every_new_run_and_no_resumed_one(tmp_path):
    from modelzoo.zoo.release import Action, Cell, ZooRunOptions, run_argv

    cell = Cell("r2", "toy", "default", 1, 10)
    options = ZooRunOptions(release="r2", sets=["data.delay_s=0.004", "train.batch_size=8"])
    new = run_argv(cell, Action("new", None, "no run yet"), options, tmp_path / "runs", tmp_path / "zoo.yaml")
    assert new[new.index("--set"):new.index("--set") + 4] == ["--set", "data.delay_s=0.004", "--set",
                                                              "train.batch_size=8"]
    resumed = run_argv(cell, Action("resume", {"run_id": "x"}, "interrupted"), options, tmp_path / "runs",
                       tmp_path / "zoo.yaml")
    assert "--set" not in resumed and resumed[resumed.index("--resume") + 1] == "x"


def test_zoo_run_refuses_a_set_that_fits_no_cell_before_any_run(toy, capsys):
    (toy / "zoo.yaml").write_text(ZOO)
    rc = main(["zoo", "run", "--release", "r1", "--device", "cpu", "--set", "train.no_such_key=1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no_such_key" in err[0] and err[0].startswith("modelzoo: error: ")
    assert not (toy / "runs").exists() or not any((toy / "runs").iterdir())


@pytest.mark.parametrize("args, expected", [
    (["--max-fps-drop", "10"], "--max-fps-drop applies to 'zoo check --baseline OLD'"),
    (["--baseline", "old", "--max-fps-drop", "nan"], "--max-fps-drop nan: give a percentage >= 0"),
    (["--baseline", "new"], "--release and --baseline are both 'new'"),
])
def test_baseline_options_that_cannot_work_are_one_line_exit_2(toy, capsys, args, expected):
    for record in (_record("a1", "old", 100.0), _record("a2", "new", 100.0)):
        records.save(record, toy / "runs")
    rc = main(["zoo", "check", "--release", "new", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and expected in err[0], err
