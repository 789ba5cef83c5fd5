"""The report's tables in Markdown: each model in its zoo README's layout, and the rules
that decide which run reaches which table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from modelzoo.report import build_report, render_html, render_markdown
from modelzoo.report.cells import markdown_table, zoo_duration
from modelzoo.report.model import same_card, split_sdk

GENERATED = "2026-01-04T00:00:00+00:00"
HOSTILE = "<script>alert(1)</script>"
REPORT_DIR = Path(__file__).resolve().parents[3] / "modelzoo" / "report"


def _markdown(records, references=None, **kwargs) -> str:
    return render_markdown(build_report(records, references or {}, generated=GENERATED, **kwargs))


def _section(markdown: str, title: str) -> str:
    return markdown.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _results(markdown: str, title: str | None = None) -> str:
    """The lines of the Results table of the model ``title`` (default: the first model)."""
    body = _section(markdown, title) if title else markdown
    return body.split("### Results\n\n", 1)[1].split("\n\n", 1)[0]


def _after(markdown: str, heading: str) -> str:
    return markdown.split(f"### {heading}\n", 1)[1].split("\n###", 1)[0]


# --- the metrics layout (facenet README) ------------------------------------------------

def test_single_run_table_is_the_readme_format_with_card_count_and_profile(make_record, envs):
    record = make_record("run-c1", env=dict(envs["bi_v100"], gpu="BI-V100"))
    assert _results(_markdown([record])) == (
        "| Model   | GPU        | FPS    | LFW_Accuracy     | Profile | FPS/ref | Scaling | Run    |\n"
        "|---------|------------|--------|------------------|---------|---------|---------|--------|\n"
        "| Facenet | BI-V100 x1 | 216.96 | 0.98900+-0.00642 | zoo     | -       | -       | run-c1 |"
    )


def test_full_markdown_report(make_record, envs, references):
    env = dict(envs["bi_v100"], gpu="BI-V100")
    records = [
        make_record("run-c1", env=env, fps=108.48, started="2026-01-02T00:00:00+00:00"),
        # older than run-c1 on the same card, count and profile: not shown, counted
        make_record("run-c1-old", env=env, fps=100.0, started="2026-01-01T00:00:00+00:00"),
        make_record("run-c8", env=env, cards=8, fps=810.0, accuracy=(0.98733, 0.00512),
                    started="2026-01-03T00:00:00+00:00"),
    ]
    expected = """\
# Model zoo results

Generated 2026-01-04T00:00:00+00:00 by modelzoo 0.1.0 from 3 run records.

FPS = training samples per second over the whole job, in the model's unit (images, samples or tokens): all cards, data loading included, timed after warm-up with the devices synchronized. Scaling = FPS(N cards) / (N x FPS(1 card)) within one profile on one card. FPS/ref = measured FPS / reference FPS.

## Facenet

### Zoo README table

On BI-V100 x1:

| Model   | FPS    | LFW_Accuracy     |
|---------|--------|------------------|
| Facenet | 108.48 | 0.98900+-0.00642 |

On BI-V100 x8:

| Model   | FPS    | LFW_Accuracy     |
|---------|--------|------------------|
| Facenet | 810.00 | 0.98733+-0.00512 |

The zoo README's own columns, to paste unchanged; the Results table below holds the same rows with the card, profile, FPS/ref, scaling and run. Layout from record run-c8: the model's plugin is not installed here.

### Results

| Model               | GPU        | FPS    | LFW_Accuracy     | Profile | FPS/ref | Scaling | Run                  |
|---------------------|------------|--------|------------------|---------|---------|---------|----------------------|
| Facenet             | BI-V100 x1 | 108.48 | 0.98900+-0.00642 | zoo     | 0.50    | -       | run-c1               |
| Facenet (reference) | BI-V100 x1 | 216.96 | 0.98900+-0.00642 | -       | -       | -       | DeepSpark zoo README |
| Facenet             | BI-V100 x8 | 810.00 | 0.98733+-0.00512 | zoo     | -       | 93.3%   | run-c8               |

Measured rows: the latest successful run on real data under the zoo's protocol for each card, card count and profile (by start time); 1 older run not shown (every run is in results.csv).

Reference rows: the published values (zoo.yaml), with their source in the Run column.

### Environment

| GPU                 | IXUCA SDK | Release |
|---------------------|-----------|---------|
| BI-V100             | 3.1.0     | 23.09   |
| BI-V100 (reference) | 3.1.0     | 23.09   |
"""
    assert _markdown(records, references) == expected


def test_a_short_profile_gets_its_own_row_and_scaling_stays_within_one_profile(make_record, envs):
    env = dict(envs["bi_v100"], gpu="BI-V100")
    records = [make_record("full-c1", env=env, fps=200.0, profile="casia"),
               make_record("full-c8", env=env, cards=8, fps=1520.0, profile="casia"),
               # newer, 5 epochs, on 8 cards: must neither replace full-c8 nor scale against full-c1
               make_record("short-c8", env=env, cards=8, fps=1700.0, profile="casia-5ep",
                           accuracy=(0.91, 0.01), started="2026-01-02T00:00:00+00:00")]
    table = _results(_markdown(records)).splitlines()[2:]
    assert [(row.split("|")[5].strip(), row.split("|")[8].strip(), row.split("|")[7].strip())
            for row in table] == [("casia", "full-c1", "-"), ("casia", "full-c8", "95.0%"),
                                  ("casia-5ep", "short-c8", "-")]


def test_scaling_needs_a_one_card_run_of_the_same_card(make_record, envs):
    records = [make_record("run-c8", env=envs["bi_v100"], cards=8, fps=1600.0),
               make_record("run-h1", env=envs["h100"], fps=2000.0)]
    row8 = next(line for line in _results(_markdown(records)).splitlines() if "run-c8" in line)
    assert row8.split("|")[7].strip() == "-"


def test_reference_matches_the_vendor_card_name_and_cuda_runs_get_their_own_environment_table(
        make_record, envs, references):
    records = [make_record("run-biv", env=envs["bi_v100"]),          # "Iluvatar BI-V100"
               make_record("run-h100", env=envs["h100"], fps=2000.0)]
    md = _markdown(records, references)
    table = _results(md).splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == ["Facenet", "Facenet (reference)", "Facenet"]
    assert "| Iluvatar BI-V100 x1 " in table[2] and "| 1.00 " in table[2]
    assert "| NVIDIA H100 80GB HBM3 x1 " in table[4] and "| run-h100 " in table[4]
    assert ("| GPU                   | CUDA | Driver    | torch |\n"
            "|-----------------------|------|-----------|-------|\n"
            "| NVIDIA H100 80GB HBM3 | 12.4 | 550.54.15 | 2.5.1 |") in md


def test_card_name_matching():
    assert same_card("BI-V100", "Iluvatar BI-V100")
    assert same_card("bi-v100", "BI-V100")
    assert same_card("A100", "NVIDIA A100-SXM4-80GB")
    assert same_card("H100", "NVIDIA H100 80GB HBM3")
    assert not same_card("V100", "Iluvatar BI-V100")
    assert not same_card("H10", "NVIDIA H100 80GB HBM3")
    assert not same_card("", "NVIDIA H100 80GB HBM3")
    assert split_sdk("IXUCA SDK 3.1.0") == ("IXUCA SDK", "3.1.0")
    assert split_sdk("IXUCA SDK") == ("IXUCA SDK", "-")


# --- the configs layout (ResNet-50 README) ----------------------------------------------

def test_configs_layout_reproduces_the_resnet50_readme_rows(make_resnet, references):
    records = [make_resnet("fp32-1"),
               make_resnet("amp-1", amp=True, acc1=75.56, fps=550, batch_size=300, duration_s=2 * 86400 + 13 * 3600),
               make_resnet("fp32-4", cards=4, acc1=75.89, fps=1233, batch_size=300, duration_s=26 * 3600),
               make_resnet("amp-4", cards=4, amp=True, acc1=79.04, fps=2400, batch_size=512, duration_s=11 * 3600),
               make_resnet("fp32-8", cards=8, acc1=74.98, fps=2150, batch_size=300, duration_s=12 * 3600 + 43 * 60),
               make_resnet("amp-8", cards=8, amp=True, acc1=76.43, fps=4200, batch_size=480, duration_s=8 * 3600)]
    assert _results(_markdown(records, references)) == (
        "| Model                | GPU        | FP32                                           | AMP+NHWC                                     | Profile | Run           |\n"
        "|----------------------|------------|------------------------------------------------|----------------------------------------------|---------|---------------|\n"
        "| ResNet50             | BI-V100 x1 | Acc@1=76.02,FPS=330,Time=4d3h,BatchSize=280    | Acc@1=75.56,FPS=550,Time=2d13h,BatchSize=300 | zoo     | fp32-1, amp-1 |\n"
        "| ResNet50 (reference) | BI-V100 x1 | Acc@1=76.02,FPS=330,Time=4d3h,BatchSize=280    | Acc@1=75.56,FPS=550,Time=2d13h,BatchSize=300 | -       | zoo README    |\n"
        "| ResNet50             | BI-V100 x4 | Acc@1=75.89,FPS=1233,Time=1d2h,BatchSize=300   | Acc@1=79.04,FPS=2400,Time=11h,BatchSize=512  | zoo     | fp32-4, amp-4 |\n"
        "| ResNet50             | BI-V100 x8 | Acc@1=74.98,FPS=2150,Time=12h43m,BatchSize=300 | Acc@1=76.43,FPS=4200,Time=8h,BatchSize=480   | zoo     | fp32-8, amp-8 |"
    )


def test_configs_layout_leaves_an_empty_cell_and_keeps_unmatched_runs_apart(make_resnet, references):
    references["resnet50"].append({"gpu": "BI-V100", "cards": 8, "fps": 1, "config": {"train.amp": "fp8"},
                                   "source": "slides"})
    odd = make_resnet("fp16-nchw", amp=True)
    odd["config"]["train"]["channels_last"] = False   # AMP without NHWC: no column takes it
    md = _markdown([make_resnet("fp32-1"), odd], references)
    results = _results(md)
    assert [c.strip() for c in results.splitlines()[2].split("|")[1:-1]] == [
        "ResNet50", "BI-V100 x1", "Acc@1=76.02,FPS=330,Time=4d3h,BatchSize=280", "-", "zoo", "fp32-1"]
    assert "fp16-nchw" not in results
    assert "| fp16-nchw |" in _after(md, "Configurations without a column")
    assert ("Reference not shown: BI-V100 x8 (slides): its config matches no column (the columns: FP32, AMP+NHWC)."
            in md)


def test_configs_cell_says_n_a_for_what_the_run_lacks(make_resnet):
    record = make_resnet("no-acc", acc1=None, duration_s=None, warnings=["evaluation did not return metric 'acc1'"])
    del record["config"]["train"]["batch_size"]
    row = _results(_markdown([record])).splitlines()[2]
    assert "Acc@1=n/a,FPS=330,Time=n/a,BatchSize=n/a" in row
    assert row.rstrip(" |").endswith("evaluation did not return metric 'acc1'")


def test_zoo_duration_formats_as_the_readme():
    assert [zoo_duration(s) for s in (4 * 86400 + 3 * 3600 + 600, 26 * 3600, 11 * 3600 + 10, 12 * 3600 + 43 * 60,
                                      86400 - 20, 25 * 60, 40, None)] == [
        "4d3h", "1d2h", "11h", "12h43m", "1d", "25m", "40s", "-"]


# --- a tokens/s model -------------------------------------------------------------------

def test_throughput_header_is_the_models_unit(make_lm):
    md = _markdown([make_lm("lm-1"), make_lm("lm-8", cards=8, fps=390000.0)])
    assert _results(md) == (
        "| Model  | GPU                      | tokens/s  | Perplexity | Profile | vs ref | Scaling | Run  |\n"
        "|--------|--------------------------|-----------|------------|---------|--------|---------|------|\n"
        "| TinyLM | NVIDIA H100 80GB HBM3 x1 | 51234.50  | 12.34      | zoo     | -      | -       | lm-1 |\n"
        "| TinyLM | NVIDIA H100 80GB HBM3 x8 | 390000.00 | 12.34      | zoo     | -      | 95.2%   | lm-8 |"
    )


def test_each_model_gets_its_own_section_in_its_own_layout(make_record, make_resnet, make_lm, envs):
    md = _markdown([make_record("face", env=envs["bi_v100"]), make_resnet("rn"), make_lm("lm")])
    assert re.findall(r"^## (.+)$", md, re.M) == ["Facenet", "TinyLM", "ResNet50"]
    assert _results(md, "Facenet").startswith("| Model   | GPU                 | FPS    | LFW_Accuracy     | Profile |")
    assert _results(md, "ResNet50").startswith("| Model    | GPU        | FP32 ")
    assert _results(md, "TinyLM").startswith("| Model  | GPU                      | tokens/s | Perplexity | Profile |")


# --- warnings, lost runs, devices -------------------------------------------------------

def test_warnings_sit_beside_the_row_instead_of_a_bare_dash(make_lm):
    quiet = make_lm("lm-quiet", perplexity=None)                 # an old record: no warnings field
    warned = make_lm("lm-warned", cards=8, fps=300000.0, perplexity=None,
                     warnings=["evaluation did not return metric 'perplexity'"])
    table = _results(_markdown([quiet, warned])).splitlines()
    assert table[0].endswith("| Run       | Notes                                         |")
    assert table[2].endswith("| n/a        | zoo     | -      | -       | lm-quiet  | no Perplexity in the record                   |")
    assert table[3].endswith("| n/a        | zoo     | -      | 73.2%   | lm-warned | evaluation did not return metric 'perplexity' |")


def test_a_dead_running_record_is_shown_as_lost(make_record, envs):
    import os

    lost = make_record("run-lost", env=envs["bi_v100"], status="running", fps=None, accuracy=None)
    lost["owner"]["pid"], lost["owner"]["pid_started"] = os.getpid(), lost["owner"]["pid_started"] - 3600
    alive = make_record("run-alive", env=envs["bi_v100"], status="running", fps=None, accuracy=None)
    md = _markdown([lost, alive])
    table = _after(md, "Runs that did not succeed")
    assert "| Iluvatar BI-V100 x1 | zoo     | lost    | real | its process ended without recording a result | run-lost  |" in table
    assert "| Iluvatar BI-V100 x1 | zoo     | running | real | -                                            | run-alive |" in table
    html = render_html(build_report([lost], generated=GENERATED))
    assert '<span class="badge status-lost">lost</span>' in html


def test_a_cpu_run_names_the_cpu_and_labels_cuda_as_the_torch_build(make_record, envs):
    env = dict(envs["cpu"], cpu_capability="AVX2", cpu_threads=2, sdk="IXUCA SDK 3.1.0", release="23.09")
    record = make_record("run-cpu", env=env, device="cpu", fps=15.0)
    md = _markdown([record])
    assert ("| CPU                                 | torch                    | Python |\n"
            "|-------------------------------------|--------------------------|--------|\n"
            "| AMD Ryzen 7 7840U (AVX2, 2 threads) | 2.14.1 (CUDA 13.0 build) | 3.11.2 |") in md
    assert "| CPU x1 |" in _results(md)
    assert "IXUCA SDK |" not in md and "| 13.0 |" not in md
    details = render_html(build_report([record], generated=GENERATED)).split('id="run-run-cpu"', 1)[1]
    assert "<tr><th>ran on</th><td>CPU: AMD Ryzen 7 7840U (AVX2, 2 threads), 1 process</td></tr>" in details
    assert "<tr><th>torch</th><td>2.14.1 (CUDA 13.0 build)</td></tr>" in details
    assert "<th>cuda</th>" not in details and "<th>driver</th>" not in details


def test_a_card_run_names_the_cards_driver_and_sdk(make_record, envs):
    details = render_html(build_report([make_record("run-8", env=envs["bi_v100"], cards=8)],
                                       generated=GENERATED)).split('id="run-run-8"', 1)[1]
    for pair in ("<th>ran on</th><td>Iluvatar BI-V100 x8</td>", "<th>driver</th><td>3.1.0</td>",
                 "<th>SDK</th><td>IXUCA SDK 3.1.0</td>", "<th>torch</th><td>1.13.1 (CUDA 10.2 build)</td>"):
        assert pair in details, pair


# --- sections kept apart ----------------------------------------------------------------

def test_synthetic_runs_never_reach_the_main_table_and_are_marked(make_record, envs, references):
    records = [make_record("run-real", env=envs["bi_v100"], started="2026-01-01T00:00:00+00:00"),
               # newer, faster and on the same card: still must not replace the real run
               make_record("run-synth", env=envs["bi_v100"], fps=9999.0, data_kind="synthetic",
                           started="2026-01-02T00:00:00+00:00")]
    md = _markdown(records, references)
    main = _results(md)
    assert "run-synth" not in main and "9999.00" not in main and "run-real" in main
    rows = [line for line in _after(md, "Synthetic data — not comparable").splitlines()
            if line.startswith("| Facenet")]
    assert len(rows) == 1
    assert "run-synth" in rows[0] and "| synthetic data — not comparable |" in rows[0]


def test_only_synthetic_runs_leave_the_main_table_to_the_reference(make_record, envs, references):
    md = _markdown([make_record("run-synth", env=envs["cpu"], device="cpu", cards=2, fps=15.0,
                                data_kind="synthetic")], references)
    assert [line.split("|")[1].strip() for line in _results(md).splitlines()[2:]] == ["Facenet (reference)"]
    assert "No successful run on real data under the zoo's protocol yet." in md
    assert "| Facenet | CPU x2 | 15.00 | 0.98900+-0.00642 | zoo     |" in md


def test_other_protocol_runs_are_kept_apart_under_their_protocol(make_record, envs, references):
    records = [make_record("run-zoo", env=envs["bi_v100"]),
               make_record("run-fold10", env=envs["cpu"], device="cpu", fps=14.0,
                           accuracy=(0.91833, 0.0), protocol="LFW unrestricted, fold 10")]
    md = _markdown(records, references)
    assert "run-fold10" not in _results(md)
    assert ("| Facenet | CPU x1 | 14.00 | 0.91833+-0.00000 | zoo     | webface_182_44 | run-fold10 |"
            in _after(md, "Other protocol: LFW unrestricted, fold 10"))


def test_failed_runs_are_listed_with_their_error_and_pipes_escaped(make_record, envs, references):
    records = [make_record("run-ok", env=envs["bi_v100"]),
               make_record("run-nan", env=envs["bi_v100"], cards=8, status="diverged", fps=None,
                           accuracy=None, error="loss is nan at step 1200\n| epoch 2"),
               make_record("run-int", env=envs["bi_v100"], status="interrupted", fps=None, accuracy=None)]
    md = _markdown(records, references)
    assert "run-nan" not in _results(md) and "run-int" not in _results(md)
    section = _after(md, "Runs that did not succeed")
    assert ("| Iluvatar BI-V100 x8 | zoo     | diverged    | real | loss is nan at step 1200 \\| epoch 2 | run-nan |"
            in section)
    assert "| Iluvatar BI-V100 x1 | zoo     | interrupted | real | -" in section


def test_eval_only_runs_have_their_own_section(make_record, envs):
    md = _markdown([make_record("run-eval", env=envs["bi_v100"], kind="eval", fps=None)])
    assert "run-eval" not in _results(md)
    assert "| run-eval |" in _after(md, "Evaluation-only runs")


def test_input_bound_is_decided_once_and_said_in_both_places(make_record, envs):
    slow_loader = make_record("run-io", env=envs["h100"], fps=2000.0, compute_fps=9000.0)
    balanced = make_record("run-ok", env=envs["bi_v100"], fps=216.0, compute_fps=250.0)
    from_trainer = make_record("run-ratio", env=envs["bi_v100"], cards=8, fps=1000.0)
    from_trainer["metrics"]["input_bound_ratio"] = 2.0   # the trainer's own figure wins
    md = _markdown([slow_loader, balanced, from_trainer])
    assert "Input-bound: run-io (NVIDIA H100 80GB HBM3 x1) reaches 4.5x its FPS" in md
    assert "Input-bound: run-ratio (Iluvatar BI-V100 x8) reaches 2.0x its FPS" in md
    assert "Input-bound: run-ok" not in md
    html = render_html(build_report([slow_loader, balanced, from_trainer], generated=GENERATED))
    assert html.count("the input pipeline (loading, decoding, augmentation), not the card, is the bottleneck") == 2


# --- Markdown text ----------------------------------------------------------------------

def test_markdown_cells_neutralise_html_and_stay_one_line():
    """No tag or entity of a record reaches a Markdown page (issue 28.7); plain '<=' stays."""
    table = markdown_table(["A", "B"], [["<b>x</b> & y <= 2", "a|b\nc &amp;"]])
    assert table.splitlines()[2] == "| &lt;b>x&lt;/b> & y <= 2 | a\\|b c &amp;amp; |"
    assert table.splitlines()[1] == "|-------------------------|------------------|"


def test_markdown_neutralises_hostile_text_in_headings_too(make_record, envs):
    record = make_record("run-p", env=envs["bi_v100"], protocol=HOSTILE)
    assert "### Other protocol: &lt;script>alert(1)&lt;/script>\n" in _markdown([record])
    assert "<script>" not in _markdown([record])


# --- no model is special to the report --------------------------------------------------

def test_no_metric_curve_or_model_name_is_special_cased_in_the_report_code():
    """Docstrings may use a model as an example; code, comments and templates may not."""
    word = re.compile(r"(?<![a-z])(roc|auc|lfw|facenet)(?![a-z])", re.I)
    found = []
    for path in sorted(REPORT_DIR.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                names.append(node.value)
            elif isinstance(node, ast.Name):
                names.append(node.id)
            elif isinstance(node, ast.Attribute):
                names.append(node.attr)
            found += [f"{path.name}: {n!r}" for n in names if word.search(n)]
        found += [f"{path.name}: comment {line.strip()!r}" for line in source.splitlines()
                  if "#" in line and word.search(line.split("#", 1)[1])]
    for path in sorted((REPORT_DIR / "templates").iterdir()):
        found += [f"{path.name}: {line.strip()!r}" for line in path.read_text(encoding="utf-8").splitlines()
                  if word.search(line)]
    assert found == []
