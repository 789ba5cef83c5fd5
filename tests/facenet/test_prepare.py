"""The prepare job (modelzoo_facenet.prepare and its worker pool, prepare_pool): layout,
failures, resume, bad input."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from modelzoo.contract.api import PrepareResult, UserError
from modelzoo_facenet import prepare_pool
from modelzoo_facenet.crop import CORRUPT, NOT_IMAGE, TMP_SUFFIX
from modelzoo_facenet.prepare import DUPLICATE, add_prepare_arguments, run_prepare
from modelzoo_facenet.prepare_pool import NO_FACE

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
    assert result.failures_file == " and ".join(str(data_root / "lfw_data" / d / "failures.txt")
                                                for d in ("lfw_160", "lfw_112x112", "lfw_112x96"))
    # pairs.txt (found in the parent of RAW_DIR) and people.txt sit beside lfw_160.
    assert (data_root / "lfw_data" / "pairs.txt").read_text() == (raw_lfw.parent / "pairs.txt").read_text()
    assert (data_root / "lfw_data" / "people.txt").is_file()
    assert result.outputs["lfw"] == str(out)

    # A killed run: two outputs gone, a half-written temporary file left behind.
    (out / GOOD[0]).unlink()
    (out / GOOD[5]).unlink()
    stray = out / PEOPLE[0] / f".{PEOPLE[0]}_0001.png.4242.99{TMP_SUFFIX}"
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


def _same_warp(x: np.ndarray, y: np.ndarray) -> None:
    """Two aligned crops of one face from two detector calls. One torch thread against two,
    or another batch, rounds the landmarks' last float bits differently; the warp then
    moves a few pixels by one grey level."""
    x, y = x.astype(int), y.astype(int)
    assert x.shape == y.shape and np.abs(x - y).max() <= 1 and (x != y).mean() < 0.005


def test_prepare_with_worker_processes_matches_in_process(raw_lfw, tmp_path):
    one = run_prepare(_options(raw_lfw, limit=6), tmp_path / "one", log=lambda _: None)
    two = run_prepare(_options(raw_lfw, limit=6, workers=2, batch_size=2), tmp_path / "two",
                      log=lambda _: None)
    assert one.processed == two.processed == 6
    for folder in ("lfw_160", "lfw_112x112", "lfw_112x96"):
        a, b = tmp_path / "one" / "lfw_data" / folder, tmp_path / "two" / "lfw_data" / folder
        assert _outputs(a) == _outputs(b) == sorted(GOOD[:6])
        for rel in _outputs(a):
            x, y = cv2.imread(str(a / rel)), cv2.imread(str(b / rel))
            if folder == "lfw_160":  # integer crop windows: identical
                np.testing.assert_array_equal(x, y)
            else:
                _same_warp(x, y)


def test_prepare_casia_layout_and_nested_lfw_folder(raw_lfw, tmp_path):
    # CASIA: RAW/<identity>/<image>; LFW given as the folder *holding* the image folder.
    casia = tmp_path / "casia"
    shutil.copytree(raw_lfw / PEOPLE[0], casia / "0000045")
    result = run_prepare(_options(raw_lfw.parent, casia=str(casia), limit=2), tmp_path / "data",
                         log=lambda _: None)
    web = tmp_path / "data" / "webface_182_44"
    assert _outputs(web) == [f"0000045/{PEOPLE[0]}_0001.png", f"0000045/{PEOPLE[0]}_0002.png"]
    assert cv2.imread(str(web / _outputs(web)[0])).shape == (182, 182, 3)
    for size, shape in (("112x112", (112, 112, 3)), ("112x96", (112, 96, 3))):
        aligned = tmp_path / "data" / f"webface_{size}"
        assert _outputs(aligned) == _outputs(web)
        assert cv2.imread(str(aligned / _outputs(web)[0])).shape == shape
    assert _outputs(tmp_path / "data" / "lfw_data" / "lfw_160") == GOOD[:2]
    assert result.processed == 4
    assert set(result.outputs) >= {"casia", "casia_112x112", "casia_112x96", "lfw", "lfw_112x96", "lfw_pairs"}


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
    assert ns.aligned == ((112, 112), (112, 96))  # every aligned size by default
    assert parser.parse_args(["--aligned", "112x96"]).aligned == ((112, 96),)
    assert parser.parse_args(["--aligned", "none"]).aligned == ()
    with pytest.raises(SystemExit):
        parser.parse_args(["--workers", "0"])


def test_write_failure_is_a_user_error_and_leaves_no_partial_file(raw_lfw, tmp_path, monkeypatch):
    import errno

    def full_disk(path, rgb):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(prepare_pool, "write_png_atomic", full_disk)
    with pytest.raises(UserError, match="cannot write .*No space left") as err:
        run_prepare(_options(raw_lfw, limit=2), tmp_path / "data", log=lambda _: None)
    assert "\n" not in str(err.value)
    out = tmp_path / "data" / "lfw_data" / "lfw_160"
    assert not list(out.rglob("*.png"))


# --- the aligned sets ----------------------------------------------------------------------

def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_aligned_sets_sizes_faces_and_failures(raw_lfw, tmp_path):
    from modelzoo_facenet.align import TEMPLATES, align_face
    from modelzoo_facenet.crop import select_face
    from modelzoo_facenet.mtcnn import MTCNN

    data_root = tmp_path / "data"
    result = run_prepare(_options(raw_lfw), data_root, log=lambda _: None)
    assert (result.processed, result.skipped, result.failed) == (8, 0, 3)
    assert result.outputs["lfw_112x112"] == str(data_root / "lfw_data" / "lfw_112x112")
    detector = MTCNN()
    errors = []
    for size in TEMPLATES:
        out = data_root / "lfw_data" / f"lfw_{size[0]}x{size[1]}"
        assert _outputs(out) == sorted(GOOD)
        assert dict(_failures(out)) == FAILURES  # the same images fail in every set
        for rel in GOOD[:6]:
            crop = _read_rgb(out / rel)
            assert crop.shape == (size[0], size[1], 3)
            # The crop is the warp of this image's chosen face's landmarks: the same
            # detection as the 160 crop's box.
            source = _read_rgb(raw_lfw / rel.replace(".png", ".jpg"))
            det = detector.detect([source])[0]
            expected = align_face(source, det.landmarks[select_face(det, source.shape)], size)
            _same_warp(crop, expected)
            # MTCNN run again on the crop (padded: it needs context around a face) finds
            # the eyes, nose and mouth on the template, give or take the face's own
            # shape (measured on 35 LFW images: the worst of the five landmarks lies a
            # median 4.4 px from the template; a crop off by a transposed or mirrored
            # transform reads tens of pixels).
            padded = cv2.copyMakeBorder(crop, 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=0)
            again = detector.detect([padded])[0]
            errors.append(float(np.abs(again.landmarks[0] - 60 - TEMPLATES[size]).max()))
    assert np.median(errors) < 8.0, errors


def test_aligned_sets_resume_and_leave_the_160_set_unchanged(raw_lfw, tmp_path):
    data_root = tmp_path / "data"
    lfw = data_root / "lfw_data"
    # Today's command: only the box crops.
    first = run_prepare(_options(raw_lfw, aligned="none"), data_root, log=lambda _: None)
    assert first.processed == 8 and not (lfw / "lfw_112x112").exists()
    before = {rel: ((lfw / "lfw_160" / rel).read_bytes(), (lfw / "lfw_160" / rel).stat().st_mtime_ns)
              for rel in GOOD}
    # Asking for one aligned size writes it; the 160 PNGs are not rewritten.
    second = run_prepare(_options(raw_lfw, aligned="112x96"), data_root, log=lambda _: None)
    assert (second.processed, second.skipped, second.failed) == (8, 0, 3)
    assert _outputs(lfw / "lfw_112x96") == sorted(GOOD) and not (lfw / "lfw_112x112").exists()
    # All sizes (the default): the missing one comes; per output, only what is missing.
    logs: list[str] = []
    third = run_prepare(_options(raw_lfw), data_root, log=logs.append)
    assert third.processed == 8 and _outputs(lfw / "lfw_112x112") == sorted(GOOD)
    assert any("(lfw_160 3, lfw_112x112 11, lfw_112x96 3)" in line for line in logs), logs
    # A killed run: one aligned PNG gone and a temporary file left; only that one comes back.
    (lfw / "lfw_112x96" / GOOD[2]).unlink()
    stray = lfw / "lfw_112x96" / PEOPLE[1] / f".x.png.1.2{TMP_SUFFIX}"
    stray.write_bytes(b"half")
    kept = (lfw / "lfw_112x112" / GOOD[2]).stat().st_mtime_ns
    fourth = run_prepare(_options(raw_lfw), data_root, log=lambda _: None)
    assert (fourth.processed, fourth.skipped, fourth.failed) == (1, 7, 3)
    assert _outputs(lfw / "lfw_112x96") == sorted(GOOD) and not stray.exists()
    assert (lfw / "lfw_112x112" / GOOD[2]).stat().st_mtime_ns == kept
    # The 160 set is byte for byte what today's command wrote, never rewritten.
    assert _outputs(lfw / "lfw_160") == sorted(GOOD)
    for rel, (data, mtime) in before.items():
        assert (lfw / "lfw_160" / rel).read_bytes() == data
        assert (lfw / "lfw_160" / rel).stat().st_mtime_ns == mtime
    for folder in ("lfw_160", "lfw_112x112", "lfw_112x96"):
        assert dict(_failures(lfw / folder)) == FAILURES


def test_face_without_usable_landmarks_fails_only_the_aligned_sets(raw_lfw, tmp_path, monkeypatch):
    from modelzoo_facenet import mtcnn

    real = mtcnn.MTCNN.detect
    line = np.repeat(np.linspace(80, 160, 5, dtype=np.float32)[:, None], 2, axis=1)

    def detect(self, images):
        # Faces found, but the first image's landmarks lie on a line, the second's are NaN.
        dets = real(self, images)
        dets[0].landmarks = np.broadcast_to(line, (len(dets[0]), 5, 2)).copy()
        dets[1].landmarks = np.full((len(dets[1]), 5, 2), np.nan, np.float32)
        return dets

    monkeypatch.setattr(mtcnn.MTCNN, "detect", detect)
    data_root = tmp_path / "data"
    result = run_prepare(_options(raw_lfw, limit=2, batch_size=2), data_root, log=lambda _: None)
    lfw = data_root / "lfw_data"
    assert _outputs(lfw / "lfw_160") == GOOD[:2]  # the boxes are fine
    assert not (lfw / "lfw_160" / "failures.txt").exists()
    assert (result.processed, result.failed) == (2, 2)
    for folder in ("lfw_112x112", "lfw_112x96"):
        assert _outputs(lfw / folder) == []
        assert dict(_failures(lfw / folder)) == {
            f"{PEOPLE[0]}/{PEOPLE[0]}_0001.jpg": "face found but landmarks unusable: landmarks are collinear",
            f"{PEOPLE[0]}/{PEOPLE[0]}_0002.jpg": "face found but landmarks unusable: landmarks hold non-finite values"}
    # With --center-crop-failures the aligned sets get a framed centre crop, still listed.
    again = run_prepare(_options(raw_lfw, limit=2, batch_size=2, center_crop_failures=True), data_root,
                        log=lambda _: None)
    assert (again.processed, again.skipped) == (2, 0)
    assert cv2.imread(str(lfw / "lfw_112x96" / GOOD[0])).shape == (112, 96, 3)
    assert len(_failures(lfw / "lfw_112x96")) == 2


def test_bad_aligned_sizes_are_one_line_user_errors(raw_lfw, tmp_path):
    message = _user_error(_options(raw_lfw, aligned="96x112"), tmp_path / "data", "--aligned 96x112")
    assert "choose 112x112, 112x96" in message
    parser = argparse.ArgumentParser()
    add_prepare_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--aligned", "224x224"])
    assert not (tmp_path / "data").exists()


def test_killed_job_resumes_into_complete_aligned_sets(lfw_dir, tmp_path):
    # A real kill (SIGKILL of the job and its worker processes) while PNGs are being written,
    # then a rerun: every set complete, every PNG whole, no temporary file, the images done
    # before the kill skipped.
    import signal
    import subprocess
    import sys
    import time

    src = lfw_dir / "images_deepfunneled"
    raw = tmp_path / "raw"
    names = sorted(os.listdir(src))[:60]
    for person in names:
        shutil.copytree(src / person, raw / person)
    images = sorted(p.relative_to(raw) for p in raw.rglob("*.jpg"))[:60]
    for p in raw.rglob("*.jpg"):
        if p.relative_to(raw) not in images:
            p.unlink()
    data_root = tmp_path / "data"
    args = [sys.executable, "-m", "modelzoo_facenet.prepare", "--data-root", str(data_root), "--lfw", str(raw),
            "--lfw-pairs", str(lfw_dir / "pairs.txt"), "--workers", "2", "--batch-size", "2", "--device", "cpu"]
    job = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    target = data_root / "lfw_data" / "lfw_112x96"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and job.poll() is None:
            if target.is_dir() and len(list(target.rglob("*.png"))) >= 6:
                break
            time.sleep(0.05)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    assert job.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    written = {d: len(list((data_root / "lfw_data" / d).rglob("*.png")))
               for d in ("lfw_160", "lfw_112x112", "lfw_112x96")}
    assert 0 < written["lfw_112x96"] < len(images)
    result = run_prepare(_options(raw, lfw_pairs=str(lfw_dir / "pairs.txt"), workers=2), data_root,
                         log=lambda _: None)
    # A worker writes an image's outputs in order (160, 112x112, 112x96): each image with
    # its 112x96 PNG was complete and is skipped.
    assert result.skipped >= written["lfw_112x96"]
    assert result.processed + result.skipped == len(images)
    expected = sorted(str(p.with_suffix(".png")) for p in images)
    for folder, shape in (("lfw_160", (160, 160, 3)), ("lfw_112x112", (112, 112, 3)), ("lfw_112x96", (112, 96, 3))):
        out = data_root / "lfw_data" / folder
        assert _outputs(out) == expected  # no temporary file either
        for rel in expected:
            assert cv2.imread(str(out / rel)).shape == shape
