"""Write-back into copies of the zoo's real READMEs: each keeps its own layout, a README with
nothing to change stays byte-identical, and a new BI-V150 x8 row changes only that row (and
reads back, through the importer, as the numbers written)."""

from __future__ import annotations

import difflib

import pytest

from modelzoo.catalogue.markdown import tables
from modelzoo.catalogue.results import read_table
from modelzoo.catalogue.writeback import Measured, main_table, update_environment, update_results

# README, its card, a measurement in the README's own terms (metrics keyed as a record would key them)
LAYOUTS = {
    "facenet-tf": ("models/cv/face_recognition/facenet/tensorflow/README.md", "BI-V100",
                   dict(fps=2401.5, metrics={"lfw_accuracy": 0.99012, "lfw_accuracy_std": 0.00431})),
    "facenet-pytorch": ("models/cv/face_recognition/facenet/pytorch/README.md", "BI-V100",
                        dict(fps=1999.25, metrics={"lfw_accuracy": 0.98, "lfw_accuracy_std": 0.006})),
    "arcface": ("models/cv/face_recognition/arcface/pytorch/README.md", "BI-V100",
                dict(fps=77.125, metrics={"lfw_accuracy": 0.991, "lfw_accuracy_std": 0.005})),
    "cosface": ("models/cv/face_recognition/cosface/pytorch/README.md", "BI-V100",
                dict(fps=9000.5, metrics={"lfw_accuracy": 0.9877})),
    "resnet50": ("models/cv/classification/resnet50/pytorch/README.md", "BI-V100",
                 dict(fps=5300, metrics={"acc1": 76.5}, config="AMP+NHWC", seconds=7 * 3600, batch_size=512)),
    "conformer-paddle": ("models/audio/speech_recognition/conformer/paddlepaddle/README.md", "BI-V100",
                         dict(fps=97.3, metrics={"cer": 0.0412})),
    "cspdarknet53": ("models/cv/classification/cspdarknet53/pytorch/README.md", "BI-V100",
                     dict(fps=2100, metrics={"acc1": 77.123}, config="FP32")),
    "transformer-fairseq": ("models/nlp/translation/transformer_fairseq/pytorch/README.md", "BI-V100",
                            dict(fps=6400.12, metrics={"bleu": 35.5})),
    "sast": ("models/cv/ocr/sast/paddlepaddle/README.md", "BI-V100",
             dict(fps=22.5, metrics={"hmean": 0.8201})),
    "mobilenetv3-mindspore": ("models/cv/classification/mobilenetv3/mindspore/README.md", "BI-V100",
                              dict(fps=700.25, metrics={"acc_ckpt107": 0.61})),
    "chatglm3": ("models/nlp/llm/chatglm3-6b/pytorch/README.md", "BI-V150",
                 dict(fps=40.125, config="Lora")),
}


def _read(dsh_root, relative: str) -> str:
    return (dsh_root / relative).read_bytes().decode("utf-8")


def _diff(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_nothing_to_write_is_byte_identical(dsh_root, layout):
    relative, card, _ = LAYOUTS[layout]
    text = _read(dsh_root, relative)
    assert update_results(text, [], card) == text
    environment = next(t for t in tables(text) if t.titles[0] == "GPU" and t.rows)   # its own first row again
    first = environment.rows[0].cells
    assert update_environment(text, first[0], first[1], first[2]) == text


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_new_bi_v150_x8_row_is_the_only_change_and_reads_back(dsh_root, layout):
    relative, card, numbers = LAYOUTS[layout]
    text = _read(dsh_root, relative)
    after = update_results(text, [Measured("BI-V150", 8, **numbers)], card)
    changed = _diff(text, after)
    assert len(changed) == 1 and changed[0].startswith("+|"), changed
    added = after.splitlines().index(changed[0][1:]) + 1
    row = next(r for r in read_table(main_table(tables(after))).references if r.line == added)
    assert (row.cards, row.fps) == (8, pytest.approx(numbers["fps"], rel=1e-3))
    for key, value in numbers.get("metrics", {}).items():
        assert any(k.replace("_", "").replace("@", "").replace("(", "").replace(")", "") == key.replace("_", "")
                   and v == pytest.approx(value, rel=1e-3) for k, v in row.metrics.items()), (key, row.metrics)
    again = update_results(after, [Measured("BI-V150", 8, **numbers)], card)
    assert again == after      # written once: the same measurement changes nothing


def test_the_measured_row_is_updated_in_place_in_the_readmes_formats(dsh_root):
    relative, card, _ = LAYOUTS["resnet50"]
    text = _read(dsh_root, relative)
    after = update_results(text, [Measured("BI-V100", 8, fps=2200, metrics={"acc1": 75.014}, config="FP32",
                                           seconds=12 * 3600 + 40 * 60, batch_size=300)], card)
    assert _diff(text, after) == [
        "-| ResNet50 | BI-V100 x8 | Acc@1=74.98,FPS=2150,Time=12h43m，BatchSize=300 | Acc@1=76.43,FPS=4200,Time=8h，"
        "BatchSize=480   |",
        "+| ResNet50 | BI-V100 x8 | Acc@1=75.01,FPS=2200,Time=12h40m，BatchSize=300 | Acc@1=76.43,FPS=4200,Time=8h，"
        "BatchSize=480   |"]
    relative, card, _ = LAYOUTS["facenet-pytorch"]
    text = _read(dsh_root, relative)
    after = update_results(text, [Measured("Iluvatar BI-V100", 1, fps=1300.5, metrics={"lfw_accuracy": 0.981})],
                           card)
    assert _diff(text, after) == ["-| Facenet | 1256.96 | 0.97933+-0.00624 |",
                                  "+| Facenet | 1300.50 | 0.98100          |"]   # no std measured: none shown


def test_a_new_environment_row_goes_on_top_in_the_tables_format(dsh_root):
    text = _read(dsh_root, LAYOUTS["resnet50"][0])
    after = update_environment(text, "BI-V150", "4.3.0", "25.12")
    assert _diff(text, after) == ["+| BI-V150 | 4.3.0     |  25.12  |"]
    assert after.index("| BI-V150 | 4.3.0 ") < after.index("| BI-V150 | 4.2.0 ")
