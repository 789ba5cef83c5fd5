"""One cell's numbers and their meaning (modelzoo.catalogue.values), on the zoo's own cell forms."""

from __future__ import annotations

import pytest

from modelzoo.catalogue import values, versions


@pytest.mark.parametrize("cell, number, std, unit, note", [
    ("0.98900+-0.00642", 0.989, 0.00642, "", ""),
    ("0.9865±0.0061", 0.9865, 0.0061, "", ""),
    ("83.16%", 83.16, None, "%", ""),
    ("0.0495(checkpoint 81)", 0.0495, None, "", "checkpoint 81"),
    ("5.02 s/it", 5.02, None, "s/it", ""),
    ("1.5984 s / it", 1.5984, None, "s/it", ""),
    ("6490 samples/sec", 6490.0, None, "samples/sec", ""),
    ("2.653E-4", 2.653e-4, None, "", ""),
])
def test_a_bare_cell_keeps_its_spread_unit_and_note(cell, number, std, unit, note):
    value = values.bare(cell)
    assert (value.number, value.std, value.unit, value.note) == (number, std, unit, note)


def test_a_per_card_cell_is_the_figure_of_one_card():
    value = values.bare("128\\*8")
    assert (value.number, value.per_cards) == (128.0, 8)


@pytest.mark.parametrize("cell", ["0.886/0.860/0.753", "-", "True", "ResNet 34", ""])
def test_what_is_not_one_number_is_not_read_as_one(cell):
    assert values.bare(cell) is None


@pytest.mark.parametrize("cell, expected", [
    ("Acc@1=76.02,FPS=330,Time=4d3h，BatchSize=280",
     [("Acc@1", 76.02), ("FPS", 330.0), ("Time", 4 * 86400 + 3 * 3600), ("BatchSize", 280.0)]),
    ("Acc@1 76.644     fps 1049", [("Acc@1", 76.644), ("fps", 1049.0)]),
    ("Prec@1 76.216   fps:83.11", [("Prec@1", 76.216), ("fps", 83.11)]),
    ("Accuracy @1 = 0.5633 Accuracy @ 5 = 0.7964", [("Accuracy @1", 0.5633), ("Accuracy @ 5", 0.7964)]),
    ("'Top1-Acc': 0.4847, 'Top5-Acc': 0.7405", [("Top1-Acc", 0.4847), ("Top5-Acc", 0.7405)]),
    ("mIoU =80.42%", [("mIoU", 80.42)]),
    ("ips: 11.24631 samples/s", [("ips", 11.24631)]),
])
def test_labelled_cells_name_each_number(cell, expected):
    assert [(v.label, v.number) for v in values.labelled(cell)] == expected


@pytest.mark.parametrize("cell, expected", [
    ("BI-V100 x8", ("BI-V100", 8, None)), ("BI-V100 ×8", ("BI-V100", 8, None)),
    ("BI-v100x8", ("BI-V100", 8, None)), ("BI 100 × 8", ("BI-V100", 8, None)),
    ("BI-V150 x 16", ("BI-V150", 16, None)), ("BI-V150", ("BI-V150", None, None)),
    ("1x8", (None, 8, 1)), ("32x8", (None, 256, 32)), ("ResNet50", None),
])
def test_card_cells(cell, expected):
    assert values.card(cell) == expected


@pytest.mark.parametrize("label, meaning", [
    ("FPS", "throughput"), ("ips_per_device", "throughput"), ("train_samples_per_second", "throughput"),
    ("QPS", "throughput"), ("Performance", "throughput"), ("LFW_Accuracy", "metric"), ("Acc@1", "metric"),
    ("Time", "time"), ("BatchSize", "batch_size"), ("mAP", "metric"),
])
def test_labels_have_a_meaning(label, meaning):
    assert values.meaning(label) == meaning


def test_versions_compare_as_versions_not_strings():
    assert versions.key("4.10.0") > versions.key("4.3.0") and "4.10.0" < "4.3.0"
    assert versions.same("4.2", "4.2.0") and versions.newest(["4.3.0", "4.10.0", "dev-only"]) == "4.10.0"
    assert versions.key("25.03") > versions.key("24.12")
    assert versions.same("dev-only", "dev-only") and not versions.same("dev-only", "4.3.0")
