"""The HTML report in a real browser: headless Chromium loads it offline and renders it.

Chromium missing: the test fails under CI (``CI=true``; .ci/run installs it) and skips
with the reason elsewhere. ``MODELZOO_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from modelzoo.report import render_reports
from modelzoo.report.svg import PALETTE

GENERATED = "2026-01-04T00:00:00+00:00"


def _chromium() -> str:
    for name in (os.environ.get("MODELZOO_CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    reason = ("headless Chromium not found (install it: apt-get install -y chromium, "
              "or set MODELZOO_CHROMIUM)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
               # any network lookup would fail: the page must not need one
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


RESOURCES = {"memory": {"kind": "cuda", "per_card": [{"rank": i, "allocated_gb": 21.0, "reserved_gb": 29.1}
                                                    for i in range(8)]},
             "power": {"source": "nvml", "avg_w": 1024.0, "peak_w": 1400.0, "energy_j": 2.9e7,
                       "per_card": [{"index": i, "avg_w": 128.0, "peak_w": 175.0, "energy_j": 3.6e6, "samples": 60}
                                    for i in range(8)]}}


@pytest.fixture
def report_html(make_record, make_resnet, envs, references, tmp_path) -> Path:
    amp8 = make_resnet("rn-amp-8", cards=8, amp=True, acc1=76.43, fps=4200, batch_size=480,
                       duration_s=8 * 3600, resources=RESOURCES,
                       target={"metric": "acc1", "target": 75.9, "higher_is_better": True, "reached": True,
                               "wall_s": 7 * 3600, "images": 10**8, "epoch": 40})
    amp8["metrics"]["fps_stability"] = {"n": 5, "mean": 4200.0, "std": 12.6, "min": 4181.0, "max": 4219.0,
                                        "cv": 0.003}
    amp8["curves"]["power"] = {"t": list(range(60)), "watts": [1000 + (i % 7) * 10 for i in range(60)]}
    amp8["curves"]["eval"] = [{"epoch": e, "wall_s": e * 630.0, "images": e * 10**6, "acc1": 76.5 - 60 / (e + 1)}
                              for e in range(0, 45, 5)]
    records = [
        make_record("run-c1", env=envs["bi_v100"], fps=210.5),
        make_record("run-c8", env=envs["bi_v100"], cards=8, fps=1580.0),
        make_record("run-synth", env=envs["cpu"], device="cpu", cards=2, fps=15.0,
                    data_kind="synthetic"),
        make_record("run-bad", env=envs["bi_v100"], status="failed", fps=None, accuracy=None,
                    error="RuntimeError: <NCCL> timeout"),
        make_resnet("rn-amp-1", amp=True, acc1=75.56, fps=550, batch_size=300),
        amp8,
    ]
    [path] = render_reports(records, references, tmp_path / "reports", formats=("html",),
                            generated=GENERATED)
    return path


def _table_text(dom: str, cls: str) -> list[list[str]]:
    block = dom.split(f'<table class="{cls}">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", block, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows[1:]]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in row] for row in cells]


def test_chromium_renders_tables_and_charts_offline(report_html, tmp_path):
    binary = _chromium()
    dom = _run_chromium(binary, tmp_path / "profile-dom", "--dump-dom",
                        report_html.as_uri()).stdout

    assert "<title>Model zoo results</title>" in dom
    facenet = dom.split('id="model-facenet"', 1)[1].split("</section>", 1)[0]
    text = _table_text(facenet, "results")
    assert [row[1] for row in text] == ["Iluvatar BI-V100 x1", "BI-V100 x1", "Iluvatar BI-V100 x8"]
    assert text[0][2:] == ["210.50", "0.98900+-0.00642", "zoo", "0.97", "-", "run-c1"]
    assert text[1][0] == "Facenet (reference)"
    assert text[2][6:] == ["93.8%", "run-c8"]
    assert "run-synth" not in str(text) and "run-bad" not in str(text)

    resnet = dom.split('id="model-resnet50"', 1)[1].split("</section>", 1)[0]
    assert _table_text(resnet, "results")[2] == [
        "ResNet50", "BI-V100 x8", "-", "Acc@1=76.43,FPS=4200,Time=8h,BatchSize=480", "zoo", "rn-amp-8"]
    assert _table_text(resnet, "extended")[1] == [
        "Acc@1 >= 75.90 (reached in 7h)", "IXUCA SDK 2.2.0,bs:480,8x,AMP+NHWC", "4200", "76.43", "128*8",
        "0.95", "29.1*8", "CV 0.3% (n=5)", "BI-V100", "zoo", "rn-amp-8"]
    # FPS per card count: measured points joined, the ideal N x FPS(1) line dashed beside them
    assert "ResNet50: FPS per card count" in resnet and 'stroke-dasharray="6 4"' in resnet
    amp8 = dom.split('id="run-rn-amp-8"', 1)[1].split("</details>", 1)[0]
    assert "Power over the timed window" in amp8 and "Acc@1 against wall time" in amp8
    assert "target 75.9" in amp8

    assert dom.count("<svg") >= 3 + 2 + 3 * 3 and dom.count("<polyline") >= 3 + 2 + 3 * 3
    assert 'class="badge synthetic"' in dom
    assert "RuntimeError: &lt;NCCL&gt; timeout" in dom  # escaped text, parsed as text
    # nothing fetched from anywhere: no scripts, no stylesheets, no remote src/href
    assert "<script" not in dom and "<link" not in dom
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", dom)


def test_chromium_screenshot_shows_the_plotted_series(report_html, tmp_path):
    import numpy as np
    from PIL import Image

    binary = _chromium()
    shot = tmp_path / "report.png"
    _run_chromium(binary, tmp_path / "profile-shot", "--window-size=1280,2400",
                  f"--screenshot={shot}", report_html.as_uri())
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    pixels = np.asarray(image, dtype=np.int16)

    def near(color: str) -> int:
        target = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
        return int((np.abs(pixels - target).sum(axis=-1) < 40).sum())

    # the overview charts overlay the 1-card (first colour) and 8-card (second colour) runs
    assert near(PALETTE[0]) > 500
    assert near(PALETTE[1]) > 500
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 50  # a rendered page, not a blank


def test_chromium_renders_the_release_history_charts_and_the_regressions(history_records, tmp_path):
    binary = _chromium()
    [page] = render_reports(history_records, {}, tmp_path / "reports", formats=("html",), generated=GENERATED)
    dom = _run_chromium(binary, tmp_path / "profile-history", "--dump-dom", page.as_uri()).stdout
    history = dom.split('<section id="history">', 1)[1].split("</section>", 1)[0]
    # one chart per cell, the releases on the x axis; FPS and the metric, a line with a dot per release each
    assert history.count("<svg") == 2 and history.count("<polyline") == 4
    assert history.count("FPS (100 % = ") == 4 and history.count("LFW_Accuracy (100 % = ") == 4  # legend + tooltip
    assert all(history.count(f">{release}</text>") == 2 for release in ("24.01", "24.04", "24.08"))
    assert _table_text(history, "history-cells") == [
        ["facenet/zoo Iluvatar BI-V100 x1", "8", "162.62", "2"], ["facenet/zoo Iluvatar BI-V100 x8", "8", "1600.00", "0"]]
    regressions = dom.split('<section id="regressions">', 1)[1].split("</section>", 1)[0]
    rows = _table_text(regressions, "regressions")
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("facenet/zoo Iluvatar BI-V100 x1", "FPS", "regression", "24.04"),
        ("facenet/zoo Iluvatar BI-V100 x1", "FPS", "regression", "24.07")]
    assert all(r[6].startswith("-12.") for r in rows)
    # the two charts alone on a page, as the browser paints them: FPS (first colour) and the metric (second)
    import numpy as np
    from PIL import Image

    charts = re.findall(r"<svg.*?</svg>", page.read_text().split('<section id="history">', 1)[1], re.S)[:2]
    alone = tmp_path / "charts.html"
    alone.write_text("<!doctype html><html><body>" + "".join(charts) + "</body></html>")
    shot = tmp_path / "history.png"
    _run_chromium(binary, tmp_path / "profile-history-shot", "--window-size=1000,700", f"--screenshot={shot}",
                  alone.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    for color in PALETTE[:2]:
        target = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
        assert int((np.abs(pixels - target).sum(axis=-1) < 40).sum()) > 300, color
