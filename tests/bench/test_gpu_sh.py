"""bench/gpu.sh on the CPU at its smoke sizes: the steps run under their limits, a failing
step is reported as failed (with its exit code) while the script goes on, the table comes
last and $OUT holds what the card call brings back.

A subset of the steps keeps this under a minute on 2 cores: generated data, a `modelzoo
run` of the recipe (a run record read back into the table), a JSON-writing benchmark, a
step forced to fail, and the report. Every step at smoke sizes is
`bash bench/gpu.sh --cpu --smoke` (about 100 s on 2 cores). Needs no real data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GPU_SH = REPO / "bench" / "gpu.sh"
OUT_FILES = {"gpu.log", "summary.md", "bench.json", "bench.tgz", "results.md", "index.html", "results.json",
             "results.csv"}

pytestmark = pytest.mark.skipif(shutil.which("timeout") is None, reason="gpu.sh needs coreutils' timeout")


def _run(tmp_path: Path, *args: str, fail: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS="1")
    env.pop("MODELZOO_BENCH_FAIL", None)
    if fail:
        env["MODELZOO_BENCH_FAIL"] = fail
    return subprocess.run(["bash", str(GPU_SH), "--cpu", "--smoke", "--out", str(tmp_path / "out"),
                           "--work", str(tmp_path / "work"), *args],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)


def test_smoke_steps_table_and_files(tmp_path):
    steps = ["data", "recipe_fp32", "lfw_protocol", "cli_startup", "report"]
    done = _run(tmp_path, "--only", ",".join(steps), fail="cli_startup")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]  # one step failed

    # The table is printed last: measurements, and the failed step with its exit code.
    table = done.stdout[done.stdout.rindex("| measurement |"):]
    lines = table.splitlines()
    assert any(line.startswith("| cli_startup | FAILED |") and "exit 3" in line for line in lines), table
    fps = next(line for line in lines if line.startswith("| modelzoo run, recipe fp32: FPS |"))
    assert float(fps.split("|")[2].replace(",", "")) > 0
    assert any(line.startswith("| LFW protocol, euclidean |") for line in lines), table
    assert lines[-1].startswith("steps: ") and "failed 1: cli_startup (3)" in lines[-1], lines[-1]

    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == OUT_FILES  # the card call brings back 8 files at most
    summary = json.loads((out / "bench.json").read_text())
    assert {s["name"]: s["status"] for s in summary["steps"]} == {
        "data": "ok", "recipe_fp32": "ok", "lfw_protocol": "ok", "cli_startup": "failed", "report": "ok"}
    assert summary["figures"]["lfw_protocol"]["results"][0]["same_accuracy"] is True
    (run,) = summary["runs"]["recipe_fp32"]
    assert run["status"] == "success" and run["metrics"]["fps"] > 0
    assert "[cli_startup] failed (exit 3)" in (out / "gpu.log").read_text()
    assert "Facenet" in (out / "results.md").read_text()

    with tarfile.open(out / "bench.tgz") as tar:
        names = tar.getnames()
    assert "results/lfw_protocol.json" in names and "results/logs/cli_startup.log" in names
    assert f"runs/{run['run_id']}/record.json" in names
    assert not any(name.endswith(".pt") for name in names)  # no checkpoints in what comes back


def test_spent_budget_skips_with_a_reason(tmp_path):
    done = _run(tmp_path, "--only", "lfw_protocol,report", "--budget", "0")
    assert done.returncode == 0, done.stdout[-3000:]  # skipped is not failed
    summary = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [("lfw_protocol", "skipped"), ("report", "skipped")]
    assert "no time left" in summary["steps"][0]["note"]
    assert "| lfw_protocol | skipped |" in done.stdout


def test_bad_options_are_refused(tmp_path):
    done = _run(tmp_path, "--only", "no_such_step")
    assert done.returncode == 2 and "unknown step 'no_such_step'" in done.stderr
