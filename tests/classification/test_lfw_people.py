"""The lfw-people split: deterministic, stratified per person, disjoint; centre crops; real LFW."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from modelzoo.contract.api import UserError
from modelzoo_classification.lfw_people import (
    centre_crop_box,
    find_lfw_images,
    prepare_lfw_people,
    read_split,
    split_index,
    stratified_split,
)

COUNTS = {"Ann_A": 24, "Bob_B": 20, "Cid_C": 21, "Dee_D": 19, "Eve_E": 3}


@pytest.fixture
def raw_lfw(tmp_path: Path) -> Path:
    """LFW's archive layout with five people (two below the 20-image bar), 250x250 JPEGs."""
    images = tmp_path / "lfw" / "images_deepfunneled"
    for k, (name, count) in enumerate(COUNTS.items()):
        (images / name).mkdir(parents=True)
        for i in range(1, count + 1):
            image = np.random.default_rng([k, i]).integers(0, 256, (250, 250, 3), dtype=np.uint8)
            assert cv2.imwrite(str(images / name / f"{name}_{i:04d}.jpg"), image)
    return tmp_path / "lfw"


def _prepare(raw: Path, out: Path, **options):
    return prepare_lfw_people(raw, out, log=lambda _: None, **options)


def test_split_is_stratified_disjoint_and_fixed_by_the_seed(raw_lfw, tmp_path):
    result = _prepare(raw_lfw, tmp_path / "out")
    record = read_split(tmp_path / "out", "run prepare")
    assert sorted(record["split"]) == ["Ann_A", "Bob_B", "Cid_C"]  # 20+ images only
    assert (result.processed, record["train_images"], record["test_images"]) == (65, 49, 16)
    for name, halves in record["split"].items():
        assert len(halves["test"]) == round(COUNTS[name] * 0.25)  # 6, 5, 5: a quarter of each person
        assert set(halves["train"]).isdisjoint(halves["test"])
        assert sorted(halves["train"] + halves["test"]) == [f"{name}_{i:04d}.jpg" for i in range(1, COUNTS[name] + 1)]
    again = _prepare(raw_lfw, tmp_path / "again")
    assert read_split(tmp_path / "again", "x")["sha256"] == record["sha256"]
    other = _prepare(raw_lfw, tmp_path / "other", seed=1)
    assert read_split(tmp_path / "other", "x")["sha256"] != record["sha256"]
    assert (again.processed, other.processed) == (65, 65)


def test_a_persons_draw_ignores_the_other_people():
    people = {f"p{k}": [f"{k}_{i}.jpg" for i in range(20)] for k in range(5)}
    full = stratified_split(people, 0.25, seed=3)
    fewer = stratified_split({k: v for k, v in people.items() if k != "p0"}, 0.25, seed=3)
    assert all(fewer[name] == full[name] for name in fewer)


def test_crops_are_the_centre_square_and_a_rerun_skips_them(raw_lfw, tmp_path):
    _prepare(raw_lfw, tmp_path / "out", crop=150)
    source = cv2.imread(str(raw_lfw / "images_deepfunneled" / "Ann_A" / "Ann_A_0003.jpg"))
    crop = cv2.imread(str(tmp_path / "out" / "images" / "Ann_A" / "Ann_A_0003.png"))
    assert centre_crop_box(150) == (50, 200)
    assert crop.shape == (150, 150, 3) and np.array_equal(crop, source[50:200, 50:200])
    rerun = _prepare(raw_lfw, tmp_path / "out", crop=150)
    assert (rerun.processed, rerun.skipped) == (0, 65)


def test_index_halves_share_labels_by_sorted_name(raw_lfw, tmp_path):
    _prepare(raw_lfw, tmp_path / "out")
    record = read_split(tmp_path / "out", "x")
    train, test = (split_index(tmp_path / "out", record, part) for part in ("train", "test"))
    assert train.class_names == test.class_names == ["Ann_A", "Bob_B", "Cid_C"]
    assert set(train.paths).isdisjoint(test.paths) and len(test) == 16
    for index in (train, test):
        for path, label in zip(index.paths, index.labels):
            assert Path(path).parent.name == index.class_names[label] and Path(path).is_file()


def test_bad_input_is_a_one_line_user_error(raw_lfw, tmp_path):
    with pytest.raises(UserError, match="LFW folder not found"):
        _prepare(tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(UserError, match="only 0 people"):
        _prepare(raw_lfw, tmp_path / "out", min_images=50)
    with pytest.raises(UserError, match="--lfw-crop 300 is out of range"):
        _prepare(raw_lfw, tmp_path / "out", crop=300)
    with pytest.raises(UserError, match=r"data not found: .*split.json; run prepare"):
        read_split(tmp_path / "empty", "run prepare")
    _prepare(raw_lfw, tmp_path / "out")
    record = json.loads((tmp_path / "out" / "split.json").read_text())
    record["split"]["Ann_A"]["test"].append(record["split"]["Ann_A"]["train"].pop())  # hand-edited
    (tmp_path / "out" / "split.json").write_text(json.dumps(record))
    with pytest.raises(UserError, match="was edited"):
        read_split(tmp_path / "out", "run prepare")


def test_real_lfw_gives_62_people_and_3023_images(lfw_dir, tmp_path):
    assert find_lfw_images(lfw_dir).name == "images_deepfunneled"
    _prepare(lfw_dir, tmp_path / "out")
    record = read_split(tmp_path / "out", "x")
    assert record["people"] == 62 and record["train_images"] + record["test_images"] == 3023
    assert record["test_images"] == sum(round((len(v["train"]) + len(v["test"])) * 0.25)
                                        for v in record["split"].values())
    george = record["split"]["George_W_Bush"]
    assert len(george["train"]) + len(george["test"]) == 530
