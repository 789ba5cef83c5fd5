"""The report survives bad records, keeps implausible numbers out of the tables, writes
spreadsheet-safe CSV and strict JSON, and writes its files atomically."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from modelzoo.contract.api import UserError
from modelzoo.report import build_report, html, render_csv, render_markdown, render_reports
from modelzoo.report.cells import csv_cell
from modelzoo.report.writers import csv_columns
from modelzoo.store import records as records_module

GENERATED = "2026-01-04T00:00:00+00:00"


def _results(markdown: str) -> str:
    return markdown.split("### Results\n\n", 1)[1].split("\n\n", 1)[0]


def _after(markdown: str, heading: str) -> str:
    return markdown.split(f"### {heading}\n", 1)[1].split("\n###", 1)[0]


# --- malformed records ------------------------------------------------------------------

def _malformed(make_record) -> list:
    def broken(run_id, **fields):
        record = make_record(run_id)
        record.update(fields)
        return record

    return [
        [1, 2],
        broken("bad-metrics", metrics="x"),
        broken("bad-format", metric_columns=[{"key": "lfw_accuracy", "title": "A", "format": "{:>20000000}"}]),
        broken("bad-cards", cards="8"),
        broken("bad-env", env=["zoo01"]),
        broken("bad-curve", curve_specs=[{"name": "roc"}]),
        broken("bad-layout", result_table={"layout": "pivot"}),
        broken("bad-unit", throughput_unit=["images/s"]),
        broken("no-model", model=None),
        broken("bad-std", metric_columns=[{"key": "lfw_accuracy", "title": "A", "std_key": ["s"]}]),
        broken("bad-caption", curve_specs=[{"name": "r", "x": "a", "y": "b", "title": "t", "caption_metric": [1]}]),
        broken("bad-target", target={"metric": ["acc1"], "target": 1.0}),
    ]


def test_one_bad_record_is_skipped_with_one_line_and_the_rest_renders(make_record, envs, tmp_path):
    good = make_record("run-good", env=envs["bi_v100"])
    said = []
    paths = render_reports([*_malformed(make_record), good], {}, tmp_path, generated=GENERATED, warn=said.append)
    assert said == [
        "record 1 skipped: a record is a list, not a mapping",
        "record 2 skipped: run bad-metrics: metrics is str 'x', expected a mapping",
        "record 3 skipped: run bad-format: metric column rejected: metric format '{:>20000000}' is not "
        "allowed; use a number format such as '{:.5f}' or '{:.2f}'",
        "record 4 skipped: run bad-cards: cards is str '8', expected a positive integer",
        "record 5 skipped: run bad-env: env is list ['zoo01'], expected a mapping",
        "record 6 skipped: run bad-curve: a curve spec lacks name, x, y or title",
        "record 7 skipped: run bad-layout: result_table.layout str 'pivot' is not 'metrics' or 'configs'",
        "record 8 skipped: run bad-unit: throughput_unit is list ['images/s'], expected a string",
        "record 9 skipped: run no-model: model is NoneType None, expected a string",
        "record 10 skipped: run bad-std: metric column 'lfw_accuracy' has a title or std_key that is not a string",
        "record 11 skipped: run bad-caption: curve spec 'r' has a label or caption that is not a string",
        "record 12 skipped: run bad-target: target.metric is list ['acc1'], expected a string",
    ]
    md = paths[0].read_text(encoding="utf-8")
    assert "| run-good |" in _results(md)
    assert "## Skipped records\n\n12 records were left out of every table:\n\n- record 1 skipped:" in md
    assert all(len(path.read_text(encoding="utf-8")) < 200_000 for path in paths)  # no 20 MB cell
    page = paths[1].read_text(encoding="utf-8")
    assert "record 3 skipped: run bad-format" in page and "| run-good |" not in page
    assert [row["run_id"] for row in csv.DictReader(io.StringIO(paths[3].read_text()))] == ["run-good"]


def test_without_a_warn_callback_skips_are_python_warnings(make_record, tmp_path):
    with pytest.warns(UserWarning, match=r"record 1 skipped: a record is a list"):
        render_reports([[1, 2], make_record("ok")], {}, tmp_path, formats=("md",), generated=GENERATED)


def test_records_the_loader_skipped_are_listed_in_the_reports(make_record, tmp_path):
    runs = tmp_path / "runs"
    records_module.save(make_record("run-good"), runs)
    (runs / "binary").mkdir()
    (runs / "binary" / "record.json").write_bytes(b"\xff\xfe not utf-8")
    found, problems = records_module.load_all_with_problems(runs)
    said = []
    md, page = render_reports(found, {}, tmp_path / "out", formats=("md", "html"), generated=GENERATED,
                              skipped=problems, warn=said.append)
    assert said == []  # the loader's lines are the caller's to print; the report only lists them
    text = md.read_text(encoding="utf-8")
    assert "1 record was left out of every table:" in text and "binary/record.json is not UTF-8" in text
    assert "binary/record.json is not UTF-8" in page.read_text(encoding="utf-8")
    assert "| run-good |" in _results(text)


def test_records_with_missing_sections_still_render(tmp_path):
    started = records_module.new_record(
        run_id="run-new", kind="train", model="facenet", model_title="Facenet",
        plugin={"name": "modelzoo-facenet", "version": "0.1.0"}, profile="demo", config={}, overrides={},
        cards=1, world_size=1, device="cuda", seed=0, metric_columns=[], log="runs/run-new/train.log")
    # a record from before titles, units, curve specs, warnings and owners existed
    old = dict(started, run_id="run-old", status="success", env=None,
               data={"name": "lfw", "kind": "real", "path": "/d", "images": 1, "identities": 1},
               metrics={"fps": 10.0, "lfw_accuracy": 0.99,  # 10 samples in 1 s over 10 steps of 1
                        "timed_steps": 10, "timed_seconds": 1.0, "steps": 20, "images_seen": 20},
               metric_columns=[{"key": "lfw_accuracy", "format": "{:.5f}"}])
    for key in ("owner", "warnings", "throughput_unit", "curve_specs"):
        old.pop(key)
    paths = render_reports([started, old], {"facenet": {"gpu": "BI-V100", "cards": 1}}, tmp_path,
                           generated=GENERATED)
    md = paths[0].read_text(encoding="utf-8")
    assert "| Facenet             | GPU x1     | 10.00 | 0.99000      | demo    | -       | -       | run-old   |" in md
    assert "| Facenet (reference) | BI-V100 x1 | -     | -            | -       | -       | -       | reference |" in md
    assert "| GPU x1 | demo    | running | -    | -     | run-new |" in md
    assert paths[1].read_text(encoding="utf-8").count('class="badge synthetic"') == 0


# --- implausible values -----------------------------------------------------------------

@pytest.mark.parametrize("fps, accuracy, reason", [
    (float("nan"), (0.98, 0.01), "FPS is nan"),
    (float("inf"), (0.98, 0.01), "FPS is inf"),
    (0.0, (0.98, 0.01), "FPS is 0.0"),
    (-5.0, (0.98, 0.01), "FPS is -5.0"),
    (None, (0.98, 0.01), "no FPS recorded"),
    ("fast", (0.98, 0.01), "FPS is not a number ('fast')"),
    (200.0, (float("nan"), 0.01), "lfw_accuracy is nan"),
    (200.0, ("n/a", 0.01), "lfw_accuracy is not a number ('n/a')"),
])
def test_implausible_values_are_flagged_not_published(make_record, envs, references, fps, accuracy, reason):
    good = make_record("run-good", env=envs["bi_v100"], fps=210.0, started="2026-01-01T00:00:00+00:00")
    # newer and on the same row: its numbers must not replace the good run's
    odd = make_record("run-odd", env=envs["bi_v100"], fps=200.0, accuracy=accuracy, started="2026-01-02T00:00:00+00:00")
    odd["metrics"]["fps"] = fps
    if fps is None:
        del odd["metrics"]["fps"]
    md = render_markdown(build_report([good, odd], references, generated=GENERATED))
    assert "run-odd" not in _results(md) and "| run-good" in _results(md)
    row = next(line for line in _after(md, "Implausible values — not published").splitlines() if "run-odd" in line)
    assert row.split("|")[-3].strip() == reason


# --- CSV --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+cmd", "'+cmd"), ("-cmd", "'-cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("-3.5", "-3.5"), ("+2", "+2"), ("-1e-05", "-1e-05"), (-0.25, "-0.25"), ("-inf", "'-inf"),
    ("-2+3", "'-2+3"), ("plain", "plain"), (None, ""), (True, "True"),
])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(value, cell):
    assert csv_cell(value) == cell


def test_csv_neutralises_formulas_from_every_field_but_keeps_negative_numbers(make_record, envs):
    record = make_record("run-x", env=dict(envs["bi_v100"], gpu="=cmd|' /C calc'!A0"), profile="@evil",
                         protocol="+1+1", status="failed", error="-2+3 went wrong", accuracy=(-0.5, 0.01))
    rows = list(csv.DictReader(io.StringIO(render_csv(build_report([record], generated=GENERATED)))))
    assert (rows[0]["gpu"], rows[0]["profile"], rows[0]["protocol"], rows[0]["error"]) == (
        "'=cmd|' /C calc'!A0", "'@evil", "'+1+1", "'-2+3 went wrong")
    assert rows[0]["lfw_accuracy"] == "-0.5"


def test_csv_has_one_row_per_run_with_the_documented_columns(make_record, envs, tmp_path):
    records = [make_record("run-a", env=envs["bi_v100"], compute_fps=300.0),
               make_record("run-s", env=envs["cpu"], device="cpu", cards=2, fps=15.0,
                           data_kind="synthetic", started="2026-01-02T00:00:00+00:00"),
               make_record("run-f", env=envs["h100"], status="failed", fps=None, accuracy=None,
                           error="CUDA out of memory\nTried to allocate 2 GiB", started="2026-01-03T00:00:00+00:00",
                           warnings=["evaluation did not return metric 'lfw_accuracy'"])]
    [path] = render_reports(records, {}, tmp_path, formats=("csv",), generated=GENERATED)
    text = path.read_text(encoding="utf-8")
    report = build_report(records, generated=GENERATED)
    assert text.splitlines()[0].split(",") == csv_columns(report.runs) == [
        "run_id", "model", "kind", "status", "profile", "data_kind", "data_name", "protocol", "gpu", "cards",
        "device", "throughput_unit", "fps", "fps_per_card", "compute_fps", "step_ms_p50", "step_ms_p90",
        "lfw_accuracy", "lfw_accuracy_std", "warnings", "sdk", "release", "torch", "torch_cuda_build", "driver",
        "cpu", "git_commit", "git_dirty", "started", "finished", "duration_s", "error"]
    a, s, f = csv.DictReader(io.StringIO(text))
    assert (a["gpu"], a["cards"], a["fps"], a["compute_fps"], a["throughput_unit"]) == (
        "Iluvatar BI-V100", "1", "216.96", "300.0", "images/s")
    assert (a["lfw_accuracy"], a["sdk"], a["release"], a["profile"]) == ("0.989", "IXUCA SDK 3.1.0", "23.09", "zoo")
    # a CPU run: no card, no driver; CUDA only as what torch was built with
    assert (s["gpu"], s["fps_per_card"], s["driver"], s["torch_cuda_build"]) == ("CPU", "7.5", "", "13.0")
    assert (f["status"], f["fps"], f["error"]) == ("failed", "", "CUDA out of memory Tried to allocate 2 GiB")
    assert f["warnings"] == "evaluation did not return metric 'lfw_accuracy'"


# --- JSON -------------------------------------------------------------------------------

def test_json_holds_tables_and_records_and_is_strict(make_record, envs, references, tmp_path):
    diverged = make_record("run-d", env=envs["bi_v100"], status="diverged", fps=None, accuracy=None)
    diverged["metrics"]["loss"] = float("nan")
    nan_fps = make_record("run-n", env=envs["bi_v100"], cards=8, fps=float("nan"))
    [path] = render_reports([make_record("run-a", env=envs["bi_v100"]), diverged, nan_fps], references, tmp_path,
                            formats=("json",), generated=GENERATED)

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constants)
    assert data["report_schema_version"] == 2
    assert [r["run_id"] for r in data["records"]] == ["run-a", "run-d", "run-n"]
    assert data["records"][1]["metrics"]["loss"] is None and data["records"][2]["metrics"]["fps"] is None
    assert "curves" not in data["records"][0]
    model = data["models"][0]
    assert [(r["run_ids"], r["reference"], r["cells"]["GPU"]) for r in model["results"]] == [
        (["run-a"], False, "Iluvatar BI-V100 x1"), ([], True, "BI-V100 x1")]
    assert model["results"][0]["fps_ratio"] == pytest.approx(1.0)
    assert model["results"][0]["cells"]["LFW_Accuracy"] == "0.98900+-0.00642"
    assert {a["heading"]: [r["run_ids"] for r in a["rows"]] for a in model["apart"]} == {
        "Implausible values — not published": [["run-n"]], "Runs that did not succeed": [["run-d"]]}


# --- files ------------------------------------------------------------------------------

def test_render_reports_writes_all_formats_atomically(make_record, envs, references, tmp_path, monkeypatch):
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

    monkeypatch.setattr(html, "render_html", broken)
    with pytest.raises(RuntimeError):
        render_reports(records + [make_record("run-b", env=envs["h100"])], references, out, generated=GENERATED)
    # nothing was written: not even the Markdown rendered before the crash
    assert {p.name: p.read_text(encoding="utf-8") for p in paths} == before


def test_unknown_format_and_bad_releases_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown report format 'pdf'"):
        render_reports([], {}, tmp_path, formats=("md", "pdf"))
    with pytest.raises(UserError, match="two different releases"):
        render_reports([], {}, tmp_path, releases=["23.09"])
    assert not list(tmp_path.iterdir())


def test_no_records_gives_reports_that_say_so(tmp_path):
    paths = render_reports([], {}, tmp_path / "r", generated=GENERATED)
    assert "No runs recorded yet" in paths[0].read_text(encoding="utf-8")
    assert "No runs recorded yet" in paths[1].read_text(encoding="utf-8")
    assert json.loads(paths[2].read_text(encoding="utf-8"))["records"] == []
    assert paths[3].read_text(encoding="utf-8").count("\n") == 1


def test_the_report_modules_import_no_torch():
    modules = ["modelzoo.report", "modelzoo.report.render", "modelzoo.report.model", "modelzoo.report.runs",
               "modelzoo.report.writers", "modelzoo.report.html", "modelzoo.report.extended",
               "modelzoo.report.svg", "modelzoo.report.cells", "modelzoo.report.tables"]
    code = f"import sys, {', '.join(modules)}; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


ODD_VALUES = [None, -1, True, float("nan"), "x", [1, "a"], {"a": [1]}]


def _odd_records(make_resnet) -> list[tuple[str, dict]]:
    """A zoo-grade record with one field at a time replaced by a value of another type."""
    base = make_resnet("base", cards=8, amp=True, resources={"power": {"per_card": [{"avg_w": 1.0}]},
                                                             "memory": {"per_card": [{"reserved_gb": 1.0}]}},
                       target={"metric": "acc1", "target": 75.0, "reached": True, "wall_s": 10.0}, release="1")
    base["curves"]["eval"] = [{"wall_s": 1.0, "acc1": 70.0}]
    base["curves"]["power"] = {"t": [0, 1], "watts": [1.0, 2.0]}
    places = [(key, None) for key in base] + [
        (key, inner) for key in ("metrics", "env", "data", "config", "resources", "target", "result_table", "curves")
        for inner in base[key]]
    out = []
    for key, inner in places:
        for value in ODD_VALUES:
            record = json.loads(json.dumps(base))
            if inner is None:
                record[key] = value
            else:
                record[key][inner] = value
            out.append((f"{key}.{inner}={value!r}", record))
    return out


def test_no_field_of_the_wrong_type_breaks_any_writer(make_resnet, make_record):
    from modelzoo.report import render_json

    good = make_record("good")
    for where, record in _odd_records(make_resnet):
        report = build_report([record, good], generated=GENERATED, releases=["1", "2"])
        for writer in (render_markdown, html.render_html, render_json, render_csv):
            assert writer(report), where
        assert "good" in [r.run_id for r in report.runs], where
