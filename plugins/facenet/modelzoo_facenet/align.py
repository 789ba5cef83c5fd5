"""Faces aligned from MTCNN's five landmarks: the 112x112 and 112x96 crops.

ArcFace/InsightFace and SphereFace/CosFace do not crop a margin around the face box, as
davidsandberg's FaceNet does (:mod:`modelzoo_facenet.crop`): they warp the image by the
similarity transform (rotation, uniform scale, translation) that carries the five
landmarks MTCNN's ONet gives (left eye, right eye, nose, left and right mouth corner)
closest, in least squares, onto a fixed template, and sample the output there.

The templates, in output pixels ``(x, y)``:

- 112x112 (ArcFace, MobileFaceNet): (38.2946, 51.6963), (73.5318, 51.5014),
  (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041). These are ``arcface_src``
  in deepinsight/insightface, ``python-package/insightface/utils/face_align.py``, the
  points its ``norm_crop`` warps onto a 112x112 crop.
- 112x96 (112 high, 96 wide; SphereFace, CosFace): the same points with x minus 8,
  (30.2946, 51.6963), ...: ``ref_pts`` of clcarwin/sphereface_pytorch's ``lfw_eval.py``,
  warped into a ``crop_size = (96, 112)`` (width, height) image; InsightFace's
  112x112 template is this one with 8 added to x.

Sizes are written ``HxW`` (height first), as the recipes name them ("112 x 96").
The transform is fitted by Umeyama's closed form (:func:`similarity_transform`) and
applied with OpenCV's ``warpAffine`` (bilinear, black outside the image), the same
arithmetic as those projects' skimage/OpenCV calls but written here.

This module also names the aligned sets' folders and the ``prepare`` option that builds
each size (:func:`aligned_dir`, :func:`prepare_option_for`): the one home of those names
for the prepare job and for a model asking for data at a size that is not prepared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

# The aligned sizes, (height, width) -> template (5, 2) of (x, y) output pixels.
_ARCFACE_112 = ((38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366),
                (41.5493, 92.3655), (70.7299, 92.2041))
TEMPLATES: dict[tuple[int, int], np.ndarray] = {
    (112, 112): np.array(_ARCFACE_112, dtype=np.float64),
    (112, 96): np.array(_ARCFACE_112, dtype=np.float64) - np.array([8.0, 0.0]),
}
ALIGNED_SIZES: tuple[tuple[int, int], ...] = tuple(TEMPLATES)

# The prepare option that selects aligned sizes, and the words it takes besides sizes.
ALIGNED_OPTION = "--aligned"
ALL, NONE = "all", "none"

# Five landmarks whose spread across their best-fitting line is under this fraction of
# their spread along it are taken as collinear: no face's eyes, nose and mouth are.
COLLINEAR_RATIO = 0.02

# Where the 112x112 crop sits on LFW deep-funneled images (250x250; 80 images, one per
# 60th person, measured with our MTCNN): its side is 0.53 of the shorter image side
# (p10-p90: 0.50-0.57) and its centre 0.03 of that side above the image centre. The
# fallback for an image without a face (:func:`fallback_landmarks`) frames it so.
FALLBACK_SIDE = 0.53
FALLBACK_RAISE = 0.03


class AlignmentError(ValueError):
    """Points no similarity transform can be fitted to (the message says why)."""


# --- Names -----------------------------------------------------------------------------

def size_name(size: Sequence[int]) -> str:
    """``(112, 96)`` -> ``"112x96"`` (height x width)."""
    height, width = (int(v) for v in size)
    return f"{height}x{width}"


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """The value of ``--aligned``: ``"all"``, ``"none"`` or comma-separated sizes among
    :data:`ALIGNED_SIZES` (``"112x112,112x96"``). Returns the sizes in
    :data:`ALIGNED_SIZES` order; raises ``ValueError`` naming the choices."""
    words = [w.strip().lower() for w in str(text).split(",") if w.strip()]
    if words == [ALL]:
        return ALIGNED_SIZES
    if words == [NONE]:
        return ()
    choices = {size_name(s): s for s in ALIGNED_SIZES}
    unknown = [w for w in words if w not in choices]
    if unknown or not words:
        raise ValueError(f"unknown aligned size {', '.join(unknown) or repr(text)}; choose "
                         f"{', '.join(choices)} (comma-separated), {ALL} or {NONE}")
    wanted = {choices[w] for w in words}
    return tuple(s for s in ALIGNED_SIZES if s in wanted)


def aligned_dir(set_name: str, size: Sequence[int]) -> str:
    """Folder of an aligned set relative to the data root: ``("lfw", (112, 96))`` ->
    ``"lfw_data/lfw_112x96"``, ``("casia", (112, 112))`` -> ``"webface_112x112"``."""
    name = size_name(size)
    if set_name == "lfw":
        return f"lfw_data/lfw_{name}"
    if set_name == "casia":
        return f"webface_{name}"
    raise ValueError(f"unknown face set {set_name!r}; choose lfw or casia")


def prepare_option_for(size: Sequence[int], set_name: str = "lfw") -> str:
    """The ``modelzoo prepare facenet`` option that builds data of ``size`` (height, width).

    ``(112, 96)`` -> ``"--aligned 112x96"`` (either set); a square size that is not an
    aligned one is the box crop's: ``(160, 160)`` -> ``"--lfw-size 160"``,
    ``(182, 182), "casia"`` -> ``"--casia-size 182"``. A non-square size without a
    template raises ``ValueError``.
    """
    size = tuple(int(v) for v in size)
    if size in TEMPLATES:
        return f"{ALIGNED_OPTION} {size_name(size)}"
    if set_name not in ("lfw", "casia"):
        raise ValueError(f"unknown face set {set_name!r}; choose lfw or casia")
    if len(size) == 2 and size[0] == size[1] and size[0] > 0:
        return f"--{set_name}-size {size[0]}"
    raise ValueError(f"no prepare option builds {size_name(size)} faces; aligned sizes are "
                     f"{', '.join(size_name(s) for s in ALIGNED_SIZES)}, box crops are square")


# --- The transform ---------------------------------------------------------------------

def _points(values: Iterable, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise AlignmentError(f"{what} must be (n, 2) (x, y) points, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise AlignmentError(f"{what} hold non-finite values")
    return arr


def similarity_transform(src: Iterable, dst: Iterable) -> np.ndarray:
    """The 2x3 matrix ``[c R | t]`` minimising ``sum |c R src_i + t - dst_i|^2``.

    Rotation ``R`` (no reflection), uniform scale ``c > 0``, translation ``t``, by
    Umeyama's closed form (IEEE TPAMI 13(4), 1991): with the centred point sets and
    their cross-covariance ``Sigma = U D V^T``, ``R = U S V^T`` where ``S`` flips the
    last axis when ``det(U) det(V) < 0``, ``c = trace(D S) / var(src)``,
    ``t = mean(dst) - c R mean(src)``. Two distinct points determine it exactly; more
    give the least-squares fit. Collinear points are valid here (two points always
    are); :func:`check_landmarks` rejects collinear face landmarks.

    Raises :class:`AlignmentError` for fewer than two points, unequal counts,
    non-finite values, source points that all coincide (no scale can be fitted) or
    target points that all coincide (the fit would collapse to a point).
    """
    x = _points(src, "source points")
    y = _points(dst, "target points")
    if x.shape != y.shape:
        raise AlignmentError(f"{x.shape[0]} source points but {y.shape[0]} target points")
    if x.shape[0] < 2:
        raise AlignmentError("a similarity transform needs at least 2 points")
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    var_x = float((xc * xc).sum(axis=1).mean())
    scale_x = float(np.abs(xc).max())
    if var_x <= (1e-9 * max(1.0, float(np.abs(x).max()))) ** 2 or scale_x == 0.0:
        raise AlignmentError("source points coincide: no scale or rotation can be fitted")
    sigma = yc.T @ xc / x.shape[0]
    u, d, vt = np.linalg.svd(sigma)
    s = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        s[1] = -1.0
    rotation = (u * s) @ vt
    scale = float((d * s).sum() / var_x)
    if not scale > 1e-12:
        raise AlignmentError("target points coincide: the fit collapses every point to one")
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = my - scale * rotation @ mx
    return matrix


def apply_transform(matrix: np.ndarray, points: Iterable) -> np.ndarray:
    """``points`` (n, 2) mapped by a 2x3 affine ``matrix``."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


def check_landmarks(landmarks) -> np.ndarray:
    """MTCNN's five (x, y) landmarks as a (5, 2) float64 array, or :class:`AlignmentError`
    saying why they cannot be aligned (missing, wrong shape, non-finite, coincident or
    collinear: spread across their best line under :data:`COLLINEAR_RATIO` of the spread
    along it)."""
    if landmarks is None:
        raise AlignmentError("no landmarks")
    arr = np.asarray(landmarks, dtype=np.float64)
    if arr.size == 0:
        raise AlignmentError("no landmarks")
    if arr.shape != (5, 2):
        raise AlignmentError(f"expected 5 (x, y) landmarks, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise AlignmentError("landmarks hold non-finite values")
    spread = np.linalg.svd(arr - arr.mean(axis=0), compute_uv=False)
    if spread[0] <= 1e-9:
        raise AlignmentError("landmarks coincide")
    if spread[1] < COLLINEAR_RATIO * spread[0]:
        raise AlignmentError("landmarks are collinear")
    return arr


def fallback_landmarks(image_shape: Sequence[int]) -> np.ndarray:
    """Five landmarks for an image without a face: where the 112x112 template lands when
    the face sits as LFW's do (:data:`FALLBACK_SIDE`, :data:`FALLBACK_RAISE`), so that a
    centre crop of any aligned size is framed roughly like the aligned faces around it."""
    height, width = image_shape[0], image_shape[1]
    short = min(height, width)
    centre = np.array([(width - 1) / 2, (height - 1) / 2 - FALLBACK_RAISE * short])
    source_per_output = FALLBACK_SIDE * short / 112
    return centre + (TEMPLATES[(112, 112)] - (112 - 1) / 2) * source_per_output


# --- The warp --------------------------------------------------------------------------

def align_face(image: np.ndarray, landmarks, size: Sequence[int]) -> np.ndarray:
    """``image`` (H x W x C uint8) warped so that ``landmarks`` land on ``size``'s template.

    ``size`` is ``(height, width)`` among :data:`ALIGNED_SIZES`. Pixels outside the
    source image are black. When the transform shrinks the face by more than 2x (a big
    photo), the image is first reduced with ``INTER_AREA`` so that bilinear sampling
    does not alias; the landmarks still land on the template. Raises
    :class:`AlignmentError` for landmarks :func:`check_landmarks` rejects.
    """
    import cv2

    size = tuple(int(v) for v in size)
    if size not in TEMPLATES:
        raise ValueError(f"no template for {size_name(size)}; aligned sizes are "
                         f"{', '.join(size_name(s) for s in ALIGNED_SIZES)}")
    points = check_landmarks(landmarks)
    matrix = similarity_transform(points, TEMPLATES[size])
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    if scale < 0.5:
        h, w = image.shape[:2]
        small = (max(1, round(w * scale)), max(1, round(h * scale)))
        rx, ry = small[0] / w, small[1] / h
        image = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        # cv2.resize maps pixel centres: x' = (x + 0.5) * r - 0.5.
        points = (points + 0.5) * np.array([rx, ry]) - 0.5
        matrix = similarity_transform(points, TEMPLATES[size])
    height, width = size
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
