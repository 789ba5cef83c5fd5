"""`zoo import` on the real DeepSparkHub snapshot: every entry loads, and READMEs of different
layouts read into the numbers their tables show (each value below checked by hand against the
README line it names)."""

from __future__ import annotations

import pytest

from modelzoo.catalogue import importer
from modelzoo.zoo.zoofile import find_zoo_file, load_zoo


def _entry(imported: dict, key: str) -> dict:
    return next(e for e in imported["entries"] if e["key"] == key)


def _row(imported: dict, key: str, line: int, config: str = "", cards=None) -> dict:
    rows = [r for r in _entry(imported, key)["references"] if r["source"].endswith(f":{line}")
            and r.get("config", "") == config and (cards is None or r["cards"] == cards)]
    assert len(rows) == 1, rows
    return rows[0]


def test_all_322_entries_load_and_the_result_rows_are_read(imported):
    numbers = importer.coverage(imported)
    assert numbers["entries"] == 322 and len({e["key"] for e in imported["entries"]}) == 322
    assert numbers["readmes_found"] == 320          # cosyvoice and gemma-2-7b-it have none in the snapshot
    assert numbers["parsed_rows"] >= 0.95 * numbers["result_rows"] and numbers["result_rows"] > 200
    missing = sorted(e["model"] for e in imported["entries"] if not e["readme"])
    assert missing == ["cosyvoice", "gemma-2-7b-it"]
    assert all(n["reason"] for e in imported["entries"] for n in e["not_understood"])


def test_configs_layout_and_extended_table_resnet50(imported):
    key = "cv/classification/resnet50/pytorch"
    fp32 = _row(imported, key, 66, "FP32")   # | ResNet50 | BI-V100 x1 | Acc@1=76.02,FPS=330,Time=4d3h，BatchSize=280 |
    assert (fp32["gpu"], fp32["cards"], fp32["fps"], fp32["metrics"], fp32["time"], fp32["batch_size"]) == \
        ("BI-V100", 1, 330.0, {"acc@1": 76.02}, "4d3h", 280)
    assert (fp32["sdk"], fp32["release"]) == ("IXUCA SDK 2.2.0", "22.09")   # the BI-V100 row, not BI-V150's
    amp = _row(imported, key, 68, "AMP+NHWC")  # ... | Acc@1=76.43,FPS=4200,Time=8h，BatchSize=480 |
    assert (amp["cards"], amp["fps"], amp["metrics"], amp["time"], amp["batch_size"]) == \
        (8, 4200.0, {"acc@1": 76.43}, "8h", 480)
    extended = _row(imported, key, 72, "AMP")  # | top1 75.9% | SDK V2.2,bs:512,8x,AMP | 5221 | 76.43% | 128\*8 | ...
    assert (extended["cards"], extended["fps"], extended["batch_size"], extended["criteria"]) == \
        (8, 5221.0, 512, "top1 75.9%")
    assert extended["metrics"] == {"accuracy": 76.43, "scalability": 0.97, "stability": 1.0}
    assert extended["per_card"] == {"power_w": 128.0, "memory_gb": 29.1}


@pytest.mark.parametrize("model, key", [
    ("facenet", "cv/face_recognition/facenet/tensorflow"), ("facenet-pytorch", "cv/face_recognition/facenet/pytorch"),
    ("arcface", "cv/face_recognition/arcface/pytorch"), ("cosface", "cv/face_recognition/cosface/pytorch"),
])
def test_the_face_readmes_give_what_zoo_yaml_typed_by_hand(imported, model, key):
    """``| Facenet | 1256.96 | 0.97933+-0.00624 |``: the same figures zoo.yaml's references were typed from."""
    typed = load_zoo(find_zoo_file()).models[model].references
    rows = _entry(imported, key)["references"]
    assert len(rows) == len(typed) == 1
    for field in ("gpu", "cards", "fps", "metrics", "sdk", "release"):
        assert rows[0][field] == typed[0][field], field
    assert "card count not in the table: 1 assumed" in rows[0]["notes"]


def test_resnet50_rows_match_zoo_yaml(imported):
    typed = load_zoo(find_zoo_file()).models["resnet50"].references
    rows = [r for r in _entry(imported, "cv/classification/resnet50/pytorch")["references"]
            if r["config"] in ("FP32", "AMP+NHWC")]
    assert [(r["cards"], r["config"], r["fps"], r["metrics"]["acc@1"], r["time"], r["batch_size"]) for r in rows] == \
        [(t["cards"], t["config"], t["fps"], t["metrics"]["acc1"], t["time"], t["batch_size"]) for t in typed]


def test_cells_with_units_notes_and_labels(imported):
    cer = _row(imported, "audio/speech_recognition/conformer/paddlepaddle", 53)  # | BI-V100 x 4 | 48.5 | 0.0495(checkpoint 81) |
    assert (cer["gpu"], cer["cards"], cer["fps"], cer["fps_unit"], cer["metrics"]) == \
        ("BI-V100", 4, 48.5, "IPS", {"cer": 0.0495})
    assert "cer: checkpoint 81" in cer["notes"]
    csp = _row(imported, "cv/classification/cspdarknet53/pytorch", 63, "FP32")  # | Acc@1 76.644     fps 1049 |
    assert (csp["cards"], csp["fps"], csp["metrics"]) == (8, 1049.0, {"acc@1": 76.644})
    assert _row(imported, "cv/classification/cspdarknet53/pytorch", 64, "FP32")["fps"] == 148.0   # | fps 148 |
    sast = _row(imported, "cv/ocr/sast/paddlepaddle", 64)  # | ips: 11.24631 samples/s | hmean: 0.817155756207675 |
    assert (sast["fps"], sast["fps_unit"], sast["metrics"]) == (11.24631, "samples/s", {"hmean": 0.817155756207675})
    alex = _row(imported, "cv/classification/alexnet/tensorflow", 65)  # Accuracy @1 = 0.5633 ... | 1833.9 images/sec |
    assert (alex["gpu"], alex["cards"], alex["fps"], alex["fps_unit"]) == ("BI-V100", 8, 1833.9, "images/sec")
    assert alex["metrics"] == {"accuracy_@1": 0.5633, "accuracy_@_5": 0.7964}
    center = _row(imported, "cv/3d_detection/centerpoint/pytorch", 81)  # | 2.423 s/step | mAP: 0.5654 |
    assert (center["fps"], center["fps_unit"], center["metrics"]) == (2.423, "s/step", {"map": 0.5654})
    assert not importer.gate_references(_entry(imported, "cv/3d_detection/centerpoint/pytorch"))  # not a rate
    fairseq = _row(imported, "nlp/translation/transformer_fairseq/pytorch", 77)  # | 3204.78 | 100 | 35.07 |
    assert (fairseq["fps"], fairseq["fps_unit"], fairseq["metrics"], fairseq["setup"]) == \
        (3204.78, "QPS", {"bleu": 35.07}, {"train_epochs": "100"})   # epochs: how it ran, not a result
    seg = _row(imported, "cv/semantic_segmentation/mobileseg/paddlepaddle", 89)  # | 512x1024 | 80000 | 28.68 | 0.726 |
    assert (seg["cards"], seg["fps"], seg["fps_unit"], seg["metrics"]) == (8, 28.68, "FPS", {"miou": 0.726})
    assert seg["setup"] == {"crop_size": "512x1024", "lr_schd": "80000"}       # under 'FPS (BI x 8)': 8 cards


def test_configuration_columns_flags_and_per_count_columns(imported):
    key = "audio/speech_recognition/conformer_wenet/pytorch"
    assert _row(imported, key, 69, "FP16=False")["fps"] == 67.0     # | BI-v100x8 | False | 67  |
    assert _row(imported, key, 70, "FP16=True")["fps"] == 288.0     # | BI-v100x8 | True  | 288 |
    extended = _row(imported, key, 74, "fp32")  # | 3.72 | SDK V2.2,bs:32,8x,fp32 | 380 | 4.79@cer | 113\*8 | ...
    assert (extended["fps"], extended["batch_size"], extended["cards"]) == (380.0, 32, 8)
    assert extended["metrics"]["cer"] == 4.79 and extended["per_card"] == {"power_w": 113.0, "memory_gb": 21.5}
    wave = "audio/speech_synthesis/waveglow/pytorch"   # | Card Type | Prec. | Single Card | 8 Cards |
    assert _row(imported, wave, 47, "FP32", cards=1)["fps"] == 196.845
    assert _row(imported, wave, 47, "FP32", cards=8)["fps"] == 1440.233
    assert _row(imported, wave, 48, "AMP", cards=8)["fps"] == 2400.745
    chat = "nlp/llm/chatglm3-6b/pytorch"     # | ChatGLM-6B | BI-V150 | Lora | 16 | 32.639 |
    lora = _row(imported, chat, 71, "Lora")
    assert (lora["gpu"], lora["cards"], lora["fps"], lora["fps_unit"]) == \
        ("BI-V150", 16, 32.639, "train_samples_per_second")
    assert _row(imported, chat, 73, "sft")["fps"] == 5.99
    sd = _row(imported, "multimodal/diffusion_model/stable-diffusion-2.1/pytorch", 98)  # | BI-V150 x 16 | 6.65 | 13.3 |
    assert (sd["cards"], sd["fps"], sd["fps_unit"], sd["metrics"]) == (16, 6.65, "ips_per_device", {"ips_per_gpu": 13.3})
    retina = _row(imported, "cv/face_detection/retinaface/pytorch", 87, "Medium Val")
    assert (retina["gpu"], retina["cards"], retina["metrics"]) == ("BI-V100", 1, {"ap": 0.9315975713948582})


def test_odd_cards_slashes_and_shifted_columns(imported):
    mobile = _entry(imported, "cv/classification/mobilenetv3/mindspore")
    row = _row(imported, "cv/classification/mobilenetv3/mindspore", 76)  # | BI-V100 ×8 | 0.55 | 378.43 |
    assert (row["cards"], row["fps"], row["metrics"]) == (8, 378.43, {"acc_(ckpt107)": 0.55})
    assert {"source": "models/cv/classification/mobilenetv3/mindspore/README.md:77", "reason": "empty row"} in \
        mobile["not_understood"]
    blaze = _entry(imported, "cv/face_recognition/blazeface/paddlepaddle")["references"]  # | 0.886/0.860/0.753 | 8.6813 |
    assert len(blaze) == 1 and blaze[0]["metrics"] == {"easy": 0.886, "medium": 0.86, "hard_set": 0.753}
    assert (blaze[0]["cards"], blaze[0]["fps"]) == (8, 8.6813)
    gcn = [r for r in _entry(imported, "cv/gnn/gcn/paddlepaddle")["references"]]  # | GCN | BI-V100 ×1 | CORA | 0.0064 | 80.3% |
    assert [(r["config"], r["cards"], r["fps"], r["metrics"]) for r in gcn][0] == \
        ("CORA", 1, 0.0064, {"accurary": 80.3})
    dcn = _entry(imported, "cv/detection/dcnv2_mmdet/pytorch")  # | GPU | FP32 | mAP | over | DCNv2 | BI-V100 x8 | 41.2 |
    assert [(r["gpu"], r["cards"], r["metrics"]) for r in dcn["references"]] == [("BI-V100", 8, {"map": 41.2})]
    assert any("'DCNv2' under 'GPU' not understood" in n["reason"] for n in dcn["not_understood"])


def test_a_results_table_outside_a_results_heading(imported):
    """repvgg/pytorch puts ``| RepVGG-A0 | BI-V100 x8 | Acc@1=0.7241 |`` under 'Model Training'."""
    row = _row(imported, "cv/classification/repvgg/pytorch", 84, "FP32")
    assert (row["gpu"], row["cards"], row["metrics"], row["model_cell"]) == ("BI-V100", 8, {"acc@1": 0.7241}, "RepVGG-A0")


def test_the_committed_catalogue_is_the_snapshot_imported(imported):
    """zoo.catalogue.json beside zoo.yaml is exactly what 'zoo import' makes of the snapshot (re-import it
    when the importer changes)."""
    committed = find_zoo_file().parent / importer.CATALOGUE_FILE
    assert committed.read_text(encoding="utf-8") == importer.dumps(imported)
