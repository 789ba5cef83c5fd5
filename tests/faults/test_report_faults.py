"""Fault classes 13, 16, 17, 19: ``report`` skips each malformed record with one warning
line naming it and renders the rest; its CSV never runs a formula; rows are per model,
profile and card count; a missing declared metric is shown; a CPU run shows no card."""

from __future__ import annotations

import csv
import json

import pytest
from fault_helpers import TINY, assert_one_line_error, toy_record, write_raw_record, write_record

FORMULA_STARTS = ("=", "+", "-", "@")


def _report(ws, *args: str):
    result = ws.cli("report", "--output", "out", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return result


def _json(ws) -> dict:
    return json.loads((ws.root / "out" / "results.json").read_text())


def _csv_rows(ws) -> list[dict]:
    with open(ws.root / "out" / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_malformed_records_are_skipped_with_one_warning_line_each_and_the_rest_rendered(ws):
    good = toy_record("good")
    list_path = write_raw_record(ws.runs, "a-list", b"[1, 2]")
    latin1_path = write_raw_record(ws.runs, "not-utf8", json.dumps(toy_record("not-utf8")).encode()
                                   .replace(b"toy patterns", b"toy patt\xe9rns"))
    text_metrics = write_record(ws.runs, toy_record("metrics-text", metrics="x"))
    huge_format = toy_record("huge-format")
    huge_format["metric_columns"][0]["format"] = "{:>20000000}"
    write_record(ws.runs, huge_format)
    write_record(ws.runs, good)

    result = _report(ws)
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 4 and all(line.startswith("modelzoo: warning: ") for line in warnings), warnings
    for named in (str(list_path), str(latin1_path), str(text_metrics), "huge-format"):
        assert sum(named in line for line in warnings) == 1, (named, warnings)
    assert [r["run_id"] for r in _json(ws)["records"]] == ["good"]
    sizes = {p.name: p.stat().st_size for p in (ws.root / "out").iterdir()}
    assert max(sizes.values()) < 200_000, sizes  # the 20 MB format never reached a cell
    assert ws.files_outside_runs("out") == []


def test_csv_cells_that_would_run_as_formulas_are_neutralised(ws):
    hostile = toy_record("hostile", profile="=HYPERLINK(\"http://x\")", warnings=["-2+3 looks like a sum"],
                         error=None)
    hostile["data"]["name"] = "@SUM(A1)"
    hostile["env"]["cpu"] = "+cmd|' /C calc'!A0"
    hostile["metrics"]["step_ms_p50"] = -3.5  # a plain negative number stays a number
    write_record(ws.runs, hostile)
    _report(ws, "--format", "csv")
    (row,) = _csv_rows(ws)
    texts = [cell for cell in row.values() if cell]
    assert not [cell for cell in texts if cell.startswith(FORMULA_STARTS) and cell != "-3.5"], row
    assert row["profile"] == "'=HYPERLINK(\"http://x\")" and row["cpu"] == "'+cmd|' /C calc'!A0"
    assert row["data_name"] == "'@SUM(A1)" and row["warnings"] == "'-2+3 looks like a sum"
    assert row["step_ms_p50"] == "-3.5"


@pytest.mark.parametrize("formats", [",", " , ", "pdf"])
def test_a_report_format_list_naming_no_known_format_is_refused(ws, formats):
    write_record(ws.runs, toy_record("good"))
    result = ws.cli("report", "--format", formats)
    assert_one_line_error(result, 2, "--format")
    assert ws.files_outside_runs() == []


def test_report_rows_are_one_per_model_profile_and_card_count_the_newest_winning(ws):
    stamps = iter(f"2026-01-0{day}T00:00:00+00:00" for day in range(1, 10))
    rows = [("r1-old", "default", 1, 90.0), ("r2", "default", 2, 180.0), ("r3", "fast", 1, 95.0),
            ("r4-new", "default", 1, 100.0), ("r5", "fast", 2, 170.0)]
    for run_id, profile, cards, fps in rows:
        record = toy_record(run_id, profile=profile, cards=cards, world_size=cards, fps=fps,
                            started=next(stamps))
        record["data"]["kind"] = "real"
        write_record(ws.runs, record)
    _report(ws, "--format", "json")
    (section,) = _json(ws)["models"]
    shown = {(row["cells"]["Profile"], row["cells"]["GPU"]): row["run_ids"] for row in section["results"]}
    assert shown == {("default", "CPU x1"): ["r4-new"], ("default", "CPU x2"): ["r2"],
                     ("fast", "CPU x1"): ["r3"], ("fast", "CPU x2"): ["r5"]}
    assert section["older_runs_not_shown"] == 1


def test_a_run_missing_a_declared_metric_says_so_in_its_record_and_the_report(ws):
    result = ws.cli("run", "toy", *TINY, "--set", "data.skip_metric=true")
    assert result.returncode == 0, result.stderr[-2000:]
    record = ws.only_record()
    assert record["warnings"] == ["evaluation did not return metric 'accuracy'"]
    assert result.stderr.strip().splitlines()[-1].endswith("warning: evaluation did not return metric 'accuracy'")
    _report(ws, "--format", "md,json")
    rows = [row for table in _json(ws)["models"][0]["apart"] for row in table["rows"]
            if row["run_ids"] == [record["run_id"]]]
    assert rows and rows[0]["cells"]["Accuracy"] == "n/a"
    assert "evaluation did not return metric 'accuracy'" in (ws.root / "out" / "results.md").read_text()


def test_a_cpu_runs_csv_row_shows_no_card_whatever_cuda_torch_was_built_with(ws, finished_run):
    record = ws.adopt(finished_run)
    _report(ws, "--format", "csv")
    (row,) = _csv_rows(ws)
    assert (row["device"], row["gpu"], row["sdk"], row["driver"]) == ("cpu", "CPU", "", "")
    assert row["torch_cuda_build"] == (record["env"].get("cuda") or "")  # labelled as the build, apart
