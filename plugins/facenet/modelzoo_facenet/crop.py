"""One face per image, cropped: face choice, crop geometry, and image reading and writing.

Face choice and crop follow davidsandberg/facenet's ``align_dataset_mtcnn.py``
(docs/PROTOCOLS.md#face-alignment):

- one face per image: ``select_face(..., rule="center")`` keeps
  argmax(box area - 2 x squared distance of the box centre from the image centre);
  ``"largest"`` (facenet-pytorch's default) and ``"probable"`` are the alternatives;
- crop: the box grown by margin/2 on every side in source pixels, truncated to integers
  and clipped to the image (not squared: the crop is stretched to the output square, as
  davidsandberg's is), resized to ``size`` x ``size``. davidsandberg resized with
  ``scipy.misc.imresize(..., 'bilinear')`` (Pillow, antialiased when shrinking); we use
  OpenCV ``INTER_LINEAR`` when enlarging (the usual case: LFW/CASIA faces of ~95x125 px
  plus margin become 160/182 px) and ``INTER_AREA`` when shrinking, which is what
  antialiased bilinear amounts to in each direction.

Images are read defensively (:func:`read_image` names a foreign or corrupt file instead
of raising) and written atomically (:func:`write_png_atomic`). The job that aligns whole
data sets with these is :mod:`modelzoo_facenet.prepare`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from modelzoo.toolkit.imageheader import pixel_problem

FACE_RULES = ("center", "largest", "probable")

# Why read_image returned no image (the prepare job lists them in failures.txt).
CORRUPT = "unreadable or corrupt"
NOT_IMAGE = "not an image"

# Suffix of a file being written; a killed job may leave one behind for the next to remove.
TMP_SUFFIX = ".tmp"


# --- Face choice and crops -------------------------------------------------------------

def select_face(detections: Any, image_shape: Sequence[int], rule: str = "center") -> Optional[int]:
    """Index of the one face to keep among ``detections``, or ``None`` when there is none.

    ``detections`` has ``boxes`` (n, 4: x1, y1, x2, y2) and ``probs`` (n,) (e.g.
    :class:`modelzoo_facenet.mtcnn.Detections`); ``image_shape`` is ``(height, width,
    ...)``. Rules:

    - ``"center"`` (davidsandberg): argmax(area - 2 * ((cx - W/2)^2 + (cy - H/2)^2)),
      with cx, cy the box centre: a big face near the centre;
    - ``"largest"``: the biggest box (facenet-pytorch's default);
    - ``"probable"``: the highest detection probability.
    """
    boxes = np.asarray(detections.boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape[0] == 0:
        return None
    if boxes.shape[0] == 1:
        return 0
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    if rule == "center":
        height, width = image_shape[0], image_shape[1]
        dx = (boxes[:, 0] + boxes[:, 2]) / 2 - width / 2
        dy = (boxes[:, 1] + boxes[:, 3]) / 2 - height / 2
        return int(np.argmax(area - 2.0 * (dx * dx + dy * dy)))
    if rule == "largest":
        return int(np.argmax(area))
    if rule == "probable":
        return int(np.argmax(np.asarray(detections.probs, dtype=np.float64)))
    raise ValueError(f"unknown face rule {rule!r}; choose from {', '.join(FACE_RULES)}")


def crop_box(box: Sequence[float], margin: float, image_shape: Sequence[int]) -> tuple[int, int, int, int]:
    """The integer crop window ``(x0, y0, x1, y1)`` (end-exclusive) for a face box.

    davidsandberg's arithmetic: each side moves out by ``margin / 2`` source pixels, is
    clipped to the image, and is truncated to an integer.
    """
    height, width = image_shape[0], image_shape[1]
    x0 = int(max(box[0] - margin / 2, 0))
    y0 = int(max(box[1] - margin / 2, 0))
    x1 = int(min(box[2] + margin / 2, width))
    y1 = int(min(box[3] + margin / 2, height))
    return x0, y0, x1, y1


def _resize(region: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = region.shape[:2]
    shrink = h > size or w > size
    return cv2.resize(region, (size, size),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def crop_face(image: np.ndarray, box: Sequence[float], margin: float, size: int) -> np.ndarray:
    """Crop ``box`` +- ``margin / 2`` (source pixels, clipped) and resize to ``size`` x ``size``.

    Returns a new uint8 array with the image's channels. A box entirely outside the image
    raises ``ValueError``.
    """
    x0, y0, x1, y1 = crop_box(box, margin, image.shape)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"face box {list(box)} lies outside the {image.shape[1]}x{image.shape[0]} image")
    return _resize(image[y0:y1, x0:x1], size)


def center_crop(image: np.ndarray, size: int, side: Optional[float] = None) -> np.ndarray:
    """The central ``side`` x ``side`` square (default: the shorter image side), clipped to
    the image and resized to ``size`` x ``size``: the fallback for an image without a face.
    """
    height, width = image.shape[:2]
    side = min(height, width) if side is None else min(float(side), height, width)
    side = max(1, int(round(side)))
    y0 = (height - side) // 2
    x0 = (width - side) // 2
    return _resize(image[y0:y0 + side, x0:x0 + side], size)


def fallback_side(image_shape: Sequence[int], margin: float) -> float:
    """Side of the centre crop used when no face is found.

    Half the shorter side (about the face box MTCNN finds on LFW's and CASIA-WebFace's
    250x250 images: median 93x123 px on LFW) plus the margin, so a fallback crop is
    framed roughly like the aligned faces around it.
    """
    return min(image_shape[0], image_shape[1]) / 2 + margin


# --- Reading and writing images -------------------------------------------------------

_SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x00\x00\x00\x0cjP  ", "jp2"),
    (b"\xffO\xffQ", "jp2"),
)


def sniff_image(data: bytes) -> Optional[str]:
    """The image format named by the file's first bytes, or ``None``."""
    for magic, kind in _SIGNATURES:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if len(data) > 2 and data[0:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace():
        return "pnm"
    return None


def _jpeg_complete(data: bytes) -> bool:
    """True when an end-of-image marker follows the last start-of-scan marker.

    libjpeg decodes a truncated file without error (grey fill and a warning); a cut file
    lacks the EOI after its last scan. Entropy-coded data byte-stuffs 0xFF, so
    FF DA / FF D9 only occur as markers.
    """
    sos = data.rfind(b"\xff\xda")
    return sos >= 0 and data.rfind(b"\xff\xd9") > sos


def read_image(path: str | os.PathLike) -> tuple[Optional[np.ndarray], Optional[str]]:
    """Decode an image file to RGB uint8 ``(H, W, 3)``.

    Grayscale becomes three equal channels, an alpha channel is dropped (as
    davidsandberg's ``img[:, :, 0:3]``), 16-bit samples are reduced to 8 bits.
    Returns ``(image, None)`` or ``(None, reason)`` with reason :data:`NOT_IMAGE`,
    :data:`CORRUPT` or ``too large: ...`` (a header stating more pixels than
    :data:`modelzoo.toolkit.imageheader.MAX_PIXELS`: refused before decoding).
    """
    import cv2

    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None, CORRUPT
    kind = sniff_image(data)
    if kind is None:
        return None, NOT_IMAGE
    if kind == "jpeg" and not _jpeg_complete(data):
        return None, CORRUPT
    too_large = pixel_problem(data)
    if too_large:
        return None, f"too large: {too_large}"
    try:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        bgr = None
    if bgr is None or bgr.ndim != 3 or bgr.shape[0] == 0 or bgr.shape[1] == 0:
        return None, CORRUPT
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None


def write_png_atomic(path: Path, rgb: np.ndarray) -> None:
    """Write ``rgb`` as a PNG at ``path`` via a temporary file and a rename, so that a
    killed job leaves either the whole image or none (plus, at worst, a ``.tmp`` file)."""
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}{TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(encoded.tobytes())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
