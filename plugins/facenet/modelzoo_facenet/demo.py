"""A deterministic synthetic face-identity data set for the ``demo`` profile.

No real face data ships with the zoo, yet ``modelzoo run facenet --profile demo`` must
train, evaluate with the real LFW protocol code and produce a meaningful accuracy in
minutes on a CPU. This module draws cartoon faces with OpenCV: each identity is a
random draw of face geometry (outline shape and aspect, eye spacing/size/shape, nose,
mouth, brows, ears), colouring (skin, hair colour and style, iris colour) and features
(glasses, beard, moustache, moles, freckles, blush, earrings); each image of an identity
varies in pose (rotation, shift, scale, a slight yaw), expression (smile, open mouth,
blink, gaze), lighting (brightness, colour cast, a gradient), background, clothing,
blur, noise and occlusion (a random rectangle or bar).

Layout written under ``root`` (LFW's own layout and pairs format, so the LFW evaluation
code runs unchanged, only with ``.png`` files)::

    train/<identity>/<n>.png              training identities, a folder each
    lfw/<person>/<person>_%04d.png        test identities, none of them seen in training
    pairs.txt                             LFW View 2 format: "10 <n>", then per fold n
                                          same pairs "name\\ti\\tj" and n different pairs
                                          "name1\\ti\\tname2\\tj" (1-based image numbers)
    DONE.json                             manifest (generator version, seed, parameters,
                                          counts), written last

As in LFW, the people of different folds are disjoint. Everything follows from the seed:
identity ``k`` of a split and image ``n`` of an identity draw from their own
``numpy`` generators, so the bytes do not depend on the number of worker processes.
The set is generated in a temporary folder and renamed into place; a folder without a
matching manifest (an interrupted run, other parameters) is regenerated.

Public API::

    DEMO_DEFAULTS                                   # the demo profile's parameters
    generate_demo_dataset(root, *, seed=0, **params, workers=None, log=None) -> DemoInfo
    read_manifest(root) -> dict | None
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from modelzoo.api import UserError

GENERATOR_VERSION = 2  # bump whenever the drawing changes: existing sets are then regenerated

# Image size 72 with the training crop 64 keeps davidsandberg's crop ratio (160 of 182 =
# 0.88; 64 of 72 = 0.89). 400 identities x 20 images (8000): a MobileNetV1 at width 0.5
# trained with softmax for 128k-192k images (2-3 minutes on 2 free CPU cores) reaches
# 0.947-0.959 on the pairs, an untrained one 0.5 and raw pixels 0.66 (docs/pipeline.md);
# 500 x 16 or 300 x 24 made no clear difference. 150 test identities x 8 images in 10
# folds of 15 people give 100 same + 100 different pairs per fold (2000 pairs), so one
# pair is 0.5 % of a fold's accuracy.
DEMO_DEFAULTS: dict = {
    "train_identities": 400,
    "images_per_identity": 20,
    "test_identities": 150,
    "test_images_per_identity": 8,
    "image_size": 72,
    "pairs_per_fold": 100,
}
DEMO_CROP = 64  # the training/evaluation crop the defaults are made for

_FOLDS = 10
_SS = 2  # draw at twice the size, then area-downsample: smooth edges on tiny faces


@dataclass
class DemoInfo:
    """Where a generated demo set is and what it holds."""

    root: Path
    train_dir: Path
    lfw_dir: Path
    pairs_path: Path
    seed: int
    params: dict
    train_identities: int
    train_images: int
    test_identities: int
    test_images: int
    pairs: int
    image_ext: str = ".png"
    generated: bool = False  # False when an existing complete set was reused
    seconds: float = 0.0
    manifest: dict = field(default_factory=dict)


# --- Identities -----------------------------------------------------------------------

_SKIN_LIGHT = np.array([250, 222, 200], np.float32)  # RGB
_SKIN_DARK = np.array([85, 55, 40], np.float32)
_HAIR = np.array([[25, 20, 18], [60, 40, 28], [110, 75, 45], [160, 120, 70], [215, 185, 120],
                  [150, 60, 30], [150, 150, 150], [230, 230, 225]], np.float32)
_HAIR_P = np.array([0.25, 0.2, 0.15, 0.1, 0.1, 0.07, 0.08, 0.05])
_IRIS = np.array([[70, 45, 25], [35, 25, 20], [60, 110, 170], [70, 120, 70], [110, 120, 125],
                  [120, 95, 45]], np.float32)
_HAIR_STYLES = ("bald", "short", "medium", "long", "fringe", "side", "curly", "receding")


def _rng(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng([seed, *path])


def _identity(seed: int, split: int, k: int) -> dict:
    """Random draw of one identity's fixed traits (all lengths relative to the canvas)."""
    r = _rng(seed, 1000 + split, k)
    u = r.uniform
    a = u(0.27, 0.35)                                    # face half-width: ~60% of the width, like MTCNN crops
    p = {
        "a": a,
        "b": a * u(1.12, 1.45),                          # face half-height
        "cy": u(0.50, 0.55),
        "sq": u(1.7, 3.2),                               # superellipse exponent: round .. square
        "chin": u(0.0, 0.4),                             # narrowing of the lower face
        "skin": np.clip(_SKIN_LIGHT + (_SKIN_DARK - _SKIN_LIGHT) * r.beta(1.6, 1.6)
                        + r.normal(0, 8, 3), 0, 255),
        "ear": u(0.04, 0.08), "ear_y": u(-0.1, 0.15),
        "eye_dx": u(0.30, 0.55), "eye_y": u(-0.30, -0.05), "eye_w": u(0.14, 0.26),
        "eye_asp": u(0.35, 0.7), "eye_tilt": u(-12, 12), "iris": _IRIS[r.integers(len(_IRIS))]
        + r.normal(0, 10, 3), "iris_r": u(0.45, 0.8),
        "brow_gap": u(0.06, 0.2), "brow_len": u(0.22, 0.45), "brow_th": u(0.012, 0.04),
        "brow_tilt": u(-18, 22), "brow_arch": u(-0.02, 0.07), "unibrow": r.random() < 0.06,
        "nose_len": u(0.22, 0.45), "nose_w": u(0.10, 0.26), "nose_style": int(r.integers(3)),
        "mouth_y": u(0.42, 0.68), "mouth_w": u(0.28, 0.62), "lip_th": u(0.015, 0.05),
        "lip": np.clip(r.uniform(0.3, 0.9) * np.array([190, 70, 80]) + r.normal(0, 10, 3), 0, 255),
        "smile": u(-0.015, 0.03),
        "hair": np.clip(_HAIR[r.choice(len(_HAIR), p=_HAIR_P)] + r.normal(0, 12, 3), 0, 255),
        "style": _HAIR_STYLES[r.integers(len(_HAIR_STYLES))],
        "hairline": u(0.45, 0.8), "volume": u(0.02, 0.12), "part": u(-0.6, 0.6),
        "glasses": int(r.integers(1, 3)) if r.random() < 0.25 else 0,
        "glass_col": r.uniform(0, 200, 3), "glass_th": u(0.008, 0.02),
        "beard": int(r.integers(1, 4)) if r.random() < 0.22 else 0,
        "moustache": r.random() < 0.2, "blush": u(0.0, 0.5) if r.random() < 0.3 else 0.0,
        "freckles": r.random() < 0.12, "earring": r.random() < 0.12,
        "moles": [(u(-0.8, 0.8), u(-0.5, 0.8), u(0.012, 0.025))
                  for _ in range(int(r.integers(1, 4)) if r.random() < 0.4 else 0)],
    }
    p["freckle_pts"] = r.uniform(-1, 1, (int(r.integers(12, 30)), 2)) if p["freckles"] else None
    return p


# --- Drawing --------------------------------------------------------------------------

_SHIFT = 4
_ONE = 1 << _SHIFT


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _col(c) -> tuple[float, ...]:
    if np.isscalar(c):
        return (min(max(float(c), 0.0), 255.0),)
    return tuple(min(max(float(v), 0.0), 255.0) for v in c)


def _ellipse(img, c, axes, angle, color, thickness=-1, start=0, end=360) -> None:
    cv2.ellipse(img, _pt(*c), _pt(max(axes[0], 0.5), max(axes[1], 0.5)), float(angle), start, end,
                _col(color), thickness if thickness < 0 else max(1, int(round(thickness))),
                cv2.LINE_AA, _SHIFT)


def _poly(img, pts: np.ndarray, color, closed=True, thickness=-1) -> None:
    ipts = [np.round(pts * _ONE).astype(np.int32).reshape(-1, 1, 2)]
    if thickness < 0:
        cv2.fillPoly(img, ipts, _col(color), cv2.LINE_AA, _SHIFT)
    else:
        cv2.polylines(img, ipts, closed, _col(color), max(1, int(round(thickness))), cv2.LINE_AA, _SHIFT)


_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    if n not in _GRIDS:
        v = np.linspace(-1, 1, n, dtype=np.float32)
        _GRIDS[n] = (v[None, :, None], v[:, None, None])
    return _GRIDS[n]


def _render(p: dict, seed: int, split: int, k: int, n: int, size: int) -> np.ndarray:
    """Image ``n`` of identity ``k``: uint8 RGB ``size x size``."""
    r = _rng(seed, 2000 + split, k, n)
    u = r.uniform
    S = size * _SS

    # background: a per-image colour with a gradient, sometimes a few shapes behind the head
    base = r.uniform(20, 235, 3).astype(np.float32)
    tilt = r.uniform(-40, 40, 3).astype(np.float32)
    ang = u(0, 2 * math.pi)
    gx8, gy8 = _grid(8)  # a linear ramp: compute it on 8x8 and let the bilinear resize fill in
    ramp = np.clip(base + tilt * (math.cos(ang) * gx8 + math.sin(ang) * gy8), 0, 255)
    img = cv2.resize(ramp.astype(np.uint8), (S, S), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(r.integers(0, 3))):
        c = r.uniform(0, 255, 3)
        if r.random() < 0.5:
            _ellipse(img, (u(0, S), u(0, S)), (u(0.05, 0.3) * S, u(0.05, 0.3) * S), u(0, 180), c)
        else:
            x0, y0 = u(0, S), u(0, S)
            _poly(img, np.array([[x0, y0], [x0 + u(-0.4, 0.4) * S, y0],
                                 [x0 + u(-0.4, 0.4) * S, y0 + u(-0.4, 0.4) * S]]), c)

    yaw = u(-0.25, 0.25)
    a, b = p["a"] * S, p["b"] * S
    cx, cy = 0.5 * S + yaw * 0.04 * S, p["cy"] * S

    def fx(x_rel: float, depth: float) -> float:
        """Canvas x of a feature at x_rel half-widths from the midline, turned by the yaw."""
        squeeze = 1.0 - 0.35 * yaw * np.sign(x_rel)
        return cx + x_rel * a * squeeze + yaw * depth * a

    skin = p["skin"] * r.uniform(0.97, 1.03, 3)
    shade = skin * 0.78
    hair = p["hair"] * r.uniform(0.93, 1.07, 3)
    style = p["style"]

    # hair behind the head and shoulders
    if style in ("long", "curly"):
        _ellipse(img, (cx, cy + 0.25 * b), (a * 1.25, b * 1.25), 0, hair, start=180, end=360)
        _poly(img, np.array([[cx - a * 1.25, cy + 0.25 * b], [cx + a * 1.25, cy + 0.25 * b],
                             [cx + a * 1.15, cy + b * 1.35], [cx - a * 1.15, cy + b * 1.35]]), hair)
    cloth = r.uniform(0, 255, 3)
    _poly(img, np.array([[cx - a * 0.45, cy + b * 0.6], [cx + a * 0.45, cy + b * 0.6],
                         [cx + a * 0.5, cy + b * 1.2], [cx - a * 0.5, cy + b * 1.2]]), shade)
    _ellipse(img, (cx, cy + b * 1.55), (a * 2.0, b * 0.6), 0, cloth)
    if p["earring"]:
        for s in (-1, 1):
            _ellipse(img, (fx(s * 1.02, 0), cy + (p["ear_y"] + 0.28) * b), (0.02 * S, 0.02 * S), 0,
                     (230, 200, 60))
    # ears, then the face outline (superellipse, narrowed towards the chin)
    for s in (-1, 1):
        _ellipse(img, (fx(s * 1.0, 0), cy + p["ear_y"] * b), (p["ear"] * S * (1 - 0.4 * yaw * s),
                 p["ear"] * S * 1.7), 0, shade)
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    ct, st = np.cos(t), np.sin(t)
    ex = np.sign(ct) * np.abs(ct) ** (2 / p["sq"])
    ey = np.sign(st) * np.abs(st) ** (2 / p["sq"])
    ex = ex * (1 - p["chin"] * np.clip(ey, 0, 1) ** 2)
    xs = cx + ex * a * (1 - 0.35 * yaw * np.sign(ex))
    face = np.stack([xs, cy + ey * b], 1)
    _poly(img, face, skin)
    if p["blush"] > 0:
        for s in (-1, 1):
            _ellipse(img, (fx(s * 0.5, 0.2), cy + 0.25 * b), (0.1 * a, 0.07 * a), 0,
                     skin * (1 - p["blush"] * 0.3) + np.array([200, 60, 60]) * p["blush"] * 0.3)
    # hair on the head: a cap minus the uncovered forehead, blended through a mask so
    # the features drawn next stay on top
    if style != "bald":
        hl = cy - p["hairline"] * b
        top = cy - b - p["volume"] * S
        mid = cy - 0.1 * b
        mask = np.zeros((S, S), np.uint8)
        _ellipse(mask, (cx, mid), (a * 1.07, mid - top), 0, 255, start=180, end=360)
        if style == "curly":
            for t_ in np.linspace(math.pi * 0.95, math.pi * 2.05, 14):
                _ellipse(mask, (cx + a * 1.07 * math.cos(t_), mid + (mid - top) * math.sin(t_)),
                         (0.05 * S, 0.05 * S), 0, 255)
        part = p["part"] * a if style == "side" else 0.0
        if style == "receding":
            fh_w, fh_top = a * 0.8, top + 0.04 * S
        else:
            fh_w, fh_top = a * 0.93, hl + (0.12 * b if style == "fringe" else 0.0)
        _ellipse(mask, (cx + part * 0.3, cy - 0.02 * b), (fh_w, (cy - 0.02 * b) - fh_top), 0, 0,
                 start=180, end=360)
        if style == "side":  # a swept lock from the parting across the forehead
            sgn = 1.0 if part >= 0 else -1.0
            _poly(mask, np.array([[cx + part, top + 0.03 * S], [cx + part + sgn * 0.15 * a, fh_top + 0.05 * b],
                                  [cx - sgn * 0.95 * a, hl + 0.15 * b], [cx - sgn * 1.0 * a, hl - 0.1 * b]]), 255)
        x0, y0, bw, bh = cv2.boundingRect(mask)  # blend only where the hair is
        if bw and bh:
            roi = img[y0:y0 + bh, x0:x0 + bw]
            alpha = mask[y0:y0 + bh, x0:x0 + bw, None].astype(np.float32) * (1.0 / 255)
            roi[:] = (roi + (hair.astype(np.float32) - roi) * alpha + 0.5).astype(np.uint8)

    # beard: a band around the jaw
    if p["beard"]:
        lower = face[(face[:, 1] > cy + (0.15 if p["beard"] != 3 else 0.45) * b)]
        mouth_y = cy + p["mouth_y"] * b
        if p["beard"] == 3:  # goatee
            pts = np.array([[fx(-0.3, 0.3), mouth_y + 0.05 * b], [fx(0.3, 0.3), mouth_y + 0.05 * b],
                            [fx(0.2, 0.3), cy + 0.98 * b], [fx(-0.2, 0.3), cy + 0.98 * b]])
        else:
            inner = np.array([[fx(0.6, 0.3), mouth_y - 0.05 * b], [fx(-0.6, 0.3), mouth_y - 0.05 * b]])
            pts = np.concatenate([lower[np.argsort(np.arctan2(lower[:, 1] - cy, lower[:, 0] - cx))], inner])
        beard_col = hair if p["beard"] != 2 else skin * 0.6 + hair * 0.4  # 2: stubble
        _poly(img, pts, beard_col)
    # mouth with a per-image expression
    my = cy + p["mouth_y"] * b
    mw = p["mouth_w"] * a
    smile = (p["smile"] + u(-0.012, 0.02)) * S
    opened = r.random() < 0.2
    mcx = fx(0.0, 0.3)
    if opened:
        _ellipse(img, (mcx, my + 0.01 * S), (mw * 0.8, 0.03 * S + max(smile, 0) * 0.5), 0, (60, 20, 25))
    pts = np.array([[mcx - mw, my - smile], [mcx - mw * 0.5, my + smile * 0.3], [mcx, my + smile * 0.5],
                    [mcx + mw * 0.5, my + smile * 0.3], [mcx + mw, my - smile]])
    _poly(img, pts, p["lip"], closed=False, thickness=p["lip_th"] * S)
    if p["moustache"]:
        _poly(img, np.array([[mcx - mw * 0.9, my - 0.02 * S], [mcx, my - 0.06 * S],
                             [mcx + mw * 0.9, my - 0.02 * S]]), hair, closed=False, thickness=0.035 * S)
    # nose
    ny0 = cy + p["eye_y"] * b + 0.05 * b
    ny1 = ny0 + p["nose_len"] * b
    nw = p["nose_w"] * a
    tip = fx(0.0, 0.6)
    if p["nose_style"] == 0:
        _poly(img, np.array([[fx(0, 0.3), ny0], [tip + nw, ny1], [tip - nw, ny1]]), shade)
    elif p["nose_style"] == 1:
        _poly(img, np.array([[fx(0.05, 0.3), ny0], [tip + nw * 0.3, ny1]]), shade, closed=False,
              thickness=0.015 * S)
        for s in (-1, 1):
            _ellipse(img, (tip + s * nw * 0.6, ny1), (nw * 0.3, nw * 0.2), 0, shade * 0.7)
    else:
        _ellipse(img, (tip, ny1 - nw * 0.3), (nw, nw * 0.7), 0, shade)
    # eyes (with blink and gaze), brows
    ey0 = cy + p["eye_y"] * b
    ew = p["eye_w"] * a * 2
    blink = r.random() < 0.05
    gaze = (u(-0.25, 0.25), u(-0.15, 0.15))
    brow_col = hair * 0.7
    for s in (-1, 1):
        ecx = fx(s * p["eye_dx"] * 2, 0.25)
        w_s = ew * (1 - 0.35 * yaw * s)
        tilt = s * p["eye_tilt"]
        if blink:
            _ellipse(img, (ecx, ey0), (w_s, 0.01 * S), tilt, (40, 30, 30))
        else:
            eh = ew * p["eye_asp"]
            _ellipse(img, (ecx, ey0), (w_s, eh), tilt, (245, 245, 240))
            ir = eh * p["iris_r"] * 1.1
            icx, icy = ecx + gaze[0] * w_s, ey0 + gaze[1] * eh
            _ellipse(img, (icx, icy), (ir, ir), 0, p["iris"])
            _ellipse(img, (icx, icy), (ir * 0.45, ir * 0.45), 0, (10, 10, 10))
            _ellipse(img, (ecx, ey0), (w_s, eh), tilt, (40, 30, 30), thickness=max(1, 0.008 * S))
        by = ey0 - ew * p["eye_asp"] - p["brow_gap"] * b
        bl = p["brow_len"] * a
        inner_x, outer_x = fx(s * (p["eye_dx"] * 2 - p["brow_len"] * 0.6), 0.25), fx(s * (p["eye_dx"] * 2 + p["brow_len"] * 0.6), 0.25)
        rise = math.tan(math.radians(p["brow_tilt"])) * bl
        pts = np.array([[inner_x, by], [(inner_x + outer_x) / 2, by - p["brow_arch"] * S - rise * 0.5],
                        [outer_x, by - rise]])
        _poly(img, pts, brow_col, closed=False, thickness=p["brow_th"] * S)
    if p["unibrow"]:
        by = ey0 - ew * p["eye_asp"] - p["brow_gap"] * b
        _poly(img, np.array([[fx(-0.3, 0.25), by], [fx(0.3, 0.25), by]]), brow_col, closed=False,
              thickness=p["brow_th"] * S)
    # skin marks
    for mx, my_, mr in p["moles"]:
        _ellipse(img, (fx(mx, 0.2), cy + my_ * b), (mr * S, mr * S), 0, (70, 45, 35))
    if p["freckle_pts"] is not None:
        for fxr, fyr in p["freckle_pts"]:
            _ellipse(img, (fx(fxr * 0.6, 0.2), cy + (0.15 + 0.12 * fyr) * b), (0.006 * S, 0.006 * S), 0,
                     skin * 0.7)
    # glasses (worn in most, not all, images)
    if p["glasses"] and r.random() < 0.95:
        th = p["glass_th"] * S
        rad = ew * 1.45
        for s in (-1, 1):
            c = (fx(s * p["eye_dx"] * 2, 0.3), ey0)
            if p["glasses"] == 1:
                _ellipse(img, c, (rad * (1 - 0.35 * yaw * s), rad * 0.85), 0, p["glass_col"], thickness=th)
            else:
                w_s = rad * (1 - 0.35 * yaw * s)
                _poly(img, np.array([[c[0] - w_s, c[1] - rad * 0.7], [c[0] + w_s, c[1] - rad * 0.7],
                                     [c[0] + w_s, c[1] + rad * 0.7], [c[0] - w_s, c[1] + rad * 0.7]]),
                      p["glass_col"], thickness=th)
        _poly(img, np.array([[fx(-p["eye_dx"] * 2 + 0.3, 0.3), ey0 - rad * 0.3],
                             [fx(p["eye_dx"] * 2 - 0.3, 0.3), ey0 - rad * 0.3]]), p["glass_col"],
              closed=False, thickness=th)
    # pose: rotation, scale and shift about the canvas centre
    M = cv2.getRotationMatrix2D((S / 2, S / 2), u(-10, 10), u(0.9, 1.1))
    M[:, 2] += r.uniform(-0.05, 0.05, 2) * S
    img = cv2.warpAffine(img, M, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    # occlusion: a random rectangle or a bar across the face
    if r.random() < 0.1:
        c = r.uniform(0, 255, 3)
        if r.random() < 0.5:
            x0, y0 = u(0.1, 0.7) * S, u(0.1, 0.7) * S
            cv2.rectangle(img, (int(x0), int(y0)), (int(x0 + u(0.12, 0.3) * S), int(y0 + u(0.12, 0.3) * S)),
                          _col(c), -1)
        else:
            y0 = u(0.3, 0.8) * S
            cv2.line(img, (0, int(y0)), (S, int(y0 + u(-0.2, 0.2) * S)), _col(c), int(u(0.04, 0.1) * S))
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)

    # lighting: brightness, colour cast, a directional gradient; then blur and sensor noise
    gx, gy = _grid(size)
    ang = u(0, 2 * math.pi)
    gain = (u(0.7, 1.25) * r.uniform(0.9, 1.1, 3)).astype(np.float32)
    light = 1.0 + u(0.0, 0.35) * (math.cos(ang) * gx + math.sin(ang) * gy)
    out = img.astype(np.float32) * gain * light
    if r.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), u(0.3, 1.0))
    noise_sigma = u(0, 6)
    out += r.standard_normal(out.shape, dtype=np.float32) * noise_sigma
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def render_identity_images(seed: int, split: int, k: int, count: int, size: int) -> list[np.ndarray]:
    """``count`` images (uint8 RGB) of identity ``k`` of ``split`` (0 train, 1 test)."""
    p = _identity(seed, split, k)
    return [_render(p, seed, split, k, n, size) for n in range(count)]


# --- The data set ---------------------------------------------------------------------

def _train_name(k: int) -> str:
    return f"id_{k:05d}"


def _test_name(k: int) -> str:
    return f"Person_{k:04d}"


def _write_identity(job: tuple) -> int:
    seed, split, k, count, size, folder, name_fmt = job
    cv2.setNumThreads(1)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for n, image in enumerate(render_identity_images(seed, split, k, count, size)):
        # compression 1: fast to write and read back, still lossless
        cv2.imwrite(str(folder / name_fmt.format(n=n, n1=n + 1)), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return count


def make_pairs(seed: int, names: list[str], images_per_person: int, pairs_per_fold: int,
               folds: int = _FOLDS) -> list[list[tuple]]:
    """LFW View 2 pairs: per fold, ``pairs_per_fold`` same then as many different pairs.

    People are dealt to folds round-robin, so no person appears in two folds (as in LFW).
    Same pairs are ``(name, i, j)`` with ``i < j``; different pairs ``(name1, i, name2, j)``
    with ``name1 < name2``; image numbers are 1-based; no pair repeats.
    """
    r = _rng(seed, 3000)
    n_img = images_per_person
    out = []
    for f in range(folds):
        people = sorted(names[f::folds])
        if len(people) < 2 or n_img < 2:
            raise ValueError("each fold needs at least 2 people with 2 images each")
        max_same = len(people) * n_img * (n_img - 1) // 2
        max_diff = len(people) * (len(people) - 1) // 2 * n_img * n_img
        if pairs_per_fold > min(max_same, max_diff):
            raise ValueError(f"pairs_per_fold={pairs_per_fold} exceeds the {min(max_same, max_diff)} "
                             f"distinct pairs {len(people)} people x {n_img} images allow; "
                             "raise test_identities or test_images_per_identity")
        same: set[tuple] = set()
        while len(same) < pairs_per_fold:
            i, j = sorted(r.choice(n_img, 2, replace=False) + 1)
            same.add((people[int(r.integers(len(people)))], int(i), int(j)))
        diff: set[tuple] = set()
        while len(diff) < pairs_per_fold:
            p1, p2 = sorted(r.choice(len(people), 2, replace=False))
            diff.add((people[p1], int(r.integers(n_img)) + 1, people[p2], int(r.integers(n_img)) + 1))
        # sets are unordered: fix the order by the draw-independent sort
        out.append(sorted(same) + sorted(diff))
    return out


def read_manifest(root: str | os.PathLike) -> Optional[dict]:
    """The ``DONE.json`` of a complete set under ``root``, or None."""
    path = Path(root) / "DONE.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


_OURS = {"train", "lfw", "pairs.txt", "DONE.json"}


def _params(seed: int, overrides: dict) -> dict:
    unknown = set(overrides) - set(DEMO_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown demo parameters: {sorted(unknown)}")
    params = {**DEMO_DEFAULTS, **{k: int(v) for k, v in overrides.items() if v is not None}}
    if params["image_size"] < 16 or params["train_identities"] < 1 or params["images_per_identity"] < 1:
        raise ValueError(f"bad demo parameters: {params}")
    if params["test_identities"] < 2 * _FOLDS:
        raise ValueError(f"test_identities must be at least {2 * _FOLDS} (2 people per fold)")
    return params


def _info(root: Path, manifest: dict, generated: bool, seconds: float) -> DemoInfo:
    c = manifest["counts"]
    return DemoInfo(root=root, train_dir=root / "train", lfw_dir=root / "lfw", pairs_path=root / "pairs.txt",
                    seed=manifest["seed"], params=dict(manifest["params"]),
                    train_identities=c["train_identities"], train_images=c["train_images"],
                    test_identities=c["test_identities"], test_images=c["test_images"], pairs=c["pairs"],
                    generated=generated, seconds=seconds, manifest=manifest)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temps(root: Path) -> None:
    """Delete the temporary folders of earlier generations that were killed."""
    for prefix in (f".{root.name}.tmp-", f".{root.name}.old-"):
        for path in root.parent.glob(prefix + "*"):
            suffix = path.name[len(prefix):]
            if suffix.isdigit() and (int(suffix) == os.getpid() or not _pid_alive(int(suffix))):
                shutil.rmtree(path, ignore_errors=True)


def generate_demo_dataset(root: str | os.PathLike, *, seed: int = 0, train_identities: Optional[int] = None,
                          images_per_identity: Optional[int] = None, test_identities: Optional[int] = None,
                          test_images_per_identity: Optional[int] = None, image_size: Optional[int] = None,
                          pairs_per_fold: Optional[int] = None, workers: Optional[int] = None,
                          log: Optional[Callable[[str], None]] = None) -> DemoInfo:
    """Generate (or reuse) the synthetic demo set under ``root``; see the module docstring.

    Parameters left ``None`` take :data:`DEMO_DEFAULTS`. A complete set whose manifest has
    the same generator version, seed and parameters is reused as is. Otherwise the set is
    generated in a sibling temporary folder (``workers`` processes, default up to 4 and
    the CPU count) and swapped in; an existing ``root`` is replaced only when it holds
    nothing but a demo set's files (refusing to delete anything else).
    """
    root = Path(root)
    params = _params(seed, {"train_identities": train_identities, "images_per_identity": images_per_identity,
                            "test_identities": test_identities,
                            "test_images_per_identity": test_images_per_identity,
                            "image_size": image_size, "pairs_per_fold": pairs_per_fold})
    wanted = {"generator": "modelzoo_facenet.demo", "version": GENERATOR_VERSION, "seed": int(seed),
              "params": params}
    manifest = read_manifest(root)
    if manifest and all(manifest.get(k) == v for k, v in wanted.items()):
        return _info(root, manifest, generated=False, seconds=0.0)
    if root.exists():
        if not root.is_dir() or not {e.name for e in root.iterdir()} <= _OURS:
            raise UserError(f"{root} exists and is not a demo data set; "
                            "choose an empty or new folder for the demo data")

    started = time.perf_counter()
    size = params["image_size"]
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(root)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        train_names = [_train_name(k) for k in range(params["train_identities"])]
        test_names = [_test_name(k) for k in range(params["test_identities"])]
        jobs = [(seed, 0, k, params["images_per_identity"], size, str(tmp / "train" / name), "{n}.png")
                for k, name in enumerate(train_names)]
        jobs += [(seed, 1, k, params["test_images_per_identity"], size, str(tmp / "lfw" / name),
                  name + "_{n1:04d}.png") for k, name in enumerate(test_names)]
        pairs = make_pairs(seed, test_names, params["test_images_per_identity"], params["pairs_per_fold"])
        total = sum(j[3] for j in jobs)
        n_workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        if log:
            log(f"generating the synthetic demo set: {total} images of {size}x{size} "
                f"({n_workers} workers) in {root}")
        done = 0
        if n_workers > 1:
            # spawn, not fork: the parent may hold torch/OpenMP/OpenCV threads that a fork
            # would copy mid-state. A __main__ without an import guard breaks spawn: then
            # generate here (the output does not depend on the worker count).
            try:
                with ProcessPoolExecutor(n_workers, mp_context=get_context("spawn")) as pool:
                    done = sum(pool.map(_write_identity, jobs, chunksize=4))
            except BrokenProcessPool:
                if log:
                    log("demo generation: worker processes failed to start; generating in this process")
                done = 0
        if done == 0:
            done = sum(_write_identity(j) for j in jobs)
        assert done == total
        lines = [f"{_FOLDS}\t{params['pairs_per_fold']}"]
        for fold in pairs:
            lines.extend("\t".join(str(v) for v in pair) for pair in fold)
        (tmp / "pairs.txt").write_text("\n".join(lines) + "\n")
        manifest = {**wanted, "counts": {
            "train_identities": len(train_names), "train_images": params["train_identities"] * params["images_per_identity"],
            "test_identities": len(test_names), "test_images": params["test_identities"] * params["test_images_per_identity"],
            "pairs": 2 * _FOLDS * params["pairs_per_fold"]},
            "layout": {"train": "train/<identity>/<n>.png", "lfw": "lfw/<person>/<person>_%04d.png",
                       "pairs": "pairs.txt"}, "crop": DEMO_CROP}
        (tmp / "DONE.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        if root.exists():
            trash = root.parent / f".{root.name}.old-{os.getpid()}"
            os.rename(root, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.rename(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - started
    if log:
        log(f"generated {total} images in {seconds:.1f}s")
    return _info(root, manifest, generated=True, seconds=seconds)
