"""Fault class 25 (issue 28.11): every command the README shows works after the README's
setup. The verbs are parsed from README.md (its command blocks and its table of verbs), so a
verb documented later fails here until it gets a recipe below. Each recipe runs the verb for
real with the installed plugins (the face model's demo profile, a few steps on the CPU),
never the toy: ``export --format onnx`` needs what init.sh installs."""

from __future__ import annotations

import json
import re

import pytest
from fault_helpers import REPO, Workspace

# the README's `modelzoo VERB` (and `modelzoo zoo ACTION`) in code blocks and table cells
_COMMAND = re.compile(r"(?:^\s{4}|`)(?:\.venv/bin/)?modelzoo (zoo [a-z]+|[a-z]+)\b", re.M)
DEMO = ["--profile", "demo", "--device", "cpu", "--set", "data.demo_train_identities=10",
        "--set", "data.demo_images_per_identity=4", "--set", "data.demo_test_identities=60",
        "--set", "data.demo_seed=7"]
TINY = [*DEMO, "--max-steps", "3", "--set", "train.fps_warmup_steps=1", "--set", "train.compute_fps_steps=2",
        "--set", "train.batch_size=8"]
ZOO = """\
schema_version: 1
models:
  facenet:
    profiles:
      tiny:
        extends: demo
        data: {demo_train_identities: 10, demo_images_per_identity: 4, demo_test_identities: 60, demo_seed: 7}
        train: {fps_warmup_steps: 1, compute_fps_steps: 2, batch_size: 8}
    target: {metric: lfw_accuracy, value: 0.0}
releases:
  r1:
    models:
      facenet: {profiles: [tiny], cards: [1], max_steps: 3}
"""


def documented_verbs() -> list[str]:
    return sorted(set(_COMMAND.findall((REPO / "README.md").read_text(encoding="utf-8"))))


@pytest.fixture(scope="module")
def readme_ws(tmp_path_factory):
    """A work folder as a README reader has it: the installed plugins, a fresh runs folder."""
    ws = Workspace(tmp_path_factory.mktemp("readme") / "work", tmp_path_factory.mktemp("readme-cache"))
    ws.plugins = ""
    (ws.root / "zoo.yaml").write_text(ZOO)
    return ws


def _cli(ws, *args):
    """The CLI as installed (plugins from their entry points), with the test's zoo.yaml
    (prepare's options are its plugin's: it takes no --zoo); exit 0 and no traceback."""
    zoo = () if args[0] == "prepare" else ("--zoo", "zoo.yaml")
    result = ws.cli(*args, *zoo, MODELZOO_DISABLE_PLUGIN_AUTOLOAD="0", timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stdout[-1500:],
                                                                          result.stderr[-3000:])
    return result


def _trained(ws) -> dict:
    if not ws.records():
        _cli(ws, "run", "facenet", "--cards", "1", *TINY)
    return ws.records()[0]


def _checkpoint(ws) -> str:
    return str(ws.runs / _trained(ws)["run_id"] / "checkpoint.pt")


RECIPES = {
    # the catalogue verbs on the zoo's real files (read-only; import writes the catalogue beside the
    # test's zoo.yaml, where write-back reads it)
    "zoo import": lambda ws: "322 models" in _cli(ws, "zoo", "import", str(_zoo_checkout())).stdout
    and (ws.root / "zoo.catalogue.json").is_file(),
    "zoo lint": lambda ws: _lint_finds_the_snapshots_findings(ws),
    "list": lambda ws: "facenet" in _cli(ws, "list").stdout,
    "run": lambda ws: _trained(ws)["status"] == "success",
    "eval": lambda ws: "succeeded" in _cli(ws, "eval", "facenet", "--weights", _checkpoint(ws), *DEMO).stdout,
    # the README's own example: ONNX, which needs the packages init.sh installs (the 'export' extra)
    "export": lambda ws: _cli(ws, "export", "facenet", "--weights", _checkpoint(ws), "--format", "onnx",
                              "--output", str(ws.root / "model.onnx"), *DEMO)
    and (ws.root / "model.onnx").stat().st_size > 0,
    # prepare's inputs are raw data sets; its recipe is its own --help (the options it takes)
    "prepare": lambda ws: "--casia" in _cli(ws, "prepare", "facenet", "--help").stdout,
    "report": lambda ws: _trained(ws) and json.loads(
        (ws.root / _cli(ws, "report", "--output", "reports").stdout.splitlines()[0]).parent.joinpath(
            "results.json").read_text())["records"],
    "compare": lambda ws: _cli(ws, "compare", _trained(ws)["run_id"], _trained(ws)["run_id"]).stdout.strip()
    .endswith("no regression"),
    "zoo run": lambda ws: "1 of 1 cells succeeded" in _cli(ws, "zoo", "run", "--release", "r1", "--device", "cpu").stdout,
    "zoo check": lambda ws: _cli(ws, "zoo", "check", "--release", "r1").stdout.strip().splitlines()[-1]
    .startswith("zoo check r1: pass"),
    "zoo status": lambda ws: _cli(ws, "zoo", "status", "--release", "r1").stdout.strip().splitlines()[-1]
    .startswith("zoo status r1: "),
    "zoo cancel": lambda ws: "no job of this release is pending or running" in _cli(
        ws, "zoo", "cancel", "--release", "r1").stdout,
    # the demo run trained on synthetic faces: write-back refuses to publish it, in one line
    "zoo writeback": lambda ws: _writeback_refuses_synthetic(ws),
}


def _zoo_checkout():
    import os
    from pathlib import Path

    value = os.environ.get("MODELZOO_TEST_THIRDPARTY")
    if not value:
        pytest.skip("MODELZOO_TEST_THIRDPARTY is not set: the catalogue verbs need the zoo checkout")
    return Path(value) / "deepsparkhub"


def _lint_finds_the_snapshots_findings(ws) -> bool:
    result = ws.cli("zoo", "lint", str(_zoo_checkout()), "--zoo", "zoo.yaml", MODELZOO_DISABLE_PLUGIN_AUTOLOAD="0",
                    timeout=300)
    return result.returncode == 1 and result.stdout.strip().splitlines()[-1].startswith("zoo lint: ")


def _writeback_refuses_synthetic(ws) -> bool:
    _cli(ws, "zoo", "run", "--release", "r1", "--device", "cpu")
    # facenet linked to its DeepSparkHub entry, as the shipped zoo.yaml links it (the catalogue is
    # the one 'zoo import' wrote beside it)
    (ws.root / "linked.yaml").write_text(ZOO.replace("  facenet:\n", "  facenet:\n    catalogue: "
                                                     "cv/face_recognition/facenet/tensorflow\n", 1))
    result = ws.cli("zoo", "writeback", str(_zoo_checkout()), "--model", "facenet", "--release", "r1",
                    "--sdk", "4.3.0", "--zoo", "linked.yaml", MODELZOO_DISABLE_PLUGIN_AUTOLOAD="0", timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "synthetic data" in result.stderr, (result.stdout[-2000:], result.stderr[-2000:])
    return "Traceback" not in result.stderr and "synthetic data" in result.stderr \
        and "fit to publish" in lines[-1]


def test_the_readme_documents_the_verbs_this_file_knows():
    verbs = documented_verbs()
    assert {"run", "report", "export", "zoo run"} <= set(verbs), verbs  # the parse finds the README's commands
    missing = [verb for verb in verbs if verb not in RECIPES]
    assert not missing, f"documented in README.md without a recipe here: {missing}"


@pytest.mark.parametrize("verb", list(RECIPES))  # in this order: import, then run; the rest reuse its run
def test_each_documented_verb_works_after_the_readme_setup(readme_ws, verb):
    if verb not in documented_verbs():
        pytest.fail(f"'{verb}' has a recipe but README.md no longer shows it; drop the recipe")
    assert RECIPES[verb](readme_ws), verb
