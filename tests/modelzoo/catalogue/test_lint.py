"""`zoo lint`: the zoo's own consistency, on the real snapshot and on small checkouts made for one rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelzoo.catalogue.lint import lint
from modelzoo.cli.main import main

ENV = "| GPU | [IXUCA SDK](https://example) | Release |\n|---|---|---|\n{rows}\n"
RESULTS = "## Model Results\n\n| Model | GPU | FPS | ACC |\n|---|---|---|---|\n{rows}\n"


def _entry(name: str, **fields) -> dict:
    entry = {"model_name": name, "framework": "pytorch", "category": "cv/classification",
             "release_version": "23.06", "release_sdk": "3.0.0", "release_gpgpu": "BI-V100",
             "latest_sdk": "", "latest_gpgpu": "", "model_path": f"deepsparkhub/models/cv/classification/{name}/pytorch/",
             "readme_file": ""}
    entry.update(fields)
    return entry


def _checkout(root: Path, entries: list[dict], readmes: dict[str, str]) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "model_info.json").write_text(json.dumps({"models": entries}, indent=4))
    (root / "models").mkdir()
    for relative, text in readmes.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def _readme(env_rows: str, result_rows: str = "| M | BI-V100 x8 | 100 | 0.5 |") -> str:
    return "# M\n\n" + ENV.format(rows=env_rows) + "\n" + RESULTS.format(rows=result_rows)


def test_sdk_versions_are_compared_as_versions(tmp_path):
    """4.10.0 is after 4.3.0: a README whose newest row is 4.10.0 and a catalogue that says 4.3.0 disagree;
    compared as strings, '4.3.0' > '4.10.0' would hide it."""
    readme = _readme("| BI-V150 | 4.3.0 | 25.06 |\n| BI-V150 | 4.10.0 | 26.03 |\n| BI-V100 | 3.0.0 | 23.06 |")
    root = _checkout(tmp_path, [_entry("a", latest_sdk="4.3.0", latest_gpgpu="BI-V150")],
                     {"models/cv/classification/a/pytorch/README.md": readme})
    findings = [str(f) for f in lint(root)]
    assert findings == ["models/cv/classification/a/pytorch/README.md:6: environment: newest environment BI-V150 "
                        "SDK 4.10.0, but model_info.json (tests/model_info.json:4) says latest BI-V150 SDK 4.3.0"]
    consistent = _checkout(tmp_path / "ok", [_entry("a", latest_sdk="4.10.0", latest_gpgpu="BI-V150")],
                           {"models/cv/classification/a/pytorch/README.md": readme})
    assert lint(consistent) == []


def test_paths_duplicates_missing_readmes_and_bad_cells(tmp_path):
    entries = [_entry("a", readme_file="deepsparkhub/models/cv/classification/a/pytorch/readme.md"),
               _entry("a"), _entry("b"),
               _entry("c")]
    good = _readme("| BI-V100 | 3.0.0 | 23.06 |")
    bad_cell = _readme("| BI-V100 | 3.0.0 | 23.06 |", "| M | BI-V100 x8 | fast | 0.5 |")
    root = _checkout(tmp_path, entries, {"models/cv/classification/a/pytorch/README.md": good,
                                         "models/cv/classification/c/pytorch/README.md": bad_cell})
    findings = [str(f) for f in lint(root)]
    assert findings == [
        "tests/model_info.json:4: readme-path: readme_file 'deepsparkhub/models/cv/classification/a/pytorch/"
        "readme.md' does not exist as written; the file is models/cv/classification/a/pytorch/README.md",
        "tests/model_info.json:16: duplicate: a/pytorch is also the entry at line 4",
        "tests/model_info.json:28: no-readme: b/pytorch: no README at models/cv/classification/b/pytorch/README.md",
        "models/cv/classification/c/pytorch/README.md:11: results: 'fast' under 'FPS' not understood",
    ]


def test_lint_on_the_snapshot_lists_the_zoos_findings(dsh_root, capsys):
    assert main(["zoo", "lint", str(dsh_root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("zoo lint: ") and "findings (" in out[-1]
    assert ("tests/model_info.json:4: readme-path: readme_file 'deepsparkhub/models/audio/speech_recognition/"
            "conformer/paddlepaddle/readme.md' does not exist as written; the file is models/audio/speech_recognition/"
            "conformer/paddlepaddle/README.md") in out
    assert "tests/model_info.json:7276: duplicate: llama3_8b/pytorch is also the entry at line 6604" in out
    assert ("models/cv/detection/dcnv2_mmdet/pytorch/README.md:86: results: card 'DCNv2' under 'GPU' not "
            "understood") in out
    assert any(line.startswith("models/cv/classification/resnet50/paddlepaddle/README.md:") and
               "release BI-V100 / 2.3.0 / 22.12" in line for line in out)
    assert all(line.count(": ") >= 2 for line in out[:-1])     # file:line: kind: message


@pytest.mark.parametrize("make, expected", [
    (lambda root: root.mkdir(), "is not a DeepSparkHub checkout (no tests/model_info.json and models/); pass the "
                                "folder that holds tests/model_info.json"),
    (lambda root: _checkout(root, [], {}) and (root / "tests" / "model_info.json").write_text("{\"models\": 3}"),
     "expected {\"models\": [...]}, the zoo's catalogue format; fix the file"),
    (lambda root: _checkout(root, [], {}) and (root / "tests" / "model_info.json").write_text("{\"models\": [}"),
     "model_info.json:1: not JSON (Expecting value); fix the file"),
    (lambda root: _checkout(root, [{"model_name": "x"}], {}),
     "models[0] needs the string fields model_name, framework, category, model_path, readme_file; fix the entry"),
    (lambda root: _checkout(root, [_entry("a")], {})
     and (root / "models/cv/classification/a/pytorch").mkdir(parents=True)
     and None or (root / "models/cv/classification/a/pytorch/README.md").write_bytes(b"# A\n\xff\xfe\n"),
     "README.md: not UTF-8 (byte 4); save the README as UTF-8"),
])
@pytest.mark.parametrize("verb", ["lint", "import"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, make, expected, verb):
    root = tmp_path / "dsh"
    make(root)
    output = tmp_path / "out" / "zoo.catalogue.json"
    output.parent.mkdir()
    args = ["zoo", verb, str(root)] + (["--output", str(output)] if verb == "import" else [])
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.endswith(expected), err
    assert list(output.parent.iterdir()) == []
