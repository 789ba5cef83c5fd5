"""Face choice, crops, and reading and writing images (modelzoo_facenet.crop)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from modelzoo_facenet import crop
from modelzoo_facenet.crop import CORRUPT, NOT_IMAGE, center_crop, crop_box, crop_face, read_image, select_face


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


def test_write_png_atomic_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "face.png"
    crop.write_png_atomic(target, np.zeros((8, 8, 3), np.uint8))
    assert cv2.imread(str(target)).shape == (8, 8, 3)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        crop.write_png_atomic(tmp_path / "other.png", np.zeros((8, 8, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png"]
