"""ImageNet preparation on tiny generated layouts: both val forms, failures listed, bad layouts refused."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from classification_helpers import WNIDS

from modelzoo.contract.api import UserError
from modelzoo_classification.imagenet import (
    RandomResizedCropDataset,
    ResizeCentreCropDataset,
    prepare_imagenet,
    read_index,
)

REPO = Path(__file__).resolve().parents[2]


def _rows(path: Path) -> list[tuple[str, int]]:
    with open(path, newline="") as handle:
        return [(r[0], int(r[1])) for r in list(csv.reader(handle))[1:]]


def _prepare(raw: Path, tmp_path: Path, **options):
    return prepare_imagenet(raw, tmp_path / "index", log=lambda _: None, workers=2, **options)


def test_class_folder_layout_is_indexed_with_sorted_wnid_labels(imagenet_raw, tmp_path):
    result = _prepare(imagenet_raw, tmp_path)
    assert (result.processed, result.failed) == (18, 0)
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    assert meta["classes"] == sorted(WNIDS) and meta["val_labels"] == "folders"
    assert (meta["train_images"], meta["val_images"], meta["root"]) == (12, 6, str(imagenet_raw.resolve()))
    train = _rows(tmp_path / "index" / "train.csv")
    for path, label in train:  # paths relative to the root, label = the folder's place in sorted order
        assert (imagenet_raw / path).is_file() and path.split("/")[1] == WNIDS[label]
    assert [label for _, label in _rows(tmp_path / "index" / "val.csv")] == [0, 0, 1, 1, 2, 2]
    index = read_index(tmp_path / "index", "run prepare")
    assert index.train.paths == [p for p, _ in train] and index.root == imagenet_raw.resolve()


def test_flat_val_with_val_list_is_labelled_by_the_list(imagenet_raw, tmp_path):
    lines = []
    for label, wnid in enumerate(WNIDS):  # flatten val/: the list now carries the labels
        for image in sorted((imagenet_raw / "val" / wnid).iterdir()):
            image.rename(imagenet_raw / "val" / image.name)
            # the README's lists name files relative to the split folder or to the root: accept both
            lines.append(f"{image.name if label % 2 else 'val/' + image.name} {label}")
        (imagenet_raw / "val" / wnid).rmdir()
    (imagenet_raw / "val_list.txt").write_text("\n".join(lines) + "\n")
    _prepare(imagenet_raw, tmp_path)
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    assert meta["val_labels"] == "list" and meta["val_images"] == 6
    val = _rows(tmp_path / "index" / "val.csv")
    assert all(path.startswith("val/ILSVRC2012_val_") for path, _ in val)
    assert {path[-7:-5]: label for path, label in val} == {"00": 0, "01": 0, "10": 1, "11": 1, "20": 2, "21": 2}


def test_unreadable_images_are_listed_and_left_out_not_fatal(imagenet_raw, tmp_path):
    bad = imagenet_raw / "train" / WNIDS[1] / "broken.JPEG"
    bad.write_bytes(b"<html>404 not found</html>")
    (imagenet_raw / "val" / WNIDS[2] / "empty.JPEG").write_bytes(b"")
    truncated = imagenet_raw / "train" / WNIDS[0] / "truncated.JPEG"
    truncated.write_bytes((imagenet_raw / "train" / WNIDS[0] / f"{WNIDS[0]}_0.JPEG").read_bytes()[:40])
    result = _prepare(imagenet_raw, tmp_path)
    failures = (tmp_path / "index" / "failures.txt").read_text().splitlines()
    assert result.failed == 2 and result.failures_file == str(tmp_path / "index" / "failures.txt")
    assert failures == [f"train/{WNIDS[1]}/broken.JPEG\tnot a JPEG/PNG/GIF/BMP file",
                        f"val/{WNIDS[2]}/empty.JPEG\tempty file"]
    listed = {p for p, _ in _rows(tmp_path / "index" / "train.csv") + _rows(tmp_path / "index" / "val.csv")}
    assert f"train/{WNIDS[1]}/broken.JPEG" not in listed and f"train/{WNIDS[0]}/truncated.JPEG" in listed
    # a truncated JPEG has a valid signature: only the full decode check finds it
    result = _prepare(imagenet_raw, tmp_path, check="decode")
    assert result.failed == 3
    assert f"train/{WNIDS[0]}/truncated.JPEG\tOpenCV cannot decode it" in \
        (tmp_path / "index" / "failures.txt").read_text()


def test_flat_val_without_labels_is_one_line_naming_val_list(imagenet_raw, tmp_path):
    for wnid in WNIDS:
        for image in (imagenet_raw / "val" / wnid).iterdir():
            image.rename(imagenet_raw / "val" / image.name)
        (imagenet_raw / "val" / wnid).rmdir()
    with pytest.raises(UserError) as error:
        _prepare(imagenet_raw, tmp_path)
    message = str(error.value)
    assert "\n" not in message and "holds 6 images in no class folders" in message
    assert "val_list.txt is missing" in message and "add val_list.txt" in message
    assert not (tmp_path / "index" / "index.json").exists()


@pytest.mark.parametrize("layout_change, expected", [
    (lambda raw: shutil.rmtree(raw / "val"), "has no val/ folder"),
    (lambda raw: (raw / "val_list.txt").write_text("x.JPEG\n"), "expected 'relative_path label'"),
    (lambda raw: (raw / "train_list.txt").write_text(
        "".join(f"train/{w}/{w}_0.JPEG {k + 1}\n" for k, w in enumerate(WNIDS))), "3 labels disagree"),
    (lambda raw: shutil.copytree(raw / "val" / WNIDS[0], raw / "val" / "n99999999"), "not one of the 3 train classes"),
])
def test_bad_layouts_are_one_line_errors(imagenet_raw, tmp_path, layout_change, expected):
    layout_change(imagenet_raw)
    with pytest.raises(UserError, match=expected) as error:
        _prepare(imagenet_raw, tmp_path)
    assert "\n" not in str(error.value)


def test_train_list_labels_a_flat_train_folder(imagenet_raw, tmp_path):
    lines = []
    for label, wnid in enumerate(WNIDS):
        for image in sorted((imagenet_raw / "train" / wnid).iterdir()):
            image.rename(imagenet_raw / "train" / image.name)
            lines.append(f"{image.name} {label}")
        (imagenet_raw / "train" / wnid).rmdir()
    (imagenet_raw / "train_list.txt").write_text("\n".join(lines) + "\n")
    for wnid in WNIDS:  # val in folders needs train class names: use the list's form instead
        for image in (imagenet_raw / "val" / wnid).iterdir():
            image.rename(imagenet_raw / "val" / image.name)
        (imagenet_raw / "val" / wnid).rmdir()
    (imagenet_raw / "val_list.txt").write_text(
        "".join(f"ILSVRC2012_val_{k}{i}.JPEG {k}\n" for k in range(3) for i in range(2)))
    _prepare(imagenet_raw, tmp_path)
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    assert meta["classes"] == ["class_0000", "class_0001", "class_0002"] and meta["train_images"] == 12


def test_loader_datasets_give_uint8_crops_of_the_configured_size(imagenet_raw, tmp_path):
    _prepare(imagenet_raw, tmp_path)
    index = read_index(tmp_path / "index", "run prepare")
    torch.manual_seed(0)
    train = RandomResizedCropDataset(index.root, index.train, size=24)
    crops = [train[0][0] for _ in range(4)]
    assert all(c.dtype == torch.uint8 and tuple(c.shape) == (3, 24, 24) for c in crops)
    assert not all(torch.equal(crops[0], c) for c in crops[1:])  # a fresh random crop each time
    assert [train[i][1] for i in (0, 4, 8)] == [0, 1, 2]
    val = ResizeCentreCropDataset(index.root, index.val, resize=32, crop=28)
    image, label = val[5]
    assert tuple(image.shape) == (3, 28, 28) and label == 2 and torch.equal(image, val[5][0])


def test_prepare_through_the_cli(imagenet_raw, tmp_path):
    env = {"MODELZOO_DISABLE_PLUGIN_AUTOLOAD": "1", "MODELZOO_PLUGINS": "modelzoo_classification.plugin",
           "PATH": "/usr/bin:/bin",
           "PYTHONPATH": f"{REPO}:{REPO / 'plugins' / 'classification'}"}
    command = [sys.executable, "-m", "modelzoo", "prepare", "resnet50", "--imagenet", str(imagenet_raw),
               "--data-root", str(tmp_path / "data")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "prepared 18 images" in done.stdout + done.stderr
    assert (tmp_path / "data" / "imagenet_index" / "index.json").is_file()
    shutil.rmtree(imagenet_raw / "val")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "has no val/ folder" in done.stderr
