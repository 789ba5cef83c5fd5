"""The zoo README tables: exactly the README's columns, the layout from the model's
declaration, published rows while nothing real was measured, and one table for the
models whose READMEs share it."""

from __future__ import annotations

import json

import pytest

from modelzoo.contract.api import ConfigColumn, MetricColumn, ModelSpec, ResultTable
from modelzoo.report import build_report, render_html, render_json, render_markdown

GENERATED = "2026-01-04T00:00:00+00:00"

# zoo.yaml's ResNet-50 rows as load_zoo returns them: the column named by its title
RESNET_REFS = [
    {"gpu": "BI-V100", "cards": cards, "config": config, "fps": fps, "metrics": {"acc1": acc}, "time": time,
     "batch_size": batch, "sdk": "IXUCA SDK 2.2.0", "release": "22.09", "source": "DeepSpark zoo, ResNet50 README"}
    for cards, config, fps, acc, time, batch in [
        (1, "FP32", 330, 76.02, "4d3h", 280), (1, "AMP+NHWC", 550, 75.56, "2d13h", 300),
        (4, "FP32", 1233, 75.89, "1d2h", 300), (4, "AMP+NHWC", 2400, 79.04, "11h", 512),
        (8, "FP32", 2150, 74.98, "12h43m", 300), (8, "AMP+NHWC", 4200, 76.43, "8h", 480)]]
FACE_REFS = {
    "facenet": [{"gpu": "BI-V100", "cards": 1, "fps": 216.96, "metrics": {"lfw_accuracy": 0.989,
                                                                          "lfw_accuracy_std": 0.00642}}],
    "facenet-pytorch": [{"gpu": "BI-V100", "cards": 1, "fps": 1256.96,
                         "metrics": {"lfw_accuracy": 0.97933, "lfw_accuracy_std": 0.00624}}],
    "arcface": [{"gpu": "BI-V100", "cards": 1, "fps": 38.272,
                 "metrics": {"lfw_accuracy": 0.99, "lfw_accuracy_std": 0.00615}}],
    "cosface": [{"gpu": "BI-V100", "cards": 1, "fps": 5492.08, "metrics": {"lfw_accuracy": 0.9865}}],
}


def _spec(name: str, title: str, columns: list[dict], table: ResultTable | None = None) -> ModelSpec:
    return ModelSpec(name=name, description=title, metric_columns=tuple(MetricColumn(**c) for c in columns),
                     profiles={"demo": {}}, default_profile="demo", display_name=title,
                     table=table or ResultTable())


@pytest.fixture
def resnet_spec(make_resnet) -> ModelSpec:
    """The declaration the conftest's ResNet-50 records were written from."""
    record = make_resnet("spec")
    configs = tuple(ConfigColumn(c["title"], {k: tuple(v) for k, v in c["match"].items()})
                    for c in record["result_table"]["configs"])
    return _spec("resnet50", "ResNet50", record["metric_columns"], ResultTable("configs", configs))


@pytest.fixture
def face_specs(make_record) -> dict:
    columns = make_record("spec")["metric_columns"]
    return {name: _spec(name, title, columns) for name, title in
            [("facenet", "Facenet"), ("facenet-pytorch", "Facenet-PyTorch"), ("arcface", "ArcFace"),
             ("cosface", "CosFace")]}


def _block(markdown: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading."""
    return markdown.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]


def _tables(text: str) -> list[list[str]]:
    """Every Markdown table in ``text``, as its lines."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables


def test_resnet_reference_rows_show_in_the_readme_layout_when_only_a_demo_run_exists(make_resnet, envs,
                                                                                     resnet_spec):
    # the newest record is a CPU demo run; zoo.yaml names each reference's column by its title
    demo = make_resnet("demo-1", data_kind="synthetic", device="cpu", env=envs["cpu"], profile="demo")
    md = render_markdown(build_report([demo], {"resnet50": RESNET_REFS}, generated=GENERATED,
                                      declarations={"resnet50": resnet_spec}))
    assert "Reference not shown" not in md
    readme = _tables(_block(md, "### Zoo README table"))
    # the README's table, row for row (its cells use ',' where the README once typed '，')
    assert readme == [[
        "| Model    | GPU        | FP32                                           | AMP+NHWC                                     |",
        "|----------|------------|------------------------------------------------|----------------------------------------------|",
        "| ResNet50 | BI-V100 x1 | Acc@1=76.02,FPS=330,Time=4d3h,BatchSize=280    | Acc@1=75.56,FPS=550,Time=2d13h,BatchSize=300 |",
        "| ResNet50 | BI-V100 x4 | Acc@1=75.89,FPS=1233,Time=1d2h,BatchSize=300   | Acc@1=79.04,FPS=2400,Time=11h,BatchSize=512  |",
        "| ResNet50 | BI-V100 x8 | Acc@1=74.98,FPS=2150,Time=12h43m,BatchSize=300 | Acc@1=76.43,FPS=4200,Time=8h,BatchSize=480   |"]]
    assert "Published values of ResNet50 (no real-data run yet):" in md
    assert "| demo-1 |" in _block(md, "### Synthetic data — not comparable")


def test_the_declaration_sets_the_layout_not_the_newest_record(make_resnet, resnet_spec):
    real = make_resnet("fp32-1")
    # newer, from a plugin version that wrote no result table: the records alone would switch layouts
    newer = make_resnet("fp32-1b", started="2026-01-02T00:00:00+00:00", fps=340.0)
    newer["result_table"] = {"layout": "metrics", "configs": []}
    report = build_report([real, newer], {}, generated=GENERATED, declarations={"resnet50": resnet_spec})
    section = report.sections[0]
    assert (section.layout, section.layout_source) == ("configs", "declaration")
    assert section.readme[0].table.headers == ["Model", "GPU", "FP32", "AMP+NHWC"]
    assert section.readme[0].table.rows[0].cells[2].startswith("Acc@1=76.02,FPS=340,")
    undeclared = build_report([real, newer], {}, generated=GENERATED).sections[0]
    assert (undeclared.layout, undeclared.layout_source) == ("metrics", "record fp32-1b")


def test_a_measured_run_fills_the_readme_table_in_exactly_its_columns(make_record, envs, face_specs):
    record = make_record("run-1", env=envs["bi_v100"], fps=220.5, accuracy=(0.9912, 0.0051))
    md = render_markdown(build_report([record], FACE_REFS, generated=GENERATED,
                                      declarations={"facenet": face_specs["facenet"]}))
    under = _block(md, "### Zoo README table")
    assert "On Iluvatar BI-V100 x1:" in under and "published" not in under
    assert _tables(under) == [["| Model   | FPS    | LFW_Accuracy     |",
                               "|---------|--------|------------------|",
                               "| Facenet | 220.50 | 0.99120+-0.00510 |"]]
    # the second table keeps the card, profile, FPS/ref and run
    assert "| Facenet             | Iluvatar BI-V100 x1 | 220.50 | 0.99120+-0.00510 | zoo     | 1.02    |" in md


def test_two_profiles_on_one_card_are_told_apart_in_the_model_cell(make_record, envs):
    records = [make_record("full", env=envs["bi_v100"], profile="casia"),
               make_record("short", env=envs["bi_v100"], profile="casia-5ep", fps=230.0, accuracy=(0.95, 0.01))]
    section = build_report(records, {}, generated=GENERATED).sections[0]
    assert [row.cells[0] for row in section.readme[0].table.rows] == ["Facenet (casia)", "Facenet (casia-5ep)"]


def test_models_sharing_a_readme_table_get_one_table_with_every_published_row(make_record, envs, face_specs):
    demo = make_record("face-demo", env=envs["cpu"], device="cpu", data_kind="synthetic", profile="demo")
    report = build_report([demo], FACE_REFS, generated=GENERATED, declarations=face_specs)
    assert [s.model for s in report.sections] == ["arcface", "cosface", "facenet", "facenet-pytorch"]
    md = render_markdown(report)
    group = _block(md, "## Zoo README table: ArcFace, CosFace, Facenet, Facenet-PyTorch")
    # a published figure keeps every decimal it was published with (38.272)
    assert _tables(group) == [["| Model           | FPS     | LFW_Accuracy     |",
                               "|-----------------|---------|------------------|",
                               "| ArcFace         | 38.272  | 0.99000+-0.00615 |",
                               "| CosFace         | 5492.08 | 0.98650          |",
                               "| Facenet         | 216.96  | 0.98900+-0.00642 |",
                               "| Facenet-PyTorch | 1256.96 | 0.97933+-0.00624 |"]]
    assert "published values of ArcFace, CosFace, Facenet, Facenet-PyTorch (no real-data run yet)" in group
    data = json.loads(render_json(report))
    assert [r["cells"]["Model"] for r in data["readme_groups"][0]["blocks"][0]["rows"]] == [
        "ArcFace", "CosFace", "Facenet", "Facenet-PyTorch"]
    html = render_html(report)
    assert 'id="readme-arcface-cosface-facenet-facenet-pytorch"' in html
    assert "| CosFace         | 5492.08 | 0.98650          |" in html   # the text to paste, in a <pre>


def test_a_measured_model_shows_its_run_and_the_others_their_published_rows(make_record, envs, face_specs):
    real = make_record("fn-1", env=envs["bi_v100"], fps=230.0)
    report = build_report([real], FACE_REFS, generated=GENERATED, declarations=face_specs)
    (block,) = report.groups[0].blocks
    assert block.where == "Iluvatar BI-V100 x1"
    assert [(row.cells[0], row.cells[1], row.reference) for row in block.table.rows] == [
        ("ArcFace", "38.272", True), ("CosFace", "5492.08", True), ("Facenet", "230.00", False),
        ("Facenet-PyTorch", "1256.96", True)]
    assert block.published == ["ArcFace", "CosFace", "Facenet-PyTorch"]


def test_a_model_alone_in_its_layout_gets_no_group(make_record, make_resnet, envs):
    report = build_report([make_record("f", env=envs["bi_v100"]), make_resnet("r")], {}, generated=GENERATED)
    assert report.groups == []


def test_the_cli_report_of_a_demo_only_resnet_shows_zoo_yamls_reference_table(make_resnet, envs, tmp_path, capsys):
    """As a new user: one ResNet-50 demo run, then `modelzoo report` with the checkout's zoo.yaml
    and the installed classification plugin's declaration."""
    from pathlib import Path

    from modelzoo.cli.main import main
    from modelzoo.store import records

    pytest.importorskip("modelzoo_classification")
    demo = make_resnet("20260101T000000Z-resnet50-demo-c1-0001", data_kind="synthetic", device="cpu",
                       env=envs["cpu"], profile="demo")
    records.save(demo, tmp_path / "runs")
    zoo = Path(__file__).resolve().parents[3] / "zoo.yaml"
    assert main(["report", "--zoo", str(zoo), "--runs-dir", str(tmp_path / "runs"),
                 "--output", str(tmp_path / "out")]) == 0
    assert "Reference not shown" not in capsys.readouterr().err
    md = (tmp_path / "out" / "results.md").read_text()
    assert "Reference not shown" not in md
    readme = _tables(_block(md.split("\n## ResNet50\n", 1)[1], "### Zoo README table"))[0]
    assert readme[0].split("|")[1:-1] == [" Model    ", " GPU        ", " FP32" + " " * 43, " AMP+NHWC" + " " * 37]
    assert [line.split("|")[2].strip() for line in readme[2:]] == ["BI-V100 x1", "BI-V100 x4", "BI-V100 x8"]
    assert "Acc@1=74.98,FPS=2150,Time=12h43m,BatchSize=300" in readme[4]
