"""Results tables read into reference rows (modelzoo.catalogue.results), on layouts written here
in the zoo's forms: what a column holds comes from its title and its cells."""

from __future__ import annotations

from modelzoo.catalogue.markdown import tables
from modelzoo.catalogue.results import read_table


def _read(text: str):
    return read_table(tables("## Model Results\n\n" + text)[0])


def test_a_gpus_column_of_nodes_times_cards():
    result = _read("| Model | GPUs | FPS | Loss |\n|---|---|---|---|\n| M | 1x8 | 100 | 1.5 |\n| M | 32x8 | 3000 | 1.4 |\n")
    assert [(r.gpu, r.cards, r.nodes, r.fps, r.metrics) for r in result.references] == [
        (None, 8, 1, 100.0, {"loss": 1.5}), (None, 256, 32, 3000.0, {"loss": 1.4})]


def test_the_extended_table_with_full_width_parentheses():
    result = _read("| Convergence criteria | Configuration (x denotes number of GPUs) | Performance | Accuracy | "
                   "Power（W） | Scalability | Memory utilization（G） | Stability |\n|---|---|---|---|---|---|---|---|\n"
                   "| top1 75.9% | SDK V2.2,bs:512,8x,AMP | 5221 | 76.43% | 128\\*8 | 0.97 | 29.1\\*8 | 1 |\n")
    (row,) = result.references
    assert (row.cards, row.batch_size, row.sdk, row.config, row.fps, row.criteria) == \
        (8, 512, "2.2", "AMP", 5221.0, "top1 75.9%")
    assert row.per_card == {"power_w": 128.0, "memory_gb": 29.1}
    assert row.metrics == {"accuracy": 76.43, "scalability": 0.97, "stability": 1.0}


def test_plus_minus_in_both_spellings_and_a_bare_card():
    result = _read("| Model | GPU | FPS | LFW_Accuracy |\n|---|---|---|---|\n"
                   "| A | BI-V150 | 12.5 | 0.99000+-0.00615 |\n| B | BI-V150 | 13.5 | 0.98±0.01 |\n")
    assert [(r.gpu, r.cards, r.metrics) for r in result.references] == [
        ("BI-V150", None, {"lfw_accuracy": 0.99, "lfw_accuracy_std": 0.00615}),
        ("BI-V150", None, {"lfw_accuracy": 0.98, "lfw_accuracy_std": 0.01})]


def test_what_is_not_understood_is_listed_never_dropped():
    result = _read("| Model | GPU | FPS | mAP |\n|---|---|---|---|\n| M | BI-V100 x8 | fast | 0.5 |\n"
                   "| M | BI-V100 x1 | - | - |\n| M | BI-V100 x4 |\n|   |   |   |   |\n")
    assert [(s.line, s.reason) for s in result.skipped] == [
        (8, "empty row"), (5, "'fast' under 'FPS' not understood"),
        (6, "no number with a known meaning in the row"), (7, "2 cells under 4 columns")]
    assert result.rows == 3 and result.parsed_rows == 1    # the first row still gave its mAP
