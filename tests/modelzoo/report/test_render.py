"""modelzoo report: the tables, the sections kept apart, escaping, SVG, CSV, JSON, atomic writes."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from modelzoo.api import UserError
from modelzoo.report import build_report, render_markdown, render_reports
from modelzoo.report import render as render_module
from modelzoo.report import svg
from modelzoo.report.render import csv_columns, markdown_table, same_card, split_sdk

GENERATED = "2026-01-04T00:00:00+00:00"
HOSTILE = "<script>alert(1)</script>"


def _markdown(records, references=None) -> str:
    return render_markdown(build_report(records, references or {}, generated=GENERATED))


def _main_table(markdown: str) -> str:
    """The lines of the Results table of the first model."""
    body = markdown.split("### Results\n\n", 1)[1]
    return body.split("\n\n", 1)[0]


# --- Markdown ---------------------------------------------------------------------------

def test_single_run_table_is_the_readme_format_with_the_card_count(make_record, envs):
    record = make_record("run-c1", env=dict(envs["bi_v100"], gpu="BI-V100"))
    assert _main_table(_markdown([record])) == (
        "| Model   | GPU        | FPS    | LFW_Accuracy     | FPS/ref | Scaling | Run    |\n"
        "|---------|------------|--------|------------------|---------|---------|--------|\n"
        "| Facenet | BI-V100 x1 | 216.96 | 0.98900+-0.00642 | -       | -       | run-c1 |"
    )


def test_full_markdown_report(make_record, envs, references):
    env = dict(envs["bi_v100"], gpu="BI-V100")
    records = [
        make_record("run-c1", env=env, fps=108.48, started="2026-01-02T00:00:00+00:00"),
        # older than run-c1 on the same card and count: not shown, counted
        make_record("run-c1-old", env=env, fps=100.0, started="2026-01-01T00:00:00+00:00"),
        make_record("run-c8", env=env, cards=8, fps=810.0, accuracy=(0.98733, 0.00512),
                    started="2026-01-03T00:00:00+00:00"),
    ]
    expected = """\
# Model zoo results

Generated 2026-01-04T00:00:00+00:00 by modelzoo 0.1.0 from 3 run records.

FPS = training images per second over the whole job: all cards, data loading included, timed after warm-up with the devices synchronized. Scaling = FPS(N cards) / (N x FPS(1 card)) on the same card. FPS/ref = measured FPS / reference FPS.

## Facenet

### Results

| Model               | GPU        | FPS    | LFW_Accuracy     | FPS/ref | Scaling | Run                  |
|---------------------|------------|--------|------------------|---------|---------|----------------------|
| Facenet             | BI-V100 x1 | 108.48 | 0.98900+-0.00642 | 0.50    | -       | run-c1               |
| Facenet (reference) | BI-V100 x1 | 216.96 | 0.98900+-0.00642 | -       | -       | DeepSpark zoo README |
| Facenet             | BI-V100 x8 | 810.00 | 0.98733+-0.00512 | -       | 93.3%   | run-c8               |

Measured rows: the latest successful run on real data under the zoo's protocol for each card and card count (by start time); 1 older run not shown (every run is in results.csv).

Reference rows: the published values (zoo.yaml), with their source in the Run column.

### Environment

| GPU                 | IXUCA SDK | Release |
|---------------------|-----------|---------|
| BI-V100             | 3.1.0     | 23.09   |
| BI-V100 (reference) | 3.1.0     | 23.09   |
"""
    assert _markdown(records, references) == expected


def test_reference_matches_the_vendor_card_name_and_cuda_runs_get_their_own_environment_table(
        make_record, envs, references):
    records = [make_record("run-biv", env=envs["bi_v100"]),          # "Iluvatar BI-V100"
               make_record("run-h100", env=envs["h100"], fps=2000.0)]
    table = _main_table(_markdown(records, references)).splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == [
        "Facenet", "Facenet (reference)", "Facenet"]
    assert "| Iluvatar BI-V100 x1 " in table[2] and "| 1.00 " in table[2]
    assert "| NVIDIA H100 80GB HBM3 x1 " in table[4] and "| run-h100 " in table[4]
    md = _markdown(records, references)
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


def test_scaling_needs_a_one_card_run_of_the_same_card(make_record, envs):
    records = [make_record("run-c8", env=envs["bi_v100"], cards=8, fps=1600.0),
               make_record("run-h1", env=envs["h100"], fps=2000.0)]
    table = _main_table(_markdown(records))
    row8 = next(line for line in table.splitlines() if "run-c8" in line)
    assert row8.split("|")[6].strip() == "-"


def test_synthetic_runs_never_reach_the_main_table_and_are_marked(make_record, envs, references):
    records = [make_record("run-real", env=envs["bi_v100"], started="2026-01-01T00:00:00+00:00"),
               # newer, faster and on the same card: still must not replace the real run
               make_record("run-synth", env=envs["bi_v100"], fps=9999.0, data_kind="synthetic",
                           started="2026-01-02T00:00:00+00:00")]
    md = _markdown(records, references)
    main = _main_table(md)
    assert "run-synth" not in main and "9999.00" not in main
    assert "run-real" in main
    section = md.split("### Synthetic data — not comparable\n", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| Facenet")]
    assert len(rows) == 1
    assert "run-synth" in rows[0] and "| synthetic data — not comparable |" in rows[0]

    html = render_module.render_html(build_report(records, references, generated=GENERATED))
    synthetic_block = html.split('id="synthetic-facenet"', 1)[1].split("</table>", 1)[0]
    assert 'class="badge synthetic"' in synthetic_block and "run-synth" in synthetic_block
    summary = re.search(r'<details class="run" id="run-run-synth">\s*<summary>(.*?)</summary>', html,
                        re.S).group(1)
    assert "synthetic data — not comparable" in summary


def test_only_synthetic_runs_leave_the_main_table_to_the_reference(make_record, envs, references):
    md = _markdown([make_record("run-synth", env=envs["cpu"], device="cpu", cards=2, fps=15.0,
                                data_kind="synthetic")], references)
    main = _main_table(md)
    assert [line.split("|")[1].strip() for line in main.splitlines()[2:]] == ["Facenet (reference)"]
    assert "No successful run on real data under the zoo's protocol yet." in md
    assert "| Facenet | CPU x2 | 15.00 |" in md


def test_other_protocol_runs_are_kept_apart_under_their_protocol(make_record, envs, references):
    records = [make_record("run-zoo", env=envs["bi_v100"]),
               make_record("run-fold10", env=envs["cpu"], device="cpu", fps=14.0,
                           accuracy=(0.91833, 0.0), protocol="LFW unrestricted, fold 10")]
    md = _markdown(records, references)
    assert "run-fold10" not in _main_table(md)
    section = md.split("### Other protocol: LFW unrestricted, fold 10\n", 1)[1].split("###", 1)[0]
    assert "| Facenet | CPU x1 | 14.00 | 0.91833+-0.00000 | webface_182_44 | run-fold10 |" in section


def test_failed_runs_are_listed_with_their_error_and_pipes_escaped(make_record, envs, references):
    records = [make_record("run-ok", env=envs["bi_v100"]),
               make_record("run-nan", env=envs["bi_v100"], cards=8, status="diverged", fps=None,
                           accuracy=None, error="loss is nan at step 1200\n| epoch 2"),
               make_record("run-int", env=envs["bi_v100"], status="interrupted", fps=None,
                           accuracy=None)]
    md = _markdown(records, references)
    main = _main_table(md)
    assert "run-nan" not in main and "run-int" not in main
    section = md.split("### Runs that did not succeed\n", 1)[1]
    assert "| run-nan | Iluvatar BI-V100 x8 | diverged    | real | loss is nan at step 1200 \\| epoch 2 |" in section
    assert "| run-int | Iluvatar BI-V100 x1 | interrupted | real | -" in section


def test_eval_only_runs_have_their_own_section(make_record, envs):
    records = [make_record("run-eval", env=envs["bi_v100"], kind="eval", fps=None)]
    md = _markdown(records)
    assert "run-eval" not in _main_table(md)
    assert "### Evaluation-only runs" in md and "| run-eval |" in md


def test_input_bound_note_when_compute_fps_far_exceeds_fps(make_record, envs):
    slow_loader = make_record("run-io", env=envs["h100"], fps=2000.0, compute_fps=9000.0)
    balanced = make_record("run-ok", env=envs["bi_v100"], fps=216.0, compute_fps=250.0)
    md = _markdown([slow_loader, balanced])
    assert "Input-bound: run-io (NVIDIA H100 80GB HBM3 x1) reaches 4.5x its FPS" in md
    assert "Input-bound: run-ok" not in md
    html = render_module.render_html(build_report([slow_loader, balanced], generated=GENERATED))
    assert html.count("the input pipeline (loading, decoding, augmentation), not the card, "
                      "is the bottleneck") == 1


def test_markdown_is_not_html_escaped_but_cells_stay_one_line():
    table = markdown_table(["A", "B"], [["<b>x</b> & y", "a|b\nc"]])
    assert table.splitlines()[2] == "| <b>x</b> & y | a\\|b c |"
    assert table.splitlines()[1] == "|--------------|--------|"


def test_markdown_keeps_hostile_text_raw(make_record, envs):
    record = make_record("run-p", env=envs["bi_v100"], protocol=HOSTILE)
    assert f"### Other protocol: {HOSTILE}\n" in _markdown([record])


# --- HTML -------------------------------------------------------------------------------

class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_escapes_hostile_strings_everywhere(make_record, envs, tmp_path):
    env = dict(envs["h100"], gpu=f"GPU {HOSTILE}")  # reaches table cells and SVG legends
    records = [make_record("run-x", env=env, config={"train": {"note": HOSTILE}}),
               make_record("run-y", env=envs["bi_v100"], protocol=HOSTILE),
               make_record("run-z", env=envs["bi_v100"], status="failed", error=HOSTILE,
                           fps=None, accuracy=None)]
    html = render_module.render_html(build_report(records, {}, generated=GENERATED))
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    parser = _Tags()
    parser.feed(html)
    assert not [t for t, _ in parser.tags if t in ("script", "iframe", "object", "embed", "link")]
    # the hostile card name sits in an SVG legend, escaped there too
    for chart in re.findall(r"<svg.*?</svg>", html, re.S):
        ET.fromstring(chart)


def test_html_is_self_contained(make_record, envs, references):
    records = [make_record("run-a", env=envs["bi_v100"]),
               make_record("run-b", env=envs["bi_v100"], cards=8, fps=1600.0)]
    html = render_module.render_html(build_report(records, references, generated=GENERATED))
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.tags:
        for name in ("src", "href", "xlink:href", "action"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    assert "@import" not in html and "url(http" not in html
    assert not re.search(r"https?://", html)
    # every run link points at a run's <details>
    ids = {attrs.get("id") for _, attrs in parser.tags}
    links = [attrs["href"][1:] for tag, attrs in parser.tags if tag == "a" and "href" in attrs]
    assert links and all(link in ids for link in links)


def test_html_tables_show_measured_beside_reference(make_record, envs, references):
    records = [make_record("run-a", env=envs["bi_v100"], fps=108.48)]
    html = render_module.render_html(build_report(records, references, generated=GENERATED))
    table = html.split('<table class="results">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>.*?</tr>", table, re.S)
    assert len(rows) == 3  # header, measured, reference
    assert "run-a" in rows[1] and ">0.50<" in rows[1] and ">108.48<" in rows[1]
    assert 'class="reference"' in rows[2] and ">216.96<" in rows[2]
    assert "DeepSpark zoo README" in rows[2]


def test_run_details_carry_config_env_data_and_throughput(make_record, envs):
    record = make_record("run-a", env=envs["h100"], fps=2000.0, compute_fps=2100.0)
    html = render_module.render_html(build_report([record], generated=GENERATED))
    details = html.split('<details class="run" id="run-run-a">', 1)[1].split("</details>", 1)[0]
    for text in ("FPS per card", "compute-only FPS", "step time p50", "410.2 ms",
                 "step time p90", "455.9 ms", "train.batch_size", "optimizer.eps",
                 "d5de4fb (dirty)", "runs/run-a/train.log", "webface_182_44",
                 "NVIDIA H100 80GB HBM3", "seed", "Throughput over the run", "ROC (AUC 0.9980)",
                 "Training loss"):
        assert text in details, text


# --- SVG --------------------------------------------------------------------------------

def _parse(chart: str) -> ET.Element:
    return ET.fromstring(chart)


NS = "{http://www.w3.org/2000/svg}"


def test_line_chart_is_valid_svg_with_ticks_labels_and_escaped_text():
    chart = svg.line_chart([svg.Series("run <1> & co", [0, 10, 20, 30], [100.0, 210.0, 216.0, 217.0]),
                            svg.Series("run 2", [0, 10, 20, 30], [90.0, 180.0, 190.0, 195.0])],
                           title="FPS <b>", x_label="step", y_label="images/s", y_from_zero=True,
                           hlines=[svg.HLine(216.96, "whole-job FPS")], standalone=True)
    root = _parse(chart)
    assert root.tag == NS + "svg"
    texts = [t.text for t in root.iter(NS + "text")]
    assert "FPS <b>" in texts and "run <1> & co" in texts      # escaped, round-trips
    assert {"step", "images/s", "whole-job FPS"} <= set(texts)
    assert {"0", "50", "100", "150", "200", "250"} <= set(texts)   # y ticks from zero
    assert {"0", "10", "20", "30"} <= set(texts)                     # x ticks
    polylines = list(root.iter(NS + "polyline"))
    assert len(polylines) == 2
    assert len(polylines[0].get("points").split()) == 4


def test_line_chart_copes_with_empty_flat_and_non_finite_series():
    empty = _parse(svg.line_chart([svg.Series("a", [], [])], title="t", x_label="x", y_label="y",
                                  standalone=True))
    assert "no data" in [t.text for t in empty.iter(NS + "text")]
    flat = _parse(svg.line_chart([svg.Series("a", [0, 1, 2], [5.0, 5.0, 5.0])], title="t",
                                 x_label="x", y_label="y", standalone=True))
    assert len(flat.find(f".//{NS}polyline").get("points").split()) == 3
    nan = _parse(svg.line_chart([svg.Series("a", [0, 1, 2, 3], [1.0, float("nan"), float("inf"), 2.0])],
                                title="t", x_label="x", y_label="y", standalone=True))
    assert len(nan.find(f".//{NS}polyline").get("points").split()) == 2


def test_long_series_are_thinned_but_keep_their_last_point():
    n = 10 * svg.MAX_POINTS + 3
    chart = svg.line_chart([svg.Series("a", list(range(n)), [float(i) for i in range(n)])],
                           title="t", x_label="x", y_label="y", standalone=True)
    points = _parse(chart).find(f".//{NS}polyline").get("points").split()
    assert len(points) <= svg.MAX_POINTS + 1
    first, last = points[0].split(","), points[-1].split(",")
    assert float(last[0]) > float(first[0]) and float(last[1]) < float(first[1])


def test_nice_ticks():
    assert svg.nice_ticks(0, 216.96) == [0, 50, 100, 150, 200, 250]
    assert svg.nice_ticks(0, 1) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ticks = svg.nice_ticks(5, 5)
    assert ticks[0] < 5 < ticks[-1]
    assert svg.format_tick(20000, 5000) == "20k" and svg.format_tick(0.4, 0.2) == "0.4"


def test_every_chart_in_the_page_parses(make_record, envs):
    records = [make_record("run-a", env=envs["bi_v100"]),
               make_record("run-b", env=envs["bi_v100"], cards=8, fps=1600.0)]
    html = render_module.render_html(build_report(records, generated=GENERATED))
    charts = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(charts) == 2 + 2 * 3   # overview throughput + ROC, then 3 per run
    for chart in charts:
        assert _parse(chart).find(".//polyline") is not None


# --- CSV, JSON, files -------------------------------------------------------------------

def test_csv_has_one_row_per_run_with_the_documented_columns(make_record, envs, tmp_path):
    records = [make_record("run-a", env=envs["bi_v100"], compute_fps=300.0),
               make_record("run-s", env=envs["cpu"], device="cpu", cards=2, fps=15.0,
                           data_kind="synthetic", started="2026-01-02T00:00:00+00:00"),
               make_record("run-f", env=envs["h100"], status="failed", fps=None, accuracy=None,
                           error="CUDA out of memory\nTried to allocate 2 GiB",
                           started="2026-01-03T00:00:00+00:00")]
    paths = render_reports(records, {}, tmp_path, formats=("csv",), generated=GENERATED)
    assert paths == [tmp_path / "results.csv"]
    text = paths[0].read_text(encoding="utf-8")
    header = text.splitlines()[0].split(",")
    assert header == csv_columns(records) == [
        "run_id", "model", "kind", "status", "data_kind", "data_name", "protocol", "gpu", "cards",
        "device", "fps", "fps_per_card", "compute_fps", "step_ms_p50", "step_ms_p90",
        "lfw_accuracy", "lfw_accuracy_std", "sdk", "release", "cuda", "driver", "torch",
        "git_commit", "git_dirty", "started", "finished", "duration_s", "error"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["run_id"] for r in rows] == ["run-a", "run-s", "run-f"]
    a, s, f = rows
    assert (a["gpu"], a["cards"], a["fps"], a["compute_fps"]) == ("Iluvatar BI-V100", "1", "216.96", "300.0")
    assert (a["lfw_accuracy"], a["lfw_accuracy_std"], a["sdk"], a["release"]) == (
        "0.989", "0.00642", "IXUCA SDK 3.1.0", "23.09")
    assert (s["data_kind"], s["gpu"], s["cards"], s["fps_per_card"]) == ("synthetic", "CPU", "2", "7.5")
    assert (f["status"], f["fps"], f["cuda"]) == ("failed", "", "12.4")
    assert f["error"] == "CUDA out of memory Tried to allocate 2 GiB"


def test_json_holds_records_and_rows_and_is_strict(make_record, envs, references, tmp_path):
    diverged = make_record("run-d", env=envs["bi_v100"], status="diverged", fps=None, accuracy=None)
    diverged["metrics"]["loss"] = float("nan")
    records = [make_record("run-a", env=envs["bi_v100"]), diverged]
    [path] = render_reports(records, references, tmp_path, formats=("json",), generated=GENERATED)

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants)
    assert [r["run_id"] for r in data["records"]] == ["run-a", "run-d"]
    assert data["records"][1]["metrics"]["loss"] is None
    assert "curves" not in data["records"][0] and data["records"][0]["env"]["sdk"] == "IXUCA SDK 3.1.0"
    model = data["models"][0]
    assert [(r["run_id"], r["reference"], r["gpu_cell"]) for r in model["main"]] == [
        ("run-a", False, "Iluvatar BI-V100 x1"), (None, True, "BI-V100 x1")]
    assert model["main"][0]["fps_ratio"] == pytest.approx(1.0)
    assert model["main"][0]["cells"] == {"LFW_Accuracy": "0.98900+-0.00642"}
    assert model["not_succeeded"][0]["run_id"] == "run-d"


def test_render_reports_writes_all_formats_atomically(make_record, envs, references, tmp_path,
                                                      monkeypatch):
    out = tmp_path / "reports"
    records = [make_record("run-a", env=envs["bi_v100"])]
    old_umask = os.umask(0o022)
    try:
        paths = render_reports(records, references, out, generated=GENERATED)
    finally:
        os.umask(old_umask)
    assert [p.name for p in paths] == ["results.md", "index.html", "results.json", "results.csv"]
    assert sorted(os.listdir(out)) == ["index.html", "results.csv", "results.json", "results.md"]
    assert {p.stat().st_mode & 0o777 for p in paths} == {0o644}  # readable, like any report
    before = {p.name: p.read_text(encoding="utf-8") for p in paths}

    def broken(report):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(render_module, "render_html", broken)
    with pytest.raises(RuntimeError):
        render_reports(records + [make_record("run-b", env=envs["h100"])], references, out,
                       generated=GENERATED)
    # nothing was written: not even the Markdown rendered before the crash
    assert {p.name: p.read_text(encoding="utf-8") for p in paths} == before
    assert sorted(os.listdir(out)) == ["index.html", "results.csv", "results.json", "results.md"]


def test_unknown_format_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown report format 'pdf'"):
        render_reports([], {}, tmp_path, formats=("md", "pdf"))
    assert not list(tmp_path.iterdir())


def test_no_records_gives_reports_that_say_so(tmp_path):
    paths = render_reports([], {}, tmp_path / "r", generated=GENERATED)
    assert "No runs recorded yet" in paths[0].read_text(encoding="utf-8")
    assert "No runs recorded yet" in paths[1].read_text(encoding="utf-8")
    assert json.loads(paths[2].read_text(encoding="utf-8"))["records"] == []
    assert paths[3].read_text(encoding="utf-8").count("\n") == 1


def test_records_with_missing_sections_still_render(tmp_path):
    from modelzoo.records import new_record

    started = new_record(run_id="run-new", kind="train", model="facenet", model_title="Facenet",
                         plugin={"name": "modelzoo-facenet", "version": "0.1.0"}, profile="demo",
                         config={}, overrides={}, cards=1, world_size=1, device="cuda", seed=0,
                         metric_columns=[], log="runs/run-new/train.log")
    odd = dict(started, run_id="run-odd", status="success", env=None,
               data={"name": "lfw", "kind": "real", "path": "/d", "images": 1, "identities": 1},
               metrics={"fps": 10.0, "lfw_accuracy": "n/a"},
               metric_columns=[{"key": "lfw_accuracy", "title": "LFW_Accuracy", "format": "{:.5f}"},
                               {"title": "no key"}])
    paths = render_reports([started, odd], {"facenet": {"gpu": "BI-V100", "cards": 1}},
                           tmp_path, generated=GENERATED)
    md = paths[0].read_text(encoding="utf-8")
    # a value its format cannot take is shown as it is; a column without a key is dropped
    assert "| Facenet             | GPU x1     | 10.00 | n/a          | -       | -       | run-odd   |" in md
    assert "| Facenet (reference) | BI-V100 x1 | -     | -            | -       | -       | reference |" in md
    assert "| run-new | GPU x1 | running | -    | -     |" in md
    html = paths[1].read_text(encoding="utf-8")
    assert html.count('class="badge synthetic"') == 0


def test_cpu_runs_get_the_cpu_environment_table_even_on_an_sdk_host(make_record, envs):
    env = dict(envs["cpu"], sdk="IXUCA SDK 3.1.0", release="23.09")
    md = _markdown([make_record("run-cpu", env=env, device="cpu", fps=15.0)])
    assert ("| CPU               | torch  | Python |\n"
            "|-------------------|--------|--------|\n"
            "| AMD Ryzen 7 7840U | 2.14.1 | 3.11.2 |") in md
    assert "IXUCA SDK |" not in md


def test_the_cpu_cell_names_the_vector_isa_that_ran(make_record, envs):
    # one CPU name covers VMs whose torch kernels ran AVX-512 or AVX2 (2.9x apart here)
    env = dict(envs["cpu"], cpu_capability="AVX2")
    md = _markdown([make_record("run-avx2", env=env, device="cpu", fps=152.0)])
    assert "| AMD Ryzen 7 7840U (AVX2) | 2.14.1 | 3.11.2 |" in md


def test_reference_note_is_shown_in_the_html(make_record, envs, references):
    references["facenet"][0]["note"] = "MobileNetV1 port <b>"
    html = render_module.render_html(build_report([make_record("run-a", env=envs["bi_v100"])],
                                                  references, generated=GENERATED))
    assert '<div class="note">MobileNetV1 port &lt;b&gt;</div>' in html
