"""The zoo's extended table (resources, repeats, target) and the release-to-release table."""

from __future__ import annotations

import pytest

from modelzoo.contract.api import UserError
from modelzoo.report import build_report, render_html, render_markdown

GENERATED = "2026-01-04T00:00:00+00:00"


def _table_after(markdown: str, heading: str) -> list[str]:
    block = markdown.split(f"### {heading}\n", 1)[1].split("\n###", 1)[0]
    return [line for line in block.splitlines() if line.startswith("|")]


def _resources(cards: int, watts: float = 128.0, reserved: float | None = 29.1) -> dict:
    return {"memory": {"kind": "cuda allocator peak",
                       "per_card": [{"rank": i, "allocated_gb": 21.0, "reserved_gb": reserved} for i in range(cards)]},
            "power": {"source": "ixsmi", "avg_w": watts, "peak_w": 190.0, "energy_j": 1.1e7,
                      "j_per_1000_images": 120.0, "seconds": 600.0, "reason": None,
                      "per_card": [{"index": i, "avg_w": watts + (1 if i % 2 else -1), "peak_w": 190.0,
                                    "energy_j": 1.4e6, "samples": 2400} for i in range(cards)]}}


TARGET = {"metric": "acc1", "target": 75.9, "higher_is_better": True, "reached": True, "wall_s": 7 * 3600 + 50 * 60,
          "images": 9 * 10**7, "epoch": 71}
STABLE = {"n": 5, "mean": 5221.0, "std": 5.2, "min": 5213.0, "max": 5228.0, "cv": 0.001, "reason": None}


def _resnet_zoo_runs(make_resnet) -> list[dict]:
    amp1 = make_resnet("amp-1", amp=True, acc1=75.56, fps=672.0, batch_size=512)
    amp8 = make_resnet("amp-8", cards=8, amp=True, acc1=76.43, fps=5221.0, batch_size=512, duration_s=8 * 3600,
                       resources=_resources(8), target=TARGET)
    amp8["metrics"]["fps_stability"] = dict(STABLE)
    return [amp1, amp8]


def test_extended_table_in_the_zoo_column_order_built_from_records(make_resnet):
    md = render_markdown(build_report(_resnet_zoo_runs(make_resnet), generated=GENERATED))
    table = _table_after(md, "Zoo extended table")
    assert [c.strip() for c in table[0].split("|")[1:-1]] == [
        "Convergence criteria", "Configuration", "Performance", "Accuracy", "Power(W)", "Scalability",
        "Memory utilization(G)", "Stability", "GPU", "Profile", "Run"]
    # the README's row: top1 75.9% | SDK V2.2,bs:512,8x,AMP | 5221 | 76.43% | 128*8 | 0.97 | 29.1*8 | 1
    assert table[3] == ("| Acc@1 >= 75.90 (reached in 7h50m) | IXUCA SDK 2.2.0,bs:512,8x,AMP+NHWC | 5221        "
                        "| 76.43    | 128*8             | 0.97        | 29.1*8                | CV 0.1% (n=5)         "
                        "| BI-V100 | zoo     | amp-8 |")
    # measurements the 1-card record lacks are said to be missing, never 0
    assert table[2] == ("| n/a: no target set                | IXUCA SDK 2.2.0,bs:512,1x,AMP+NHWC | 672         "
                        "| 75.56    | n/a: not measured | n/a: 1 card | n/a: not measured     | n/a: one timed window "
                        "| BI-V100 | zoo     | amp-1 |")


def test_the_header_note_says_what_stability_measures(make_resnet):
    md = render_markdown(build_report(_resnet_zoo_runs(make_resnet), generated=GENERATED))
    note = md.split("### Zoo extended table\n\n", 1)[1].split("\n\n", 1)[0]
    assert ("Stability: coefficient of variation (std / mean) of FPS over the N timed windows repeated within "
            "one job (--repeat N)") in note
    assert "The zoo's READMEs write 1 there without saying what it measures." in note


def test_missing_measurements_carry_the_records_reason(make_lm):
    record = make_lm("lm-8", cards=8, perplexity=None, warnings=["evaluation did not return metric 'perplexity'"],
                     resources={"power": {"source": None, "per_card": [], "avg_w": None,
                                          "reason": "no NVML: pynvml not installed"},
                                "memory": {"kind": "host peak RSS", "per_card": [
                                    {"rank": 0, "allocated_gb": 3.25, "reserved_gb": None}]}},
                     target={"metric": "perplexity", "target": 10.0, "higher_is_better": False, "reached": False,
                             "wall_s": None, "images": None, "epoch": None, "best": 12.345})
    record["metrics"]["fps_stability"] = {"n": 1, "mean": 5.0, "std": None, "min": 5.0, "max": 5.0, "cv": None,
                                          "reason": "one repeat: no spread to measure"}
    [row] = _table_after(render_markdown(build_report([record], generated=GENERATED)), "Zoo extended table")[2:]
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[:8] == [
        "Perplexity <= 10.00 (not reached; best 12.35)", "CUDA 12.4,bs:90,8x,FP32", "51234",
        "n/a: evaluation did not return metric 'perplexity'", "n/a: no NVML: pynvml not installed",
        "n/a: no 1-card run of this profile", "3.2*1 (host peak RSS)", "n/a: one repeat: no spread to measure"]
    assert not any(cell in ("0", "0.0", "0*8") for cell in cells)


def test_a_cpu_run_configuration_names_the_cpu_isa_not_cuda(make_record, envs):
    env = dict(envs["cpu"], cpu_capability="AVX2")
    record = make_record("cpu-2", env=env, device="cpu", cards=2, fps=30.0, resources=_resources(0),
                         config={"train": {"batch_size": 64, "amp": "bf16", "channels_last": True}})
    [row] = _table_after(render_markdown(build_report([record], generated=GENERATED)), "Zoo extended table")[2:]
    assert "| CPU AVX2,bs:64,2x,AMP bf16+NHWC |" in row and "CUDA" not in row


def test_no_extended_table_without_zoo_measurements(make_record, envs):
    md = render_markdown(build_report([make_record("run-a", env=envs["bi_v100"])], generated=GENERATED))
    assert "Zoo extended table" not in md


def test_extended_table_in_the_html(make_resnet):
    page = render_html(build_report(_resnet_zoo_runs(make_resnet), generated=GENERATED))
    block = page.split('<table class="extended">', 1)[1].split("</table>", 1)[0]
    assert "<th>Memory utilization(G)</th>" in block
    assert "<td>Acc@1 &gt;= 75.90 (reached in 7h50m)</td>" in block and "<td>29.1*8</td>" in block


# --- release to release -----------------------------------------------------------------

def _release_runs(make_record, make_resnet, envs) -> list[dict]:
    env = dict(envs["bi_v100"], gpu="BI-V100")
    return [make_record("a1", env=env, release="23.09", fps=200.0, accuracy=(0.985, 0.006)),
            make_record("a8", env=env, release="23.09", cards=8, fps=1500.0),
            make_record("b1", env=env, release="24.03", fps=220.0, accuracy=(0.989, 0.005),
                        started="2026-01-02T00:00:00+00:00"),
            # env.release is the fallback for records without the release field
            make_record("b1-short", env=dict(env, release="24.03"), fps=230.0, profile="short",
                        started="2026-01-02T00:00:00+00:00"),
            make_record("c1", env=env, release="24.09", fps=999.0),
            make_resnet("ra", release="23.09"), make_resnet("rb", release="24.03", fps=350, acc1=76.2)]


def test_two_releases_side_by_side_with_changes(make_record, make_resnet, envs):
    report = build_report(_release_runs(make_record, make_resnet, envs), generated=GENERATED,
                          releases=["23.09", "24.03"])
    md = render_markdown(report)
    facenet = md.split("\n## Facenet\n", 1)[1].split("\n## ", 1)[0]
    assert _table_after(facenet, "Release 23.09 vs 24.03") == [
        "| Model   | GPU        | Profile | FPS 23.09 | FPS 24.03 | FPS change        | LFW_Accuracy 23.09 | LFW_Accuracy 24.03 | LFW_Accuracy change | Run      |",
        "|---------|------------|---------|-----------|-----------|-------------------|--------------------|--------------------|---------------------|----------|",
        "| Facenet | BI-V100 x1 | short   | -         | 230       | n/a: no 23.09 run | -                  | 0.98900+-0.00642   | n/a: no 23.09 run   | b1-short |",
        "| Facenet | BI-V100 x1 | zoo     | 200       | 220       | +10.0%            | 0.98500+-0.00600   | 0.98900+-0.00500   | +0.00400            | a1, b1   |",
        "| Facenet | BI-V100 x8 | zoo     | 1500      | -         | n/a: no 24.03 run | 0.98900+-0.00642   | -                  | n/a: no 24.03 run   | a8       |",
    ]
    resnet = md.split("\n## ResNet50\n", 1)[1]
    assert _table_after(resnet, "Release 23.09 vs 24.03")[2] == (
        "| ResNet50 | BI-V100 x1 | zoo     | FP32   | 330       | 350       | +6.1%      | 76.02       | 76.20       "
        "| +0.18        | 92.90       | 92.90       | +0.00        | ra, rb |")
    assert "c1" not in md.split("### Release", 1)[1].split("###", 1)[0]  # another release
    page = render_html(report)
    assert 'id="releases-facenet">Release 23.09 vs 24.03</h3>' in page and "<td>+10.0%</td>" in page


def test_a_release_comparison_needs_two_different_releases(make_record):
    for releases in (["23.09"], ["23.09", "23.09"], ["a", "b", "c"], ["23.09", " "]):
        with pytest.raises(UserError, match="two different releases"):
            build_report([make_record("a")], releases=releases)


def test_releases_without_runs_say_so(make_record, envs):
    md = render_markdown(build_report([make_record("a", env=envs["bi_v100"])], generated=GENERATED,
                                      releases=["1.0", "2.0"]))
    assert "### Release 1.0 vs 2.0\n\nNo main-table run of release 1.0 or 2.0.\n" in md
