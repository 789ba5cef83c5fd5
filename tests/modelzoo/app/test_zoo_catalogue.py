"""The catalogue through the application layer and the CLI: `zoo check` gates a model linked to
its catalogue entry on the imported references; `zoo writeback` turns a release's records into a
reviewed diff and applies it only over the files the diff was made from; `list --all`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_helpers import REPO, timing

from modelzoo.cli.main import main
from modelzoo.store import records

README = """# Toy

## Supported Environments

| GPU     | IXUCA SDK | Release |
|---------|-----------|---------|
| BI-V150 | 4.2.0     | 25.03   |

## Model Results

| Model | GPU        | FPS     | Accuracy |
|-------|------------|---------|----------|
| Toy   | BI-V150 x1 | 1000.00 | 0.610    |
"""
ZOO = """schema_version: 1
models:
  toy:
    catalogue: others/toy/pytorch
    target: {metric: accuracy, value: 0.5}
releases:
  r1:
    models:
      toy: {profiles: [fast], cards: [1, 8]}
"""


def _checkout(root: Path) -> Path:
    entry = {"model_name": "toy", "framework": "pytorch", "category": "others/toy", "release_version": "25.03",
             "release_sdk": "4.2.0", "release_gpgpu": "BI-V150", "latest_sdk": "", "latest_gpgpu": "",
             "model_path": "deepsparkhub/models/others/toy/pytorch/", "readme_file": ""}
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "model_info.json").write_text(json.dumps({"models": [entry]}, indent=4) + "\n")
    (root / "models" / "others" / "toy" / "pytorch").mkdir(parents=True)
    (root / "models" / "others" / "toy" / "pytorch" / "README.md").write_text(README)
    return root


def _record(runs_dir: Path, run_id: str, cards: int, fps: float, accuracy: float, model: str = "toy",
            profile: str = "fast", release: str = "r1") -> None:
    record = records.new_record(run_id=run_id, kind="train", model=model, model_title=model.title(), plugin={},
                                profile=profile, config={"train": {"batch_size": 64}}, overrides={}, cards=cards,
                                world_size=cards, device="cuda", seed=0, log="",
                                metric_columns=[{"key": "accuracy", "title": "Accuracy", "format": "{:.3f}"}])
    record["zoo_cell"] = {"release": release, "model": model, "profile": profile, "cards": cards, "max_steps": None}
    record["env"] = {"gpu": "Iluvatar BI-V150", "sdk": "IXUCA SDK 4.3.0"}
    record["metrics"] = {"fps": fps, "accuracy": accuracy, **timing(fps)}
    records.mark_finished(record, "success")
    records.save(record, runs_dir)


@pytest.fixture
def linked(toy):
    """The toy model linked to a one-model zoo checkout's catalogue entry, the catalogue imported."""
    root = _checkout(toy / "dsh")
    (toy / "zoo.yaml").write_text(ZOO)
    assert main(["zoo", "import", str(root)]) == 0
    return root


def test_zoo_check_gates_a_linked_model_on_its_imported_references(linked, capsys):
    runs = linked.parent / "runs"
    _record(runs, "a-slow", 1, fps=400.0, accuracy=0.6)
    _record(runs, "b-eight", 8, fps=5000.0, accuracy=0.6)
    capsys.readouterr()
    assert main(["zoo", "check", "--release", "r1"]) == 1
    out = capsys.readouterr().out
    assert "toy/fast x1 (FPS 400.00 is 40.0% of the reference 1000.00 (BI-V150 x1); needs 95%)" in out
    assert "5000.00 images/s; no reference for Iluvatar BI-V150 x8" in out   # the README has no x8 row
    _record(runs, "c-fast", 1, fps=990.0, accuracy=0.6)   # the newest success speaks for the cell
    assert main(["zoo", "check", "--release", "r1"]) == 0
    assert "990.00 = 99% of 1000.00 (BI-V150 x1)" in capsys.readouterr().out


def test_zoo_yaml_references_win_over_the_catalogue(linked, capsys):
    _record(linked.parent / "runs", "a-one", 1, fps=400.0, accuracy=0.6)
    _record(linked.parent / "runs", "b-eight", 8, fps=5000.0, accuracy=0.6)
    (linked.parent / "zoo.yaml").write_text(ZOO.replace(
        "    target:", "    references:\n      - {gpu: BI-V150, cards: 1, fps: 410, source: typed by hand}\n    target:"))
    capsys.readouterr()
    assert main(["zoo", "check", "--release", "r1"]) == 0
    assert "400.00 = 98% of 410.00 (BI-V150 x1)" in capsys.readouterr().out


def test_a_link_to_an_entry_the_catalogue_lacks_is_bad_input(linked, capsys):
    (linked.parent / "zoo.yaml").write_text(ZOO.replace("others/toy/pytorch", "others/nothing/pytorch"))
    assert main(["zoo", "check", "--release", "r1"]) == 2
    err = capsys.readouterr().err
    assert "models.toy.catalogue: entry 'others/nothing/pytorch' is not in" in err and "zoo import" in err


def test_writeback_shows_a_diff_and_applies_only_what_it_showed(linked, capsys):
    runs = linked.parent / "runs"
    _record(runs, "one", 1, fps=1010.0, accuracy=0.655)
    _record(runs, "eight", 8, fps=7600.5, accuracy=0.64)
    readme = linked / "models/others/toy/pytorch/README.md"
    info = linked / "tests/model_info.json"
    before_readme, before_info = readme.read_bytes(), info.read_bytes()
    capsys.readouterr()
    assert main(["zoo", "writeback", str(linked), "--model", "toy", "--release", "r1"]) == 0
    out = capsys.readouterr().out
    changed = [line for line in out.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["+| BI-V150 | 4.3.0     | r1      |",
                       "-| Toy   | BI-V150 x1 | 1000.00 | 0.610    |",
                       "+| Toy   | BI-V150 x1 | 1010.00 | 0.655    |",
                       "+| Toy   | BI-V150 x8 | 7600.50 | 0.640    |",
                       '-            "latest_sdk": "",', '-            "latest_gpgpu": "",',
                       '+            "latest_sdk": "4.3.0",', '+            "latest_gpgpu": "BI-V150",']
    state = out.splitlines()[-1].split("--expect ")[1]
    assert (readme.read_bytes(), info.read_bytes()) == (before_readme, before_info)   # a diff writes nothing

    readme.write_text(README + "\nEdited after the diff was shown.\n")
    edited = readme.read_bytes()
    assert main(["zoo", "writeback", str(linked), "--model", "toy", "--release", "r1", "--apply",
                 "--expect", state]) == 2
    assert "changed since the diff was shown" in capsys.readouterr().err
    assert (readme.read_bytes(), info.read_bytes()) == (edited, before_info)

    readme.write_bytes(before_readme)
    assert main(["zoo", "writeback", str(linked), "--model", "toy", "--release", "r1", "--apply",
                 "--expect", state]) == 0
    assert "wrote models/others/toy/pytorch/README.md, tests/model_info.json" in capsys.readouterr().out
    assert "| Toy   | BI-V150 x8 | 7600.50 | 0.640    |" in readme.read_text()
    assert json.loads(info.read_text())["models"][0]["latest_sdk"] == "4.3.0"
    assert main(["zoo", "writeback", str(linked), "--model", "toy", "--release", "r1"]) == 0
    assert capsys.readouterr().out.strip() == "zoo writeback: nothing to change"
    assert not [p.name for p in readme.parent.iterdir() if p.name != "README.md"]   # no temporary left behind


def test_writeback_refuses_without_records_or_link(linked, capsys):
    assert main(["zoo", "writeback", str(linked), "--model", "toy", "--release", "r1", "--expect", "x"]) == 2
    assert "--expect only guards --apply" in capsys.readouterr().err
    assert main(["zoo", "writeback", str(linked), "--model", "toy", "--release", "r1"]) == 2
    assert "release 'r1' has no successful run of 'toy'" in capsys.readouterr().err
    (linked.parent / "zoo.yaml").write_text(ZOO.replace("    catalogue: others/toy/pytorch\n", ""))
    assert main(["zoo", "writeback", str(linked), "--model", "toy", "--release", "r1"]) == 2
    assert "model 'toy' names no catalogue entry; add catalogue: KEY" in capsys.readouterr().err


def test_list_all_filters_and_marks_what_runs_here(linked, capsys):
    capsys.readouterr()
    assert main(["list", "--all", "--gpu", "BI-V150", "--framework", "pytorch", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert [(r["key"], r["runnable"], r["zoo_model"]) for r in rows] == [("others/toy/pytorch", "native", "toy")]
    assert rows[0]["references"][0]["fps"] == 1000.0
    assert main(["list", "--all", "--gpu", "BI-V100"]) == 0
    assert capsys.readouterr().out.strip() == "0 models; 0 can run here"


def test_resnet50_release_written_back_into_a_copy_of_its_readme(toy, copy_of, capsys):
    """The real ResNet-50 README: its AMP+NHWC column gets a BI-V150 x8 row; FP32 reads '-'."""
    readme = "models/cv/classification/resnet50/pytorch/README.md"
    root = copy_of(readme)
    (toy / "zoo.yaml").write_text(
        "schema_version: 1\nmodels:\n  resnet50:\n    catalogue:\n      entry: cv/classification/resnet50/pytorch\n"
        "      configs: {imagenet: FP32, imagenet-amp: AMP+NHWC}\n    target: {metric: acc1, value: 75.9}\n"
        "releases:\n  '25.12':\n    models:\n      resnet50: {profiles: [imagenet-amp], cards: [8]}\n")
    assert main(["zoo", "import", str(root)]) == 0
    record_dir = toy / "runs"
    _record(record_dir, "amp8", 8, fps=5321.4, accuracy=0.0, model="resnet50", profile="imagenet-amp", release="25.12")
    saved = json.loads((record_dir / "amp8" / "record.json").read_text())
    saved["metrics"] = {"fps": 5321.4, "acc1": 76.61, **timing(5321.4)}
    saved["duration_s"] = 6 * 3600 + 20 * 60
    saved["config"] = {"train": {"batch_size": 512}}
    (record_dir / "amp8" / "record.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["zoo", "writeback", str(root), "--model", "resnet50", "--release", "25.12"]) == 0
    changed = [line for line in capsys.readouterr().out.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    template = "| ResNet50 | BI-V100 x8 | Acc@1=74.98,FPS=2150,Time=12h43m，BatchSize=300 |"
    assert changed[:2] == ["+| BI-V150 | 4.3.0     |  25.12  |",   # the FP32 cell as wide as the row it copies
                           "+| ResNet50 | BI-V150 x8 | " + "-".ljust(len(template.split("|")[3]) - 1) + "| "
                           "Acc@1=76.61,FPS=5321,Time=6h20m，BatchSize=512 |"]


def test_the_report_shows_the_catalogue_filterable_and_marks_what_runs_here(linked, capsys):
    _record(linked.parent / "runs", "a-one", 1, fps=990.0, accuracy=0.6)
    assert main(["report", "--output", str(linked.parent / "reports")]) == 0
    markdown = (linked.parent / "reports" / "results.md").read_text()
    section = markdown[markdown.index("## Zoo catalogue"):]
    assert "1 models of the zoo's catalogue, 1 of them runnable here" in section
    assert "| toy (pytorch) | others/toy | pytorch   | BI-V150 | BI-V150 x1: 1000 FPS, accuracy 0.61 | native (toy) |" \
        in section
    page = (linked.parent / "reports" / "index.html").read_text()
    assert '<a href="#catalogue">Zoo catalogue</a>' in page and "<script" not in page
    assert '<tr data-cat="others others-toy" data-fw="pytorch" data-gpu="bi-v150" class="zc-here">' in page
    assert '#zc-fw-pytorch:checked ~ table tbody tr:not([data-fw~="pytorch"]){display:none}' in page
    data = json.loads((linked.parent / "reports" / "results.json").read_text())
    assert [(r["key"], r["runnable"]) for r in data["catalogue"]] == [("others/toy/pytorch", "native")]


def test_a_profile_without_a_readme_column_is_refused(toy, copy_of, capsys):
    root = copy_of("models/cv/classification/resnet50/pytorch/README.md")
    (toy / "zoo.yaml").write_text(
        "schema_version: 1\nmodels:\n  resnet50:\n    catalogue: {entry: cv/classification/resnet50/pytorch}\n"
        "    target: {metric: acc1, value: 75.9}\n"
        "releases:\n  r:\n    models:\n      resnet50: {profiles: [imagenet], cards: [8]}\n")
    assert main(["zoo", "import", str(root)]) == 0
    _record(toy / "runs", "fp32", 8, fps=2100.0, accuracy=0.0, model="resnet50", profile="imagenet", release="r")
    readme = root / "models/cv/classification/resnet50/pytorch/README.md"
    before = readme.read_bytes()
    assert main(["zoo", "writeback", str(root), "--model", "resnet50", "--release", "r", "--apply"]) == 2
    assert ("models.resnet50.catalogue.configs gives no README column for profile imagenet; map it to one of "
            "FP32, AMP+NHWC") in capsys.readouterr().err
    assert readme.read_bytes() == before


def test_the_shipped_zoo_recipes_are_gated_on_their_imported_readme_rows(tmp_path, capsys):
    """Release zoo-recipes of the shipped zoo.yaml: its four recipe models give no references of their
    own; zoo check takes each one's rows from the committed catalogue (their README's)."""
    from modelzoo.zoo.zoofile import find_zoo_file

    runs = tmp_path / "runs"
    for run_id, model, fps, metric in [("a", "zoo-facenet", 1250.0, ("lfw_accuracy", 0.98)),
                                       ("b", "zoo-arcface", 30.0, ("lfw_accuracy", 0.991)),
                                       ("c", "zoo-cosface", 5500.0, ("lfw_accuracy", 0.987)),
                                       ("d", "zoo-resnet50", 320.0, ("acc1", 76.0))]:
        _record(runs, run_id, 1, fps=fps, accuracy=0.0, model=model, profile="recipe", release="zoo-recipes")
        saved = json.loads((runs / run_id / "record.json").read_text())
        saved["env"]["gpu"] = "Iluvatar BI-V100"
        saved["metrics"] = {"fps": fps, metric[0]: metric[1], **timing(fps)}
        saved["metric_columns"] = [{"key": metric[0], "title": metric[0], "format": "{:.4f}"}]
        (runs / run_id / "record.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["zoo", "check", "--release", "zoo-recipes", "--zoo", str(find_zoo_file()),
                 "--runs-dir", str(runs)]) == 1
    out = capsys.readouterr().out
    assert "1250.00 = 99% of 1256.96 (BI-V100 x1); needs 95%" in out           # facenet/pytorch README
    assert "5500.00 = 100% of 5492.08 (BI-V100 x1)" in out                      # cosface README
    assert "320.00 = 97% of 330.00 (BI-V100 x1)" in out                         # resnet50 README, FP32 column
    assert ("FAIL: 1 of 4 cells: zoo-arcface/recipe x1 (FPS 30.00 is 78.4% of the reference 38.27 "
            "(BI-V100 x1); needs 95%)") in out                                  # arcface README: 38.272


def test_a_profile_is_gated_on_its_readme_columns_rows(toy, tmp_path, capsys):
    """resnet50's README gives 8 cards 2150 FPS under FP32 and 4200 under AMP+NHWC: with configs mapping
    the profiles to those columns, each cell meets its own column's figure."""
    import shutil

    from modelzoo.catalogue.importer import CATALOGUE_FILE

    shutil.copyfile(REPO / CATALOGUE_FILE, tmp_path / CATALOGUE_FILE)
    (tmp_path / "zoo.yaml").write_text(
        "schema_version: 1\nmodels:\n  toy:\n    catalogue:\n      entry: cv/classification/resnet50/pytorch\n"
        "      configs: {fp32: FP32, amp: AMP+NHWC}\n    target: {metric: accuracy, value: 0.75}\n"
        "releases:\n  r:\n    models:\n      toy: {profiles: [fp32, amp], cards: [8]}\n")
    runs = tmp_path / "runs"
    for run_id, profile, fps in [("a", "fp32", 2100.0), ("b", "amp", 4100.0)]:
        _record(runs, run_id, 8, fps=fps, accuracy=0.76, profile=profile, release="r")  # the toy: an installed model
        saved = json.loads((runs / run_id / "record.json").read_text())
        saved["env"]["gpu"] = "Iluvatar BI-V100"
        (runs / run_id / "record.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert main(["zoo", "check", "--release", "r", "--zoo", str(tmp_path / "zoo.yaml"), "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr().out
    assert "2100.00 = 98% of 2150.00 (BI-V100 x8)" in out and "4100.00 = 98% of 4200.00 (BI-V100 x8)" in out
