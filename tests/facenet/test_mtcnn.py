"""Our MTCNN against facenet-pytorch's (the reference), plus its edge cases.

facenet-pytorch is imported here only as the reference; the product code never imports it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from modelzoo.contract.api import UserError
from modelzoo_facenet import mtcnn as mtcnn_module
from modelzoo_facenet.mtcnn import MTCNN, Detections, find_weights_dir

LFW_SAMPLE = 24


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (n, 4) and (m, 4) x1,y1,x2,y2 boxes, in float64."""
    from torchvision.ops import box_iou

    return box_iou(torch.from_numpy(np.asarray(a, np.float64)), torch.from_numpy(np.asarray(b, np.float64))).numpy()


@pytest.fixture(scope="module")
def detector() -> MTCNN:
    return MTCNN(device="cpu")


@pytest.fixture(scope="module")
def reference():
    facenet_pytorch = pytest.importorskip("facenet_pytorch")
    return facenet_pytorch.MTCNN(keep_all=True, min_face_size=20, thresholds=[0.6, 0.7, 0.7],
                                 factor=0.709, device="cpu")


def _lfw_sample(lfw_dir: Path) -> list[Path]:
    lfw = sorted((lfw_dir / "images_deepfunneled").glob("*/*.jpg"))
    step = len(lfw) // LFW_SAMPLE
    files = lfw[::step][:LFW_SAMPLE]
    # The one LFW image where MTCNN finds no face (docs/mtcnn.md) exercises that path.
    files.append(lfw_dir / "images_deepfunneled" / "Marilyn_Monroe" / "Marilyn_Monroe_0001.jpg")
    return files


def _shrink(image: np.ndarray, longest: int) -> np.ndarray:
    scale = longest / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _compare(detector, reference, named_images) -> int:
    """Assert our boxes match the reference's image by image; returns the faces seen."""
    ours = detector.detect([im for _, im in named_images])  # one batched call, mixed sizes
    assert len(ours) == len(named_images)
    faces_seen = 0
    for (name, image), det in zip(named_images, ours):
        # facenet-pytorch crashes on batches containing a face-less image: one at a time.
        ref_boxes, ref_probs, ref_points = reference.detect(image, landmarks=True)
        if ref_boxes is None:
            assert len(det) == 0, f"{name}: reference finds no face, we find {det.boxes}"
            continue
        assert len(det) == len(ref_boxes), f"{name}: {len(det)} boxes, reference {len(ref_boxes)}"
        iou = _iou(ref_boxes, det.boxes)
        match = iou.argmax(axis=1)
        assert len(set(match.tolist())) == len(match), f"{name}: two reference boxes matched one of ours"
        assert iou.max(axis=1).min() >= 0.95, f"{name}: IoU {iou.max(axis=1)}"
        np.testing.assert_allclose(det.probs[match], np.asarray(ref_probs, np.float32), atol=1e-3,
                                   err_msg=name)
        np.testing.assert_allclose(det.landmarks[match], np.asarray(ref_points, np.float32), atol=0.5,
                                   err_msg=name)
        faces_seen += len(det)
    return faces_seen


def test_matches_facenet_pytorch_on_lfw_and_faces(detector, reference, lfw_dir, faces_dir):
    named = [(f"{f.parent.name}/{f.name}", _rgb(f)) for f in _lfw_sample(lfw_dir)]
    named.append(("multiface.jpg", _rgb(faces_dir / "multiface.jpg")))
    # The four 2-4 Mpixel portraits, shrunk to 640 px: the reference needs ~20 s for them
    # at full size (test_matches_facenet_pytorch_full_size, marked slow, runs those).
    portraits = sorted((faces_dir / "test_images").glob("*/*.jpg"))
    assert len(portraits) == 4
    named.extend((p.parent.name, _shrink(_rgb(p), 640)) for p in portraits)
    faces_seen = _compare(detector, reference, named)
    # Every LFW sample image but Marilyn_Monroe_0001, the group photo's 6, the portraits.
    assert faces_seen >= LFW_SAMPLE + 6 + 4


@pytest.mark.slow
def test_matches_facenet_pytorch_full_size(detector, reference, faces_dir):
    named = [(p.parent.name, _rgb(p)) for p in sorted((faces_dir / "test_images").glob("*/*.jpg"))]
    # angelina_jolie's two extra low-score boxes are found by both.
    assert _compare(detector, reference, named) == 4 + 2


def test_detections_layout_and_order(detector, faces_dir):
    image = _rgb(faces_dir / "multiface.jpg")
    det = detector.detect([image])[0]
    assert det.boxes.shape == (6, 4) and det.boxes.dtype == np.float32
    assert det.probs.shape == (6,) and det.landmarks.shape == (6, 5, 2)
    assert np.all(np.diff(det.probs) <= 0), "highest probability first"
    assert np.all(det.boxes[:, 2] > det.boxes[:, 0]) and np.all(det.boxes[:, 3] > det.boxes[:, 1])
    # Landmarks fall inside their (slightly grown) face boxes.
    x, y = det.landmarks[..., 0], det.landmarks[..., 1]
    assert np.all(x > det.boxes[:, None, 0] - 5) and np.all(x < det.boxes[:, None, 2] + 5)
    assert np.all(y > det.boxes[:, None, 1] - 5) and np.all(y < det.boxes[:, None, 3] + 5)


def test_faceless_images_give_empty_arrays_in_any_batch(detector, lfw_dir):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)
    flat = np.full((90, 140, 3), 128, np.uint8)
    tiny = np.zeros((5, 7, 3), np.uint8)  # smaller than one PNet window: no pyramid at all
    face = _rgb(sorted((lfw_dir / "images_deepfunneled").glob("*/*.jpg"))[0])
    out = detector.detect([noise, face, flat, tiny])
    for i in (0, 2, 3):
        assert len(out[i]) == 0
        assert out[i].boxes.shape == (0, 4) and out[i].probs.shape == (0,)
        assert out[i].landmarks.shape == (0, 5, 2)
    assert len(out[1]) == 1
    assert detector.detect([noise])[0].boxes.shape == (0, 4)
    assert detector.detect([]) == []


def test_batching_does_not_change_results(detector, lfw_dir, faces_dir):
    files = sorted((lfw_dir / "images_deepfunneled").glob("*/*.jpg"))[:6]
    group = cv2.resize(_rgb(faces_dir / "multiface.jpg"), (600, 315), interpolation=cv2.INTER_AREA)
    images = [_rgb(f) for f in files] + [group]
    full = detector.detect(images)
    # Tiny chunks force several PNet chunks and RNet/ONet batches.
    small = MTCNN(max_pixels=3 * 250 * 250, crop_batch=64).detect(images)
    alone = [detector.detect([im])[0] for im in (images[0], images[-1])]
    assert len(full[-1]) == 6
    for a, b in zip(small, full):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
    for a, b in zip(alone, (full[0], full[-1])):
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)


def test_grayscale_and_rgba_inputs(detector, lfw_dir):
    rgb = _rgb(sorted((lfw_dir / "images_deepfunneled").glob("*/*.jpg"))[5])
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    d_rgb, d_gray, d_rgba = detector.detect([rgb, gray, rgba])
    assert len(d_gray) >= 1
    np.testing.assert_array_equal(d_rgba.boxes, d_rgb.boxes)
    with pytest.raises(ValueError):
        detector.detect([rgb.astype(np.float32)])


def test_weights_from_an_explicit_folder(tmp_path):
    folder = find_weights_dir()
    for name in mtcnn_module.WEIGHT_FILES:
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    assert find_weights_dir(tmp_path) == tmp_path
    (tmp_path / "onet.pt").unlink()
    with pytest.raises(UserError) as err:
        find_weights_dir(tmp_path)
    message = str(err.value)
    assert "onet.pt" in message and "--mtcnn-weights" in message and "\n" not in message


def test_missing_weights_say_how_to_get_them(monkeypatch):
    def no_dist(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_dist)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError) as err:
        MTCNN()
    message = str(err.value)
    assert "pip install --no-deps facenet-pytorch==2.6.0" in message
    assert "--mtcnn-weights DIR" in message and "\n" not in message


def test_corrupt_weights_file_is_a_user_error(tmp_path):
    folder = find_weights_dir()
    for name in mtcnn_module.WEIGHT_FILES:
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    (tmp_path / "rnet.pt").write_bytes(b"not a state dict")
    with pytest.raises(UserError, match="rnet.pt"):
        MTCNN(weights_dir=tmp_path)


def test_weights_found_without_importing_facenet_pytorch():
    code = ("import sys; from modelzoo_facenet.mtcnn import MTCNN; MTCNN(); "
            "assert 'facenet_pytorch' not in sys.modules, 'facenet_pytorch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_pyramid_scales_follow_the_brief(detector):
    scales = detector.scales(250, 250)
    assert scales[0] == pytest.approx(12 / 20)
    assert all(b / a == pytest.approx(0.709) for a, b in zip(scales, scales[1:]))
    # The last scale still maps the short side to >= 12 px, the next would not.
    assert 250 * scales[-1] >= 12 > 250 * scales[-1] * 0.709
    assert Detections.empty().boxes.shape == (0, 4)
