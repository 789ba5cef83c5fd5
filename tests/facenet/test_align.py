"""Face choice, crops and the prepare job (layout, failures, resume, bad input)."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from modelzoo.api import PrepareResult, UserError
from modelzoo_facenet import align
from modelzoo_facenet.align import (CORRUPT, DUPLICATE, NO_FACE, NOT_IMAGE, add_prepare_arguments,
                                    center_crop, crop_box, crop_face, read_image, run_prepare,
                                    select_face)


def _dets(boxes, probs=None):
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    probs = np.full(len(boxes), 0.99, np.float32) if probs is None else np.asarray(probs, np.float32)
    return SimpleNamespace(boxes=boxes, probs=probs)


# --- select_face -------------------------------------------------------------------------

def test_center_rule_weighs_offset_twice():
    # A: 100x100 box centred 70.7 px off the centre of a 200x200 image:
    #    10000 - 2 * (50^2 + 50^2) = 0.  B: a 20x20 box at the centre: 400.
    # With weight 1 A would win (5000); davidsandberg's weight 2 picks B.
    dets = _dets([[0, 0, 100, 100], [90, 90, 110, 110]], probs=[0.999, 0.8])
    assert select_face(dets, (200, 200, 3), "center") == 1
    assert select_face(dets, (200, 200, 3), "largest") == 0
    assert select_face(dets, (200, 200, 3), "probable") == 0
    # A bigger off-centre face outweighs the offset: 22500 - 2 * 1250 = 20000 > 400.
    assert select_face(_dets([[0, 0, 150, 150], [90, 90, 110, 110]]), (200, 200), "center") == 0


def test_center_rule_uses_width_for_x_and_height_for_y():
    # 100 wide, 400 tall: the centre is (50, 200). Box P sits at x=50, y=100 (offset 100 in y),
    # box Q at x=90, y=200 (offset 40 in x). Swapping the axes would pick P.
    dets = _dets([[40, 90, 60, 110], [80, 190, 100, 210]])
    assert select_face(dets, (400, 100, 3), "center") == 1


def test_select_face_without_faces_and_bad_rule():
    assert select_face(_dets(np.zeros((0, 4))), (10, 10), "center") is None
    assert select_face(_dets([[0, 0, 5, 5]]), (10, 10), "largest") == 0
    with pytest.raises(ValueError):
        select_face(_dets([[0, 0, 5, 5], [1, 1, 3, 3]]), (10, 10), "nearest")


def test_center_rule_on_the_group_photo(faces_dir):
    from modelzoo_facenet.mtcnn import MTCNN

    image = cv2.cvtColor(cv2.imread(str(faces_dir / "multiface.jpg")), cv2.COLOR_BGR2RGB)
    det = MTCNN().detect([image])[0]
    assert len(det) == 6
    h, w = image.shape[:2]
    centres = (det.boxes[:, :2] + det.boxes[:, 2:]) / 2
    dist = np.hypot(centres[:, 0] - w / 2, centres[:, 1] - h / 2)
    area = (det.boxes[:, 2] - det.boxes[:, 0]) * (det.boxes[:, 3] - det.boxes[:, 1])
    center = select_face(det, image.shape, "center")
    largest = select_face(det, image.shape, "largest")
    # The face nearest the middle of the photo (about 60x70 px off) wins the centre rule;
    # the largest face is a lower-right one, far from the middle.
    assert center == int(np.argmin(dist)) and dist[center] < 100
    assert largest == int(np.argmax(area)) and dist[largest] > 300
    assert center != largest
    assert select_face(det, image.shape, "probable") == int(np.argmax(det.probs))


# --- crops ---------------------------------------------------------------------------------

def _coordinate_image(h: int, w: int) -> np.ndarray:
    """Pixel (y, x) holds (x, y, 7): a crop tells where it came from."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.dstack([xs, ys, np.full_like(xs, 7)]).astype(np.uint8)


def test_crop_face_geometry_and_clipping():
    image = _coordinate_image(120, 200)
    # box +- margin/2, truncated: x 30.7-5 -> 25, 70.9+5 -> 75; y 20.2-5 -> 15, 60.5+5 -> 65.
    assert crop_box([30.7, 20.2, 70.9, 60.5], 10, image.shape) == (25, 15, 75, 65)
    out = crop_face(image, [30.7, 20.2, 70.9, 60.5], margin=10, size=50)
    assert out.shape == (50, 50, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, image[15:65, 25:75])  # same size: no resampling
    # Clipped at the image borders.
    assert crop_box([-8.0, -3.0, 40.0, 30.0], 20, image.shape) == (0, 0, 50, 40)
    assert crop_box([180.0, 100.0, 199.0, 119.0], 20, image.shape) == (170, 90, 200, 120)
    # A non-square window is stretched to the square, like davidsandberg's.
    out = crop_face(image, [180.0, 100.0, 199.0, 119.0], margin=20, size=60)
    assert out.shape == (60, 60, 3)
    assert out[:, :, 0].min() >= 170 and out[:, :, 1].min() >= 90
    assert abs(int(out[0, 0, 0]) - 170) <= 1 and abs(int(out[-1, -1, 1]) - 119) <= 1
    with pytest.raises(ValueError):
        crop_face(image, [300, 300, 320, 320], margin=0, size=10)


def test_crop_resizes_up_and_down():
    image = _coordinate_image(120, 200)
    up = crop_face(image, [40, 40, 60, 60], margin=0, size=80)     # 20 px -> 80 px
    down = crop_face(image, [0, 0, 120, 120], margin=0, size=30)   # 120 px -> 30 px
    assert up.shape == (80, 80, 3) and down.shape == (30, 30, 3)
    # Coordinates grow monotonically left to right and top to bottom.
    assert np.all(np.diff(up[0, :, 0].astype(int)) >= 0) and np.all(np.diff(down[:, 0, 1].astype(int)) >= 0)
    assert 40 <= up[:, :, 0].min() and up[:, :, 0].max() <= 59
    assert np.all(up[:, :, 2] == 7) and np.all(down[:, :, 2] == 7)


def test_center_crop():
    image = _coordinate_image(100, 200)
    np.testing.assert_array_equal(center_crop(image, 100), image[:, 50:150])
    side60 = center_crop(image, 60, side=60)
    np.testing.assert_array_equal(side60, image[20:80, 70:130])
    assert center_crop(image, 32).shape == (32, 32, 3)


# --- reading images --------------------------------------------------------------------------

def test_read_image_formats(tmp_path, lfw_dir):
    src = sorted((lfw_dir / "images_deepfunneled").glob("*/*.jpg"))[0]
    bgr = cv2.imread(str(src))
    cv2.imwrite(str(tmp_path / "gray.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(tmp_path / "deep.png"), bgr.astype(np.uint16) * 257)
    data = src.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.jpg").write_text("not a picture")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)

    rgb, why = read_image(src)
    assert why is None and rgb.shape == (250, 250, 3)
    np.testing.assert_array_equal(rgb, bgr[:, :, ::-1])
    gray, _ = read_image(tmp_path / "gray.png")
    assert gray.shape == (250, 250, 3) and np.all(gray[..., 0] == gray[..., 2])
    rgba, _ = read_image(tmp_path / "rgba.png")
    np.testing.assert_array_equal(rgba, rgb)
    deep, _ = read_image(tmp_path / "deep.png")
    np.testing.assert_array_equal(deep, rgb)
    assert read_image(tmp_path / "cut.jpg") == (None, CORRUPT)
    assert read_image(tmp_path / "notes.jpg") == (None, NOT_IMAGE)
    assert read_image(tmp_path / "broken.png") == (None, CORRUPT)
    assert read_image(tmp_path / "absent.jpg") == (None, CORRUPT)


# --- the prepare job ---------------------------------------------------------------------------

PEOPLE = ("Aaron_Peirsol", "Abdullah_Gul", "Adrien_Brody")


@pytest.fixture
def raw_lfw(tmp_path, lfw_dir) -> Path:
    """A small raw LFW: 3 people x 2 JPEGs, plus a grayscale PNG, an RGBA PNG, a face-less
    noise image, a truncated JPEG and a text file, and a pairs.txt beside the image folder."""
    root = tmp_path / "lfw" / "images"
    src = lfw_dir / "images_deepfunneled"
    for person in PEOPLE:
        (root / person).mkdir(parents=True)
        for i in (1, 2):
            shutil.copy(src / person / f"{person}_{i:04d}.jpg", root / person)
    extra = root / "Zz_Extras"
    extra.mkdir()
    bgr = cv2.imread(str(src / PEOPLE[0] / f"{PEOPLE[0]}_0003.jpg"))
    cv2.imwrite(str(extra / "gray_0001.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    alpha = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    alpha[..., 3] = 128
    cv2.imwrite(str(extra / "rgba_0002.png"), alpha)
    noise = np.random.default_rng(1).integers(0, 256, (250, 250, 3), dtype=np.uint8)
    cv2.imwrite(str(extra / "noise_0003.png"), noise)
    data = (src / PEOPLE[1] / f"{PEOPLE[1]}_0003.jpg").read_bytes()
    (extra / "cut_0004.jpg").write_bytes(data[: len(data) * 2 // 3])
    (extra / "readme.txt").write_text("not an image\n")
    pairs = ["1\t2", f"{PEOPLE[0]}\t1\t2", f"{PEOPLE[1]}\t1\t{PEOPLE[2]}\t2"]
    (tmp_path / "lfw" / "pairs.txt").write_text("\n".join(pairs) + "\n")
    (tmp_path / "lfw" / "people.txt").write_text("1\n3\n")
    return root


GOOD = [f"{p}/{p}_{i:04d}.png" for p in PEOPLE for i in (1, 2)] + [
    "Zz_Extras/gray_0001.png", "Zz_Extras/rgba_0002.png"]
FAILURES = {"Zz_Extras/noise_0003.png": NO_FACE, "Zz_Extras/cut_0004.jpg": CORRUPT,
            "Zz_Extras/readme.txt": NOT_IMAGE}


def _outputs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                  and p.name != "failures.txt")


def _failures(folder: Path) -> list[tuple[str, str]]:
    lines = (folder / "failures.txt").read_text().splitlines()
    return [tuple(line.split("\t")) for line in lines]


def _options(raw: Path, **extra) -> dict:
    parser = argparse.ArgumentParser()
    add_prepare_arguments(parser)
    options = vars(parser.parse_args(["--lfw", str(raw), "--workers", "1", "--device", "cpu"]))
    options.update(extra)
    return options


def test_prepare_layout_failures_and_resume(raw_lfw, tmp_path):
    data_root = tmp_path / "data"
    logs: list[str] = []
    result = run_prepare(_options(raw_lfw), data_root, log=logs.append)
    out = data_root / "lfw_data" / "lfw_160"
    assert isinstance(result, PrepareResult)
    assert (result.processed, result.skipped, result.failed) == (8, 0, 3)
    assert _outputs(out) == sorted(GOOD)
    for rel in GOOD:
        image = cv2.imread(str(out / rel), cv2.IMREAD_UNCHANGED)
        assert image.shape == (160, 160, 3)
    assert dict(_failures(out)) == FAILURES
    assert result.failures_file == str(out / "failures.txt")
    # pairs.txt (found in the parent of RAW_DIR) and people.txt sit beside lfw_160.
    assert (data_root / "lfw_data" / "pairs.txt").read_text() == (raw_lfw.parent / "pairs.txt").read_text()
    assert (data_root / "lfw_data" / "people.txt").is_file()
    assert result.outputs["lfw"] == str(out)

    # A killed run: two outputs gone, a half-written temporary file left behind.
    (out / GOOD[0]).unlink()
    (out / GOOD[5]).unlink()
    stray = out / PEOPLE[0] / f".{PEOPLE[0]}_0001.png.4242.99{align.TMP_SUFFIX}"
    stray.write_bytes(b"\x89PNG half")
    again = run_prepare(_options(raw_lfw), data_root, log=logs.append)
    assert (again.processed, again.skipped, again.failed) == (2, 6, 3)
    assert _outputs(out) == sorted(GOOD)  # no temporary file, no duplicate
    failures = _failures(out)
    assert len(failures) == len(set(failures)) == 3 and dict(failures) == FAILURES

    # Everything done: all skipped, failures retried and listed once.
    third = run_prepare(_options(raw_lfw), data_root, log=logs.append)
    assert (third.processed, third.skipped, third.failed) == (0, 8, 3)
    assert dict(_failures(out)) == FAILURES and len(_failures(out)) == 3
    assert any("lfw: aligned" in line for line in logs)


def test_prepare_centre_crop_fallback_is_listed_and_kept(raw_lfw, tmp_path):
    data_root = tmp_path / "data"
    result = run_prepare(_options(raw_lfw, center_crop_failures=True, lfw_size=96), data_root,
                         log=lambda _: None)
    out = data_root / "lfw_data" / "lfw_96"
    assert (result.processed, result.failed) == (9, 3)
    noise = out / "Zz_Extras" / "noise_0003.png"
    assert cv2.imread(str(noise)).shape == (96, 96, 3)
    assert dict(_failures(out)) == FAILURES
    # Rerun: the centre crop counts as done, and its failure entry survives.
    again = run_prepare(_options(raw_lfw, center_crop_failures=True, lfw_size=96), data_root,
                        log=lambda _: None)
    assert (again.processed, again.skipped) == (0, 9)
    assert dict(_failures(out)) == FAILURES


def test_prepare_with_worker_processes_matches_in_process(raw_lfw, tmp_path):
    one = run_prepare(_options(raw_lfw, limit=6), tmp_path / "one", log=lambda _: None)
    two = run_prepare(_options(raw_lfw, limit=6, workers=2, batch_size=2), tmp_path / "two",
                      log=lambda _: None)
    assert one.processed == two.processed == 6
    a, b = tmp_path / "one" / "lfw_data" / "lfw_160", tmp_path / "two" / "lfw_data" / "lfw_160"
    assert _outputs(a) == _outputs(b) == sorted(GOOD[:6])
    for rel in _outputs(a):
        np.testing.assert_array_equal(cv2.imread(str(a / rel)), cv2.imread(str(b / rel)))


def test_prepare_casia_layout_and_nested_lfw_folder(raw_lfw, tmp_path):
    # CASIA: RAW/<identity>/<image>; LFW given as the folder *holding* the image folder.
    casia = tmp_path / "casia"
    shutil.copytree(raw_lfw / PEOPLE[0], casia / "0000045")
    result = run_prepare(_options(raw_lfw.parent, casia=str(casia), limit=2), tmp_path / "data",
                         log=lambda _: None)
    web = tmp_path / "data" / "webface_182_44"
    assert _outputs(web) == [f"0000045/{PEOPLE[0]}_0001.png", f"0000045/{PEOPLE[0]}_0002.png"]
    assert cv2.imread(str(web / _outputs(web)[0])).shape == (182, 182, 3)
    assert _outputs(tmp_path / "data" / "lfw_data" / "lfw_160") == GOOD[:2]
    assert result.processed == 4 and set(result.outputs) >= {"casia", "lfw", "lfw_pairs"}


def test_prepare_duplicate_stems_are_listed(raw_lfw, tmp_path):
    src = raw_lfw / PEOPLE[0] / f"{PEOPLE[0]}_0001.jpg"
    img = cv2.imread(str(src))
    cv2.imwrite(str(raw_lfw / PEOPLE[0] / f"{PEOPLE[0]}_0001.png"), img)
    result = run_prepare(_options(raw_lfw, limit=3), tmp_path / "data", log=lambda _: None)
    out = tmp_path / "data" / "lfw_data" / "lfw_160"
    assert dict(_failures(out)) == {f"{PEOPLE[0]}/{PEOPLE[0]}_0001.png": DUPLICATE}
    assert result.processed == 2 and result.failed == 1


# --- bad input --------------------------------------------------------------------------------

def _user_error(options: dict, data_root: Path, match: str) -> str:
    with pytest.raises(UserError, match=match) as err:
        run_prepare(options, data_root, log=lambda _: None)
    message = str(err.value)
    assert "\n" not in message and ";" in message  # one line: cause; remedy
    return message


def test_bad_inputs_are_one_line_user_errors(raw_lfw, tmp_path):
    data_root = tmp_path / "data"
    _user_error({"workers": 1}, data_root, "nothing to prepare")
    _user_error(_options(tmp_path / "absent"), data_root, "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "person").mkdir()
    _user_error(_options(empty), data_root, "no images")
    _user_error({"casia": str(raw_lfw / PEOPLE[0] / f"{PEOPLE[0]}_0001.jpg")}, data_root,
                "not a folder")
    # The output root cannot be created (a file stands in the way).
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _user_error(_options(raw_lfw), blocker / "data", "cannot write")
    # Weights missing.
    nothing = tmp_path / "no-weights"
    nothing.mkdir()
    message = _user_error(_options(raw_lfw, mtcnn_weights=str(nothing)), data_root, "MTCNN weights")
    assert "pip install --no-deps facenet-pytorch==2.6.0" in message
    # pairs.txt: absent, malformed, or naming nobody in the folder.
    _user_error(_options(raw_lfw, lfw_pairs=str(tmp_path / "nopairs.txt")), data_root, "pairs")
    bad = tmp_path / "bad_pairs.txt"
    bad.write_text("10 300\nsomeone x y\n")
    _user_error(_options(raw_lfw, lfw_pairs=str(bad)), data_root, "not an LFW pair")
    strangers = tmp_path / "strangers.txt"
    strangers.write_text("1 1\nNobody_Here\t1\t2\n")
    _user_error(_options(raw_lfw, lfw_pairs=str(strangers)), data_root, "none of the 1 people")
    (raw_lfw.parent / "pairs.txt").unlink()
    _user_error(_options(raw_lfw), data_root, "pairs.txt not found")
    assert not (data_root / "lfw_data" / "lfw_160").exists()  # nothing started


def test_pairs_naming_missing_people_or_images_warn(raw_lfw, tmp_path):
    pairs = raw_lfw.parent / "pairs.txt"
    pairs.write_text(pairs.read_text() + f"Ghost_Person\t1\t2\n{PEOPLE[2]}\t1\t9\n")
    logs: list[str] = []
    result = run_prepare(_options(raw_lfw, limit=2), tmp_path / "data", log=logs.append)
    assert result.processed == 2
    warnings = [line for line in logs if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "1 people with no folder" in warnings[0] and "Ghost_Person" in warnings[0]
    assert "1 images missing" in warnings[1] and f"{PEOPLE[2]}_0009" in warnings[1]


def test_prepare_arguments_defaults():
    parser = argparse.ArgumentParser()
    add_prepare_arguments(parser)
    ns = parser.parse_args([])
    assert (ns.casia_size, ns.casia_margin, ns.lfw_size, ns.lfw_margin) == (182, 44, 160, 32)
    assert ns.face_rule == "center" and ns.device == "auto" and not ns.center_crop_failures
    assert ns.workers is None and ns.limit is None and ns.batch_size is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--workers", "0"])


def test_write_failure_is_a_user_error_and_leaves_no_partial_file(raw_lfw, tmp_path, monkeypatch):
    import errno

    def full_disk(path, rgb):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(align, "write_png_atomic", full_disk)
    with pytest.raises(UserError, match="cannot write .*No space left") as err:
        run_prepare(_options(raw_lfw, limit=2), tmp_path / "data", log=lambda _: None)
    assert "\n" not in str(err.value)
    out = tmp_path / "data" / "lfw_data" / "lfw_160"
    assert not list(out.rglob("*.png"))


def test_write_png_atomic_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "face.png"
    align.write_png_atomic(target, np.zeros((8, 8, 3), np.uint8))
    assert cv2.imread(str(target)).shape == (8, 8, 3)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        align.write_png_atomic(tmp_path / "other.png", np.zeros((8, 8, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png"]
