"""The recipe runner against scripts that misbehave (tests/modelzoo/recipe/hostile.py).

Each runs as a zoo.yaml recipe through modelzoo's own run path; the record must say what
happened, the log must stay sane, and no process of the script may be left running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from recipe_helpers import hostile_zoo

from modelzoo import app


def _run(tmp_path: Path, mode: str, **options) -> dict:
    zoo_options = {k: options.pop(k) for k in ("timeout", "grace", "extra", "log_limit_mb") if k in options}
    zoo = hostile_zoo(tmp_path, mode, **zoo_options)
    session = app.Session(zoo_file=str(zoo), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                          data_root=tmp_path)
    return app.run("hostile", session=session, device="cpu", **options)


def test_a_script_that_finishes_well_succeeds_with_its_metric_and_fps(tmp_path):
    record = _run(tmp_path, "good")
    assert record["status"] == "success", record["error"]
    metrics = record["metrics"]
    assert metrics["acc1"] == 50.0 and metrics["iteration_lines"] == 5
    assert metrics["fps"] > 0 and metrics["recipe_fps"] is None  # the script prints no rate of its own
    assert record["curves"]["loss"]["loss"][:2] == [1.0, 0.5]
    assert record["recipe"]["throughput"]["fps"].startswith("modelzoo's")


def test_a_hanging_script_fails_on_its_timeout(tmp_path):
    started = time.monotonic()
    record = _run(tmp_path, "hang", timeout=2)
    assert record["status"] == "failed"
    assert record["error"].startswith("timed out after 2 s")
    assert time.monotonic() - started < 20


def test_a_script_that_exits_3_midway_fails_with_its_last_lines_and_log(tmp_path):
    record = _run(tmp_path, "exit3")
    assert record["status"] == "failed"
    assert "exited with code 3" in record["error"] and "CUDA out of memory (pretend)" in record["error"]
    assert record["log"] in record["error"]


def test_a_declared_metric_never_printed_fails_naming_it(tmp_path):
    record = _run(tmp_path, "nometric")
    assert record["status"] == "failed"
    assert "metric 'acc1' was never printed" in record["error"]


def test_100_mb_of_output_leaves_a_bounded_log_and_is_parsed(tmp_path):
    record = _run(tmp_path, "flood", log_limit_mb=1, timeout=120)
    assert record["status"] == "success", record["error"]
    log = Path(record["log"])
    assert log.stat().st_size < 2 * 2**20  # 1 MiB head + 256 KiB tail + a note, not 100 MB
    assert b"bytes of output left out here" in log.read_bytes()
    assert any("were left out" in w for w in record["warnings"])
    assert record["metrics"]["acc1"] == 50.0


def test_max_steps_stops_a_script_that_ignores_sigterm(tmp_path):
    record = _run(tmp_path, "ignore-term", max_steps=4, grace=1)
    assert record["status"] == "success", record["error"]
    assert "cut_short" in record and "--max-steps 4" in record["cut_short"]
    assert "acc1" not in record["metrics"] and record["metrics"]["fps"] > 0  # throughput only
    assert any("SIGKILL" in w for w in record["warnings"])


@pytest.mark.parametrize("mode", ["grandchild", "grandchild-setsid"])
def test_no_grandchild_outlives_the_run(tmp_path, mode):
    pid_file = tmp_path / "grandchild.pid"
    record = _run(tmp_path, mode, extra=str(pid_file))
    assert record["status"] == "success", record["error"]
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _gone(pid: int, within_s: float = 5) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_a_daemon_that_left_group_and_tree_at_once_is_found_by_its_token(tmp_path):
    pid_file = tmp_path / "daemon.pid"
    record = _run(tmp_path, "daemon", extra=str(pid_file))
    assert record["status"] == "success", record["error"]
    assert _gone(int(pid_file.read_text()))
    assert not any("kept the output open" in w for w in record["warnings"])


def test_a_daemon_that_also_cleared_its_environment_does_not_hang_the_run(tmp_path):
    pid_file = tmp_path / "daemon.pid"
    started = time.monotonic()
    try:
        record = _run(tmp_path, "daemon-clean-env", extra=str(pid_file), grace=1)
        assert time.monotonic() - started < 30
        assert record["status"] == "success", record["error"]
        assert any("kept the output open" in w for w in record["warnings"])
    finally:  # the one process modelzoo cannot find is this test's to end
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_a_child_printing_forever_after_the_script_ended_is_stopped(tmp_path):
    started = time.monotonic()
    record = _run(tmp_path, "chatty-orphan", timeout=0)  # no timeout: the end of the script must end it
    assert record["status"] == "success", record["error"]
    assert time.monotonic() - started < 30
    assert b"still here" in Path(record["log"]).read_bytes()


def test_non_utf8_output_is_kept_as_printed_and_parsed(tmp_path):
    record = _run(tmp_path, "non-utf8")
    assert record["status"] == "success", record["error"]
    assert b"\xff\xfe\x80 broken bytes" in Path(record["log"]).read_bytes()
    assert record["metrics"]["steps"] == 4
    json.dumps(record, allow_nan=False)  # the record stays plain JSON


def test_sigterm_to_modelzoo_stops_the_group_and_records_interrupted(tmp_path):
    zoo = hostile_zoo(tmp_path, "hang", timeout=300)
    env = {**os.environ, "MODELZOO_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "modelzoo", "run", "hostile", "--zoo", str(zoo), "--device", "cpu",
                             "--runs-dir", str(tmp_path / "runs"), "--data-root", str(tmp_path)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the script has printed its steps
        logs = list((tmp_path / "runs").glob("*/train.log"))
        if logs and b"step=2" in logs[0].read_bytes():
            log = logs[0]
            break
        time.sleep(0.2)
    assert log is not None, proc.communicate(timeout=10)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    record = json.loads((log.parent / "record.json").read_text())
    assert record["status"] == "interrupted" and "SIGTERM" in record["error"]
    assert children and not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


def test_compare_accepts_two_recipe_runs(tmp_path, capsys):
    from modelzoo.cli import main

    base, new = _run(tmp_path, "good"), _run(tmp_path, "good")
    code = main(["compare", base["run_id"], new["run_id"], "--runs-dir", str(tmp_path / "runs"),
                 "--zoo", str(tmp_path / "zoo.yaml"), "--max-fps-drop", "90"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "acc1" in out.lower() or "Acc@1" in out


def test_a_command_that_cannot_start_is_a_failed_record(tmp_path):
    script = tmp_path / "not-executable.sh"
    script.write_text("echo hi\n")  # no execute bit
    zoo = hostile_zoo(tmp_path, "good")
    zoo.write_text(zoo.read_text().replace(f"workdir: {json.dumps(str(Path(__file__).parent))}",
                                           f"workdir: {json.dumps(str(tmp_path))}")
                   .replace(f"{Path(sys.executable).name} hostile.py good", "./not-executable.sh"))
    session = app.Session(zoo_file=str(zoo), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                          data_root=tmp_path)
    record = app.run("hostile", session=session, device="cpu")
    assert record["status"] == "failed" and record["error"].startswith("cannot run ./not-executable.sh: ")


def test_setup_runs_once_and_a_failed_setup_fails_the_run_and_runs_again(tmp_path):
    counter = tmp_path / "setup-runs.txt"
    zoo = hostile_zoo(tmp_path, "good")
    text = zoo.read_text()
    setup = f"      setup: {json.dumps(Path(sys.executable).name + ' -c ' + repr(SETUP.format(str(counter))))}\n"
    zoo.write_text(text.replace("      timeout:", setup + "      timeout:"))
    session = app.Session(zoo_file=str(zoo), runs_dir=tmp_path / "runs", cache_dir=tmp_path / "cache",
                          data_root=tmp_path)
    counter.write_text("fail")  # the setup fails while the file says so
    first = app.run("hostile", session=session, device="cpu")
    assert first["status"] == "failed" and "setup" in first["error"] and "exited with code 4" in first["error"]
    counter.write_text("")
    assert app.run("hostile", session=session, device="cpu")["status"] == "success"
    assert app.run("hostile", session=session, device="cpu")["status"] == "success"
    assert counter.read_text() == "x"  # it ran again after failing, then once, and not a third time


SETUP = "import sys; p = {!r}; t = open(p).read(); sys.exit(4) if t == 'fail' else open(p, 'a').write('x')"
