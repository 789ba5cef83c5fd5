"""The HTML view: escaping, a self-contained page, tables beside references, run details,
and the SVG charts (declared curves, scaling, power, accuracy against wall time)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from modelzoo.report import build_report, render_html, svg

GENERATED = "2026-01-04T00:00:00+00:00"
HOSTILE = "<script>alert(1)</script>"
NS = "{http://www.w3.org/2000/svg}"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _page(records, references=None) -> str:
    return render_html(build_report(records, references or {}, generated=GENERATED))


def _details(page: str, run_id: str) -> str:
    return page.split(f'<details class="run" id="run-{run_id}">', 1)[1].split("</details>", 1)[0]


def _chart_titles(block: str) -> list[str]:
    return re.findall(r"<svg[^>]*><title>(.*?)</title>", block)


def test_html_escapes_hostile_strings_everywhere(make_record, envs):
    env = dict(envs["h100"], gpu=f"GPU {HOSTILE}")  # reaches table cells and SVG legends
    records = [make_record("run-x", env=env, config={"train": {"note": HOSTILE}}, warnings=[HOSTILE]),
               make_record("run-y", env=envs["bi_v100"], protocol=HOSTILE),
               make_record("run-z", env=envs["bi_v100"], status="failed", error=HOSTILE, fps=None, accuracy=None),
               make_record("run-c", env=envs["bi_v100"], curve_specs=[{"name": "roc", "x": "fpr", "y": "tpr",
                                                                      "title": HOSTILE, "x_label": HOSTILE}])]
    page = _page(records)
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parser = _Tags()
    parser.feed(page)
    assert not [t for t, _ in parser.tags if t in ("script", "iframe", "object", "embed", "link")]
    for chart in re.findall(r"<svg.*?</svg>", page, re.S):
        ET.fromstring(chart)


def test_html_is_self_contained(make_record, envs, references):
    page = _page([make_record("run-a", env=envs["bi_v100"]),
                  make_record("run-b", env=envs["bi_v100"], cards=8, fps=1600.0)], references)
    parser = _Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        for name in ("src", "href", "xlink:href", "action"):
            assert not re.match(r"\s*(https?:)?//", attrs.get(name) or ""), (tag, name)
    assert "@import" not in page and "url(http" not in page and not re.search(r"https?://", page)
    ids = {attrs.get("id") for _, attrs in parser.tags}
    links = [attrs["href"][1:] for tag, attrs in parser.tags if tag == "a" and "href" in attrs]
    assert links and all(link in ids for link in links)  # every run link points at a run's <details>


def test_html_tables_show_measured_beside_reference(make_record, envs, references):
    references["facenet"][0]["note"] = "MobileNetV1 port <b>"
    page = _page([make_record("run-a", env=envs["bi_v100"], fps=108.48)], references)
    table = page.split('<table class="results">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>.*?</tr>", table, re.S)
    assert len(rows) == 3  # header, measured, reference
    assert "run-a" in rows[1] and ">0.50<" in rows[1] and ">108.48<" in rows[1]
    assert 'class="reference"' in rows[2] and ">216.96<" in rows[2] and "DeepSpark zoo README" in rows[2]
    assert '<div class="note">MobileNetV1 port &lt;b&gt;</div>' in rows[2]


def test_warnings_are_a_notes_cell_and_a_line_in_the_runs_details(make_lm):
    page = _page([make_lm("lm-1"), make_lm("lm-8", cards=8, perplexity=None,
                                           warnings=["evaluation did not return metric 'perplexity'"])])
    table = page.split('<table class="results">', 1)[1].split("</table>", 1)[0]
    assert "<th>Notes</th>" in table
    assert "<td class=\"notes\"><div>evaluation did not return metric &#39;perplexity&#39;</div></td>" in table
    assert ("<p class=\"warn\">Warning: evaluation did not return metric &#39;perplexity&#39;</p>"
            in _details(page, "lm-8"))


def test_run_details_carry_config_devices_data_and_throughput(make_record, envs):
    page = _page([make_record("run-a", env=envs["h100"], fps=2000.0, compute_fps=2100.0)])
    details = _details(page, "run-a")
    for text in ("FPS per card", "compute-only FPS", "410.2 ms", "455.9 ms", "train.batch_size", "optimizer.eps",
                 "d5de4fb (dirty)", "runs/run-a/train.log", "webface_182_44", "NVIDIA H100 80GB HBM3 x1",
                 "FPS (whole job, images/s)"):
        assert text in details, text
    assert _chart_titles(details) == ["Throughput over the run", "Training loss", "ROC (auc 0.9980)"]


def test_declared_curves_are_drawn_with_their_title_labels_and_caption(make_lm):
    spec = {"name": "calibration", "x": "confidence", "y": "accuracy", "title": "Calibration",
            "x_label": "predicted confidence", "y_label": "observed accuracy", "caption_metric": "perplexity"}
    record = make_lm("lm-1", curve_specs=[spec])
    record["curves"]["calibration"] = {"confidence": [0.1, 0.5, 0.9], "accuracy": [0.12, 0.48, 0.85]}
    record["curves"]["undeclared"] = {"t": [0, 1, 2], "value": [3.0, 2.0, 1.0]}
    page = _page([record])
    details = _details(page, "lm-1")
    assert _chart_titles(details) == ["Throughput over the run", "Training loss",
                                      "Calibration (Perplexity 12.34)", "undeclared"]
    chart = re.search(r"<svg[^>]*><title>Calibration \(Perplexity 12.34\)</title>.*?</svg>", details, re.S).group(0)
    texts = [t.text for t in ET.fromstring(chart).iter("text")]
    assert "predicted confidence" in texts and "observed accuracy" in texts
    overview = page.split('id="model-lm"', 1)[1].split('id="runs"', 1)[0]
    assert _chart_titles(overview) == ["TinyLM: throughput per step", "TinyLM: Calibration"]
    assert "tokens/s" in overview  # the throughput axis is the model's unit


def test_scaling_chart_plots_fps_per_card_count_against_the_ideal_line(make_record, envs):
    records = [make_record(f"c{n}", env=envs["bi_v100"], cards=n, fps=200.0 * n * (1 - 0.02 * (n - 1)))
               for n in (1, 2, 4, 8)]
    records.append(make_record("short-8", env=envs["bi_v100"], cards=8, fps=1700.0, profile="short"))
    page = _page(records)
    chart = next(c for c in re.findall(r"<svg.*?</svg>", page, re.S) if "FPS per card count" in c)
    root = ET.fromstring(chart)
    lines = root.findall(".//polyline")
    assert len(lines) == 2  # one profile has several card counts: measured + ideal; "short" has one
    measured, ideal = lines
    assert ideal.get("stroke-dasharray") == "6 4" and measured.get("stroke-dasharray") is None
    assert len(measured.get("points").split()) == 4 and len(root.findall(".//circle")) == 4
    legend = [t.text for t in root.iter("text")]
    assert "Iluvatar BI-V100 · zoo" in legend and "ideal: N x Iluvatar BI-V100 · zoo 1-card" in legend
    # the ideal line ends above the measured one: 8 x 200 against 8 x 200 x 0.86
    ideal_end = float(ideal.get("points").split()[-1].split(",")[1])
    measured_end = float(measured.get("points").split()[-1].split(",")[1])
    assert ideal_end < measured_end  # SVG y grows downwards


def test_power_and_accuracy_against_wall_time_with_the_target_line(make_resnet):
    record = make_resnet("amp-8", cards=8, amp=True, fps=4200,
                         resources={"power": {"avg_w": 130.0, "per_card": []}},
                         target={"metric": "acc1", "target": 75.9, "higher_is_better": True, "reached": True,
                                 "wall_s": 25200.0, "images": 1, "epoch": 40})
    record["curves"]["power"] = {"t": [0.0, 0.25, 0.5, 0.75], "watts": [120.0, 131.0, 133.0, 129.0]}
    record["curves"]["eval"] = [{"epoch": e, "wall_s": e * 630.0, "images": e, "acc1": 70 + e / 8}
                                for e in range(0, 50, 10)]
    details = _details(_page([record]), "amp-8")
    titles = _chart_titles(details)
    assert "Power over the timed window" in titles and "Acc@1 against wall time" in titles
    accuracy = re.search(r"<svg[^>]*><title>Acc@1 against wall time</title>.*?</svg>", details, re.S).group(0)
    root = ET.fromstring(accuracy)
    assert [t.text for t in root.iter("text") if t.text == "target 75.9"]
    assert root.find(".//line[@class='hline']") is not None
    assert "wall time (h)" in [t.text for t in root.iter("text")]  # 7 hours: shown in hours
    assert len(root.findall(".//circle")) == 5


def test_the_power_chart_draws_the_samplers_series(make_resnet):
    from modelzoo.measure.power import PowerReport

    # what a 2-card node's sampler leaves after a long window: 9,000 summed readings, downsampled
    trace = [(i * 0.25, 400.0 + (i % 40)) for i in range(9000)]
    record = make_resnet("amp-2", cards=2, amp=True, fps=1000,
                         resources={"power": {"source": "nvml", "avg_w": 210.0, "per_card": []}})
    record["curves"]["power"] = PowerReport(source="nvml", trace=trace, trace_devices=2).curve()
    assert len(record["curves"]["power"]["t"]) <= 2000
    details = _details(_page([record]), "amp-2")
    chart = re.search(r"<svg[^>]*><title>Power over the timed window</title>.*?</svg>", details, re.S).group(0)
    root = ET.fromstring(chart)
    (line,) = root.findall(".//polyline")
    xs = [float(point.split(",")[0]) for point in line.get("points").split()]
    assert 100 < len(xs) <= svg.MAX_POINTS + 1 and xs == sorted(xs)  # the chart may thin it further
    texts = [t.text for t in root.iter("text")]
    assert "power, sum of 2 devices" in texts and "seconds into the timed window" in texts
    watts = record["curves"]["power"]["watts"]
    assert f"mean {sum(watts) / len(watts):.0f} W" in texts


def test_every_chart_in_the_page_parses(make_record, envs):
    page = _page([make_record("run-a", env=envs["bi_v100"]),
                  make_record("run-b", env=envs["bi_v100"], cards=8, fps=1600.0)])
    charts = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(charts) == 3 + 2 * 3   # scaling, throughput, ROC overview; then 3 per run
    for chart in charts:
        assert ET.fromstring(chart).find(".//polyline") is not None


# --- SVG --------------------------------------------------------------------------------

def _parse(chart: str) -> ET.Element:
    return ET.fromstring(chart)


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
    assert len(polylines) == 2 and len(polylines[0].get("points").split()) == 4


def test_dashed_series_and_markers():
    root = _parse(svg.line_chart([svg.Series("measured", [1, 2, 4], [1.0, 1.9, 3.5], markers=True),
                                  svg.Series("ideal", [1, 2, 4], [1.0, 2.0, 4.0], dashed=True)],
                                 title="t", x_label="x", y_label="y", standalone=True))
    measured, ideal = root.iter(NS + "polyline")
    assert measured.get("stroke-dasharray") is None and ideal.get("stroke-dasharray") == "6 4"
    assert len(list(root.iter(NS + "circle"))) == 3
    legend_lines = [l for l in root.iter(NS + "line") if l.get("x2") == str(64 + 22)]
    assert [l.get("stroke-dasharray") for l in legend_lines] == [None, "6 4"]


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


def test_a_synthetic_run_gets_no_real_data_target_line_and_says_why(make_resnet, envs):
    record = make_resnet("demo", data_kind="synthetic", device="cpu", env=envs["cpu"], profile="demo",
                         target={"metric": "acc1", "target": 75.9, "higher_is_better": True, "reached": False})
    record["curves"]["eval"] = [{"epoch": e, "wall_s": e * 10.0, "acc1": 20 + e} for e in range(3)]
    accuracy = re.search(r"<svg[^>]*><title>Acc@1 against wall time</title>.*?</svg>",
                         _details(_page([record]), "demo"), re.S).group(0)
    root = ET.fromstring(accuracy)
    assert root.find(".//line[@class='hline']") is None
    texts = [t.text for t in root.iter("text")]
    assert "target 75.9" not in texts
    assert "synthetic data: the real-data target (75.9) is not drawn" in texts


def test_nested_record_values_read_as_rows_not_json(make_record, envs):
    record = make_record("nested", env=dict(envs["cpu"], resident_data={"resident": True, "where": "cpu RAM",
                                                                         "load_s": 0.19}),
                         device="cpu", data_kind="synthetic")
    record["data"]["evaluation"] = {"name": "synthetic LFW-style pairs (demo)", "kind": "synthetic", "pairs": 2000}
    record["config"]["optimizer"]["betas"] = [0.9, 0.999]
    record["config"]["schedule"] = {"milestones": {}}
    details = _details(_page([record]), "nested")
    for pair in ("<th>evaluation.name</th><td>synthetic LFW-style pairs (demo)</td>",
                 "<th>evaluation.pairs</th><td>2000</td>", "<th>resident_data.where</th><td>cpu RAM</td>",
                 "<th>optimizer.betas</th><td>0.9, 0.999</td>", "<th>schedule.milestones</th><td>none</td>"):
        assert pair in details, pair
    assert "{&#34;" not in details and '{"' not in details   # no raw JSON mapping in any cell


def test_memory_names_what_is_missing_instead_of_a_dash(make_record, envs):
    host = {"memory": {"kind": "host peak RSS", "per_card": [
        {"rank": 0, "allocated_gb": 0.9871, "reserved_gb": None, "kind": "host peak RSS", "device": "cpu",
         "reason": "no allocator reserve on the host"}]}}
    card = {"memory": {"kind": "cuda", "per_card": [{"rank": 0, "allocated_gb": 21.5, "reserved_gb": None,
                                                     "reason": "allocator stats unavailable"}]}}
    page = _page([make_record("cpu-run", device="cpu", env=envs["cpu"], resources=host),
                  make_record("card-run", env=envs["h100"], resources=card)])
    assert ("<th>memory rank 0</th><td>host peak RSS 0.99 GB (no allocator reserve on the host)</td>"
            in _details(page, "cpu-run"))
    assert ("<th>memory rank 0</th><td>allocated 21.50 GB, reserved not measured (allocator stats unavailable)</td>"
            in _details(page, "card-run"))
    assert "- GB" not in page


def test_charts_are_drawn_for_the_newest_runs_and_the_results_runs_only(make_record, envs):
    from modelzoo.report.html import CHARTED_RUNS

    real = make_record("real-old", env=envs["bi_v100"], started="2025-01-01T00:00:00+00:00")
    demos = [make_record(f"demo-{i:03d}", env=envs["cpu"], device="cpu", data_kind="synthetic",
                         started=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00") for i in range(CHARTED_RUNS + 1)]
    page = _page([real, *demos])
    assert _chart_titles(_details(page, f"demo-{CHARTED_RUNS:03d}"))         # the newest
    assert _chart_titles(_details(page, "real-old"))                          # oldest, but in the Results table
    oldest_demo = _details(page, "demo-000")
    assert _chart_titles(oldest_demo) == []
    assert "<code>modelzoo report --runs demo-000</code> draws this one's." in oldest_demo


def test_runs_past_the_detailed_ones_are_one_row_each_and_every_link_still_lands(make_record, envs):
    from modelzoo.report.html import DETAILED_RUNS

    real = make_record("real-old", env=envs["bi_v100"], started="2025-01-01T00:00:00+00:00")
    demos = [make_record(f"demo-{i:03d}", env=envs["cpu"], device="cpu", data_kind="synthetic", curves=False,
                         error=HOSTILE, started=f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00:00")
             for i in range(DETAILED_RUNS + 2)]
    page = _page([real, *demos])
    assert page.count('<details class="run"') == DETAILED_RUNS + 1           # the newest, and the Results run
    assert _details(page, "real-old") and _details(page, f"demo-{DETAILED_RUNS + 1:03d}")
    older = page.split('<table class="older-runs">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr id="run-(demo-\d+)">(.*?)</tr>', older, re.S)
    assert [r[0] for r in rows] == ["demo-001", "demo-000"]                  # newest first, one row each
    assert "CPU x1" in rows[0][1] and "<script>" not in page
    links = re.findall(r'href="#run-([^"]+)"', page)
    assert "demo-000" in links                                              # the synthetic-data table links it
    for run_id in links:                                                    # every run link has its anchor
        assert f'id="run-{run_id}"' in page
