"""The report's release history: a chart per cell across releases and the Regressions section,
from the release runs among the records (step detection over each cell's whole history)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from modelzoo.report import render_reports
from modelzoo.report.history import release_history

RELEASES = ["24.01", "24.02", "24.03", "24.04", "24.05", "24.06", "24.07", "24.08"]


def test_each_regression_is_listed_with_the_release_where_it_began(history_records):
    view = release_history(history_records)
    assert view.releases == RELEASES
    fps = [c for c in view.changes if c.quantity == "FPS"]
    assert [(c.cell, c.direction, c.kind, c.began) for c in fps] == [
        ("facenet/zoo Iluvatar BI-V100 x1", "regression", "step", "24.04"),
        ("facenet/zoo Iluvatar BI-V100 x1", "regression", "step", "24.07")]
    assert all(c.size.startswith("-12.") and float(c.significance.split()[0]) >= 4 for c in fps)
    assert [(c.cell, c.releases, c.changes) for c in view.cells] == [
        ("facenet/zoo Iluvatar BI-V100 x1", 8, 2), ("facenet/zoo Iluvatar BI-V100 x8", 8, 0)]
    assert len(view.charts) == 2


def test_the_html_has_a_chart_per_cell_and_the_regressions_table(history_records, tmp_path):
    [path] = render_reports(history_records, {}, tmp_path, formats=("html",))
    page = path.read_text()
    history = page.split('<section id="history">', 1)[1].split("</section>", 1)[0]
    charts = re.findall(r"<svg.*?</svg>", history, re.S)
    assert len(charts) == 2
    for chart in charts:
        ET.fromstring(chart)  # well-formed
        assert all(f">{release}<" in chart for release in RELEASES)  # releases on the x axis
    regressions = page.split('<section id="regressions">', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr><td>(.*?)</tr>", regressions, re.S)
    assert len(rows) == 2 and all("regression" in row and "BI-V100 x1" in row for row in rows)
    assert "24.04" in rows[0] and "24.07" in rows[1]


def test_a_single_release_has_no_history_section(history_records, tmp_path):
    one = [r for r in history_records if r.get("release") in (None, "24.01")]
    assert release_history(one) is None
    [path] = render_reports(one, {}, tmp_path, formats=("html",))
    assert 'id="regressions"' not in path.read_text()


def test_the_markdown_lists_the_regressions_escaped(history_records, tmp_path):
    for record in history_records:  # a profile name with a pipe and a tag: one cell, no markup
        if record.get("zoo_cell"):
            record["profile"] = record["zoo_cell"]["profile"] = "zoo|<b>x</b>"
    [path] = render_reports(history_records, {}, tmp_path, formats=("md",))
    text = path.read_text()
    assert "## Release history" in text and "2 cells" in text and "2 regressions, 0 improvements" in text
    regressions = text.split("### Regressions", 1)[1]
    rows = [line for line in regressions.splitlines() if line.startswith("| facenet/")]
    assert len(rows) == 2
    for row, began in zip(rows, ("24.04", "24.07")):
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 9  # the escaped pipe did not split a cell
        assert cells[0] == r"facenet/zoo\|&lt;b>x&lt;/b> Iluvatar BI-V100 x1"
        assert cells[2:5] == ["regression", "step", began] and cells[6].startswith("-12.")


def test_the_markdown_has_no_history_under_two_releases(history_records, tmp_path):
    one = [r for r in history_records if r.get("release") in (None, "24.01")]
    [path] = render_reports(one, {}, tmp_path, formats=("md",))
    assert "## Release history" not in path.read_text()


def test_the_history_judges_runs_by_the_installed_columns_not_the_records(history_records):
    from modelzoo.contract.api import MetricColumn, ModelSpec, ResultTable

    columns = (MetricColumn(key="lfw_accuracy", title="LFW_Accuracy", lowest=0.0, highest=1.0),)
    spec = ModelSpec(name="facenet", description="FaceNet", metric_columns=columns, profiles={"zoo": {}},
                     default_profile="zoo", display_name="FaceNet", table=ResultTable())
    for record in history_records:
        if record["run_id"].startswith("24.05-c8-"):  # every run of one cell in one release: impossible accuracy
            record["metrics"]["lfw_accuracy"] = 2.5
    by_records = release_history(history_records)
    by_plugin = release_history(history_records, {"facenet": spec})
    assert [(c.cell, c.releases) for c in by_records.cells][1] == ("facenet/zoo Iluvatar BI-V100 x8", 8)
    assert [(c.cell, c.releases) for c in by_plugin.cells][1] == ("facenet/zoo Iluvatar BI-V100 x8", 7)
