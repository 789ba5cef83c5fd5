"""Fault class 24: wrong data, caught everywhere. Every face model refuses a folder whose
images are not the size its profile reads (the same rule and line for all four: 182 px
crops left in arcface's 112x112 folder as in cosface's 112x96 one); ``prepare`` that
produced nothing (every input failed) is one line and a non-zero exit; an image whose
header states 20000x20000 pixels is refused from the header, never decoded."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from fault_helpers import REPO, assert_one_line_error

from modelzoo.toolkit.imageheader import MAX_PIXELS, header_size, pixel_problem

# (train folder, its size, LFW folder, its size) of each face model's casia profile
FACE_SETS = {
    "facenet": ("webface_182_44", (182, 182), "lfw_data/lfw_160", (160, 160)),
    "facenet-pytorch": ("webface_182_44", (182, 182), "lfw_data/lfw_160", (160, 160)),
    "arcface": ("webface_112x112", (112, 112), "lfw_data/lfw_112x112", (112, 112)),
    "cosface": ("webface_112x96", (112, 96), "lfw_data/lfw_112x96", (112, 96)),
}


def _png(path, height: int, width: int) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((height, width, 3), np.uint8))


def _face_root(root, model: str, train_size=None, lfw_size=None):
    train, train_hw, lfw, lfw_hw = FACE_SETS[model]
    _png(root / train / "Someone" / "Someone_0001.png", *(train_size or train_hw))
    _png(root / lfw / "Someone" / "Someone_0001.png", *(lfw_size or lfw_hw))
    (root / "lfw_data" / "pairs.txt").write_text("10\t300\n")
    return root


def _dry_run(ws, model: str, root):
    return ws.cli("run", model, "--profile", "casia", "--device", "cpu", "--dry-run", "--data-root", str(root),
                  MODELZOO_DISABLE_PLUGIN_AUTOLOAD="0", MODELZOO_PLUGINS="")


@pytest.mark.parametrize("model", list(FACE_SETS))
def test_every_face_model_refuses_a_folder_of_another_size_the_same_way(ws, tmp_path, model):
    """The issue's case for every model: the square 182 px crops (112 px for the 182 px
    models) in the folder the profile reads; the right sizes pass the same check."""
    train, (height, width), _lfw, _ = FACE_SETS[model]
    wrong = (112, 112) if (height, width) == (182, 182) else (182, 182)
    root = _face_root(tmp_path / "data", model, train_size=wrong)
    line = assert_one_line_error(_dry_run(ws, model, root), 2,
                                 f"{root / train} holds {wrong[0]}x{wrong[1]} images but {model}'s profile reads "
                                 f"{height}x{width}", "modelzoo prepare facenet")
    assert "pick the --profile made for these images" in line
    if model in ("facenet", "cosface"):  # the control, for a square and a rectangular size (each run costs seconds)
        ok = _dry_run(ws, model, _face_root(tmp_path / "right", model))
        assert ok.returncode == 0 and "data found; nothing was run" in ok.stdout, ok.stderr[-2000:]


def test_the_lfw_folder_is_held_to_the_same_rule(ws, tmp_path):
    root = _face_root(tmp_path / "data", "arcface", lfw_size=(160, 160))
    assert_one_line_error(_dry_run(ws, "arcface", root), 2,
                          f"{root / 'lfw_data/lfw_112x112'} holds 160x160 images but arcface's profile reads 112x112")


def _huge_png(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit grey PNG of ``width`` x ``height`` in about 60 kB (1.2 GB decoded in colour)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = (b"\x00" + b"\x00" * ((width + 7) // 8)) * height
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    return _huge_png()


def _headers(width: int, height: int) -> dict[str, bytes]:
    """Just the first bytes of each format, stating ``width`` x ``height``."""
    jpeg = (b"\xff\xd8" + b"\xff\xe1" + struct.pack(">H", 18) + b"Exif\x00\x00" + b"\x00" * 10
            + b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 3))
    return {
        "png": b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", width, height),
        "jpeg (after an EXIF segment)": jpeg,
        "progressive jpeg": jpeg.replace(b"\xff\xc0", b"\xff\xc2"),
        "gif": b"GIF89a" + struct.pack("<HH", width, height),
        "bmp": b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, width, -height),
        "webp (lossless)": b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f"
                           + struct.pack("<I", (width - 1) | ((height - 1) << 14)),
        "webp (extended)": b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8
                           + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"),
    }


@pytest.mark.parametrize("kind", list(_headers(1, 1)))
def test_the_header_states_the_size_in_every_format_read(kind):
    assert header_size(_headers(16000, 9000)[kind]) == (16000, 9000)
    assert pixel_problem(_headers(16000, 9000)[kind]) == "16000x9000 pixels (137 MP), over the 64 MP limit"
    assert pixel_problem(_headers(250, 250)[kind]) is None
    assert header_size(_headers(250, 250)[kind][:9]) is None  # cut inside the header: no size, no crash


def test_the_pixel_limit_is_one_number(huge_png):
    assert MAX_PIXELS == 64 * 2**20 and header_size(huge_png) == (20000, 20000) and len(huge_png) < 200_000


def _peak_kb(code: str) -> tuple[str, int]:
    """Run ``code`` in a fresh interpreter; its output and its peak resident memory (kB).

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over an exec, so a child of a
    large pytest process would report the parent's size."""
    done = subprocess.run([sys.executable, "-c", code + "\nfrom pathlib import Path\n"
                           "hwm = [l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM:')]\n"
                           "print('peak', hwm[0].split()[1])"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    out, peak = done.stdout.rsplit("peak", 1)
    return out.strip(), int(peak)


@pytest.mark.parametrize("reader", [
    "from modelzoo.toolkit.imagedata import decode_image as read\n",
    "from modelzoo_facenet.lfw_eval import load_image as read\n",
])
def test_a_huge_image_is_refused_by_every_reader_before_it_is_decoded(tmp_path, huge_png, reader):
    path = tmp_path / "huge.png"
    path.write_bytes(huge_png)
    code = (reader + "from modelzoo.contract.api import UserError\n"
            f"try:\n    read({str(path)!r})\nexcept UserError as exc:\n    print(exc)\n")
    out, peak_kb = _peak_kb(code)
    assert out.startswith(f"image {path} is 20000x20000 pixels (381 MP), over the 64 MP limit"), out
    assert peak_kb < 1_000_000, peak_kb  # a decode would take 1.2 GB


def test_prepare_lists_a_huge_image_as_a_failure_without_decoding_it(tmp_path, huge_png):
    from modelzoo_classification.imagenet import header_problem
    from modelzoo_facenet.crop import read_image

    path = tmp_path / "huge.png"
    path.write_bytes(huge_png)
    image, reason = read_image(path)
    assert image is None and reason == "too large: 20000x20000 pixels (381 MP), over the 64 MP limit"
    assert header_problem(path) == reason


def test_prepare_that_produced_nothing_exits_non_zero_in_one_line(ws, tmp_path, huge_png):
    """Every input of a CASIA-style set fails (not images, or too large): exit 2, one line."""
    raw = tmp_path / "raw"
    for index, content in enumerate([b"not an image", huge_png, b"\x89PNG\r\n\x1a\ncut"]):
        target = raw / f"Person_{index}" / f"Person_{index}_0001.jpg"
        target.parent.mkdir(parents=True)
        target.write_bytes(content)
    result = ws.cli("prepare", "facenet", "--casia", str(raw), "--data-root", str(tmp_path / "data"),
                    "--aligned", "none", "--device", "cpu", MODELZOO_DISABLE_PLUGIN_AUTOLOAD="0",
                    MODELZOO_PLUGINS="", timeout=300)
    line = assert_one_line_error(result, 2, "prepare facenet produced nothing: all 3 inputs failed")
    assert "prepared 0 images" not in result.stdout, result.stdout
    assert "listed in" in line

