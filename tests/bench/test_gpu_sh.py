"""bench/gpu.sh on the CPU at its smoke sizes: the steps run under their limits, a failing
step is reported as failed (with its exit code) while the script goes on, the table comes
last and $OUT holds what the card call brings back.

Subsets of the steps keep each test to about a minute on 2 cores: generated data, a
`modelzoo run` of the recipe (a run record read back into the table), a JSON-writing
benchmark, a step forced to fail, and the report; then issue 15's steps (recipe_resident,
recipe_graphs, cuda_tests, batch_curve, resnet50). The table maker's comparison rows (CUDA
graphs against compile, which the CPU cannot show) are checked on made-up records. Every
step at smoke sizes is `bash bench/gpu.sh --cpu --smoke` (about 2.5 minutes on 2 cores).
Needs no real data.
"""

from __future__ import annotations

import importlib.util
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


def _table(stdout: str) -> list[str]:
    return stdout[stdout.rindex("| measurement |"):].splitlines()


def _row(lines: list[str], start: str) -> list[str]:
    line = next((line for line in lines if line.startswith(f"| {start}")), None)
    assert line is not None, f"no row starting {start!r} in\n" + "\n".join(lines)
    return [cell.strip() for cell in line.split("|")[1:-1]]


def test_issue15_steps_at_smoke_sizes(tmp_path):
    steps = ["data", "recipe_resident", "recipe_graphs", "cuda_tests", "batch_curve", "resnet50", "report"]
    done = _run(tmp_path, "--only", ",".join(reversed(steps)))  # the script's order, not --only's
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert [(s["name"], s["status"]) for s in summary["steps"]] == [(name, "ok") for name in steps]
    lines = _table(done.stdout)

    # The headline runs: FPS, compute-only and their ratio; what the record says of the fast path.
    resident = _row(lines, "modelzoo run, recipe resident (bf16+channels_last, no compile): FPS")
    assert float(resident[1].replace(",", "")) > 0 and "resident in cpu RAM" in resident[4]
    graphs = _row(lines, "modelzoo run, recipe graphs (resident + CUDA graphs, no compile): FPS")
    assert "cuda graphs: fell back: the run is on the cpu" in graphs[4]
    ratio = _row(lines, "modelzoo run, recipe graphs (resident + CUDA graphs, no compile): end to end / compute-only")
    assert float(ratio[1]) > 0 and ratio[2] == "fraction"
    assert float(_row(lines, "recipe graphs / recipe resident, end to end")[1]) > 0
    (run,) = summary["runs"]["recipe_graphs"]
    assert run["overrides"]["train.cuda_graphs"] is True and run["overrides"]["train.compile"] is False

    # The CUDA tests ran, their CUDA cases skipped here with the reason.
    tests = _row(lines, "CUDA tests (")
    assert "passed" in tests[1] and "skipped" in tests[1] and "needs a CUDA device" in tests[4], tests
    counts = summary["figures"]["cuda_tests"]["counts"]
    assert counts["passed"] > 0 and counts["skipped"] > 0 and not counts.get("failed") and not counts.get("errors")

    # The batch curve: one run per batch, rows of their own apart from the headline batch.
    assert [r["overrides"]["train.batch_size"] for r in summary["runs"]["batch_curve"]] == [8, 16]
    for batch in (8, 16):
        row = _row(lines, f"modelzoo run, batch curve, recipe graphs at batch {batch}: FPS")
        assert float(row[1]) > 0 and "not the headline batch 4" in row[4]

    # ResNet-50 through the classification plugin, against torchvision's step.
    ours = _row(lines, "ResNet-50 32 px, batch 4, amp none: ours, end to end")
    assert float(ours[1]) > 0 and ours[3].endswith("x") and "matmul peak" in ours[4]
    assert summary["figures"]["resnet50"]["ours_fps"] > 0


def _summary_module():
    spec = importlib.util.spec_from_file_location("gpu_summary", REPO / "bench" / "gpu_summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summary_parses_pytest_and_compares_graphs_with_compile(tmp_path):
    gpu_summary = _summary_module()
    parsed = gpu_summary.parse_pytest(
        "..F.s\nSKIPPED [2] tests/modelzoo/train/test_graphs.py:112: needs a CUDA device\n"
        "FAILED tests/modelzoo/train/test_graphs.py::test_x - AssertionError\n"
        "==== 1 failed, 25 passed, 2 skipped, 1 warning in 12.50s ====\n")
    assert parsed["counts"] == {"failed": 1, "passed": 25, "skipped": 2, "warnings": 1}
    assert parsed["skip_reasons"] == {"needs a CUDA device": 2}
    assert parsed["failed"] == ["tests/modelzoo/train/test_graphs.py::test_x"]
    (row,) = gpu_summary.cuda_tests_rows(parsed, "cuda")
    assert row["value"] == "1 failed, 25 passed, 2 skipped" and "2 CUDA test(s) skipped on a card" in row["note"]
    assert gpu_summary.parse_pytest("killed\n")["line"] is None

    results, runs = tmp_path / "results", tmp_path / "runs"
    (results / "logs").mkdir(parents=True)
    (results / "logs" / "cuda_tests.log").write_text("28 passed in 40.01s\n")
    records = {"recipe_graphs": ("g1", 9000.0, 12000.0, {"cuda_graphs": "captured", "compile": False,
                                                            "resident_data": {"resident": True, "where": "card"}}),
               "recipe_fast": ("f1", 6000.0, 9000.0, {"cuda_graphs": "off", "compile": "reduce-overhead"}),
               "batch_curve": ("b1", 13500.0, 15000.0, {"cuda_graphs": "captured", "compile": False})}
    steps = []
    for step, (run_id, fps, compute, env) in records.items():
        (runs / run_id).mkdir(parents=True)
        batch = 256 if step == "batch_curve" else 90
        (runs / run_id / "record.json").write_text(json.dumps({
            "run_id": run_id, "status": "success", "env": env, "config": {"train": {"batch_size": batch}},
            "metrics": {"fps": fps, "compute_fps": compute}}))
        (results / f"{step}.runs").write_text(run_id + "\n")
        steps.append(f"{step}\tok\t0\t30\t")
    (results / "steps.tsv").write_text("\n".join(steps + ["cuda_tests\tok\t0\t40\t"]) + "\n")
    summary = gpu_summary.build(results, runs, "cuda", False)
    rows = {r["name"]: r for r in summary["rows"]}
    graphs = rows["modelzoo run, recipe graphs (resident + CUDA graphs, no compile): FPS"]
    assert graphs["note"] == "cuda graphs: captured; resident in card"
    assert rows["modelzoo run, recipe graphs (resident + CUDA graphs, no compile): end to end / compute-only"][
        "value"] == 0.75
    compare = rows["recipe graphs (no compile) / casia-fast (torch.compile), end to end"]
    assert compare["value"] == 1.5 and "without compile here" not in compare["note"]
    assert rows["recipe graphs (no compile) / casia-fast (torch.compile), compute-only"]["value"] == 12000 / 9000
    curve = rows["modelzoo run, batch curve, recipe graphs at batch 256: FPS"]
    assert "not the headline batch 90" in curve["note"] and "1.50x recipe graphs' FPS at batch 90" in curve["note"]
    tests = rows["CUDA tests (tests/modelzoo/train/test_resident.py, test_graphs.py)"]
    assert tests["value"] == "28 passed" and tests["note"] == "the CUDA tests ran on the card"
    assert "recipe graphs / recipe resident, end to end" not in rows  # no recipe_resident run here


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


def test_zoo_recipes_step_runs_the_imagenet_example_as_a_recipe(tmp_path, thirdparty, monkeypatch):
    monkeypatch.setenv("MODELZOO_ZOO_ROOT", str(thirdparty))
    done = _run(tmp_path, "--only", "zoo_recipes,report")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    lines = _table(done.stdout)
    fps = _row(lines, "modelzoo run, zoo recipe pytorch-imagenet (tiny): FPS")
    assert float(fps[1].replace(",", "")) > 0
    own = _row(lines, "modelzoo run, zoo recipe pytorch-imagenet (tiny): the script's own throughput")
    assert float(own[1].replace(",", "")) > 0 and "modelzoo's, from outside" in own[4]
    log = (tmp_path / "work" / "results" / "logs" / "zoo_recipes.log").read_text()
    assert "bash scripts/fp32_1card.sh --data-path" in log and "bash run.sh 1" in log  # the shipped recipes, planned


def test_zoo_recipes_step_is_skipped_with_the_reason_without_a_zoo_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("MODELZOO_ZOO_ROOT", raising=False)
    if (REPO / "bench" / "wheels" / "zoo").is_dir():
        pytest.skip("bench/wheels/zoo is here: the step would use it")
    done = _run(tmp_path, "--only", "zoo_recipes")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "[zoo_recipes] skipped: no zoo checkout" in done.stdout
