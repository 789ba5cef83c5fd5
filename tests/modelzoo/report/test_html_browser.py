"""The HTML report in a real browser: headless Chromium loads it offline and renders it.

Chromium missing: the test fails under CI (``CI=true``; .ci/run installs it) and skips
with the reason elsewhere. ``MODELZOO_CHROMIUM`` names another binary.
"""

from __future__ import annotations

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


@pytest.fixture
def report_html(make_record, envs, references, tmp_path) -> Path:
    records = [
        make_record("run-c1", env=envs["bi_v100"], fps=210.5),
        make_record("run-c8", env=envs["bi_v100"], cards=8, fps=1580.0),
        make_record("run-synth", env=envs["cpu"], device="cpu", cards=2, fps=15.0,
                    data_kind="synthetic"),
        make_record("run-bad", env=envs["bi_v100"], status="failed", fps=None, accuracy=None,
                    error="RuntimeError: <NCCL> timeout"),
    ]
    [path] = render_reports(records, references, tmp_path / "reports", formats=("html",),
                            generated=GENERATED)
    return path


def test_chromium_renders_tables_and_charts_offline(report_html, tmp_path):
    binary = _chromium()
    dom = _run_chromium(binary, tmp_path / "profile-dom", "--dump-dom",
                        report_html.as_uri()).stdout

    assert "<title>Model zoo results</title>" in dom
    results = dom.split('<table class="results">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", results, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows[1:]]
    text = [[re.sub(r"<[^>]+>", "", c).strip() for c in row] for row in cells]
    assert [row[1] for row in text] == ["Iluvatar BI-V100 x1", "BI-V100 x1", "Iluvatar BI-V100 x8"]
    assert text[0][2:] == ["210.50", "0.98900+-0.00642", "0.97", "-", "run-c1"]
    assert text[1][0].startswith("Facenet") and "reference" in text[1][0]
    assert text[2][5:] == ["93.8%", "run-c8"]
    assert "run-synth" not in results and "run-bad" not in results

    assert dom.count("<svg") >= 2 + 3 * 3 and dom.count("<polyline") >= 2 + 3 * 3
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
    _run_chromium(binary, tmp_path / "profile-shot", "--window-size=1280,1800",
                  f"--screenshot={shot}", report_html.as_uri())
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 1800)
    pixels = np.asarray(image, dtype=np.int16)

    def near(color: str) -> int:
        target = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
        return int((np.abs(pixels - target).sum(axis=-1) < 40).sum())

    # the overview charts overlay the 1-card (first colour) and 8-card (second colour) runs
    assert near(PALETTE[0]) > 500
    assert near(PALETTE[1]) > 500
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 50  # a rendered page, not a blank
