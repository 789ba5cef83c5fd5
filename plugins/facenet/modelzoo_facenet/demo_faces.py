"""Cartoon faces for the synthetic demo set, drawn with OpenCV from a seed.

Each identity is a random draw of face geometry (outline shape and aspect, eye
spacing/size/shape, nose, mouth, brows, ears), colouring (skin, hair colour and style,
iris colour) and features (glasses, beard, moustache, moles, freckles, blush, earrings);
each image of an identity varies in pose (rotation, shift, scale, a slight yaw),
expression (smile, open mouth, blink, gaze), lighting (brightness, colour cast, a
gradient), background, clothing, blur, noise and occlusion (a random rectangle or bar).

Identity ``k`` of a split and image ``n`` of an identity draw from their own ``numpy``
generators (:func:`seeded_generator`), so an image depends on nothing but its seed path.
Within one image the draws come in a fixed order (background, head, features, pose,
occlusion, lighting): reordering them changes every image, so a change here bumps
``demo.GENERATOR_VERSION``. The data set built from these images is
:mod:`modelzoo_facenet.demo`.

Public API::

    render_identity_images(seed, split, identity, count, size) -> list of uint8 RGB images
    seeded_generator(seed, *path) -> numpy Generator
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

_SS = 2  # draw at twice the size, then area-downsample: smooth edges on tiny faces


def seeded_generator(seed: int, *path: int) -> np.random.Generator:
    """The generator of one thing drawn from ``seed`` (an identity, an image, the pairs)."""
    return np.random.default_rng([seed, *path])


# --- Identities -----------------------------------------------------------------------

_SKIN_LIGHT = np.array([250, 222, 200], np.float32)  # RGB
_SKIN_DARK = np.array([85, 55, 40], np.float32)
_HAIR = np.array([[25, 20, 18], [60, 40, 28], [110, 75, 45], [160, 120, 70], [215, 185, 120],
                  [150, 60, 30], [150, 150, 150], [230, 230, 225]], np.float32)
_HAIR_P = np.array([0.25, 0.2, 0.15, 0.1, 0.1, 0.07, 0.08, 0.05])
_IRIS = np.array([[70, 45, 25], [35, 25, 20], [60, 110, 170], [70, 120, 70], [110, 120, 125],
                  [120, 95, 45]], np.float32)
_HAIR_STYLES = ("bald", "short", "medium", "long", "fringe", "side", "curly", "receding")


def identity_traits(seed: int, split: int, k: int) -> dict:
    """Random draw of one identity's fixed traits (all lengths relative to the canvas)."""
    r = seeded_generator(seed, 1000 + split, k)
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


# --- One image -------------------------------------------------------------------------
#
# The functions below draw one image, called in turn by _render_image. They share one
# generator: each must keep its draws and their order, or every image changes (the demo
# set's bytes are pinned by tests/facenet/test_demo.py).


@dataclass
class _Head:
    """One image's head on the drawing canvas (``side`` x ``side`` px): place, turn, colours."""

    side: int
    half_w: float          # face half-width
    half_h: float          # face half-height
    cx: float              # face centre
    cy: float
    yaw: float             # -0.25..0.25: the head turned left or right
    skin: np.ndarray
    shade: np.ndarray      # skin in shadow: neck, ears, nose
    hair: np.ndarray
    outline: np.ndarray    # the face outline, (72, 2) canvas points
    eye_y: float           # the eyes' line
    eye_half_w: float
    mouth_y: float

    def x_at(self, x_rel: float, depth: float) -> float:
        """Canvas x of a feature at ``x_rel`` half-widths from the midline, turned by the
        yaw; ``depth`` (in half-widths) is how far in front of the ears it sits."""
        squeeze = 1.0 - 0.35 * self.yaw * np.sign(x_rel)
        return self.cx + x_rel * self.half_w * squeeze + self.yaw * depth * self.half_w


def _draw_background(rng: np.random.Generator, side: int) -> np.ndarray:
    """A new canvas: a per-image colour with a gradient, sometimes a few shapes."""
    base = rng.uniform(20, 235, 3).astype(np.float32)
    slope = rng.uniform(-40, 40, 3).astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    gx8, gy8 = _grid(8)  # a linear ramp: compute it on 8x8 and let the bilinear resize fill in
    ramp = np.clip(base + slope * (math.cos(direction) * gx8 + math.sin(direction) * gy8), 0, 255)
    img = cv2.resize(ramp.astype(np.uint8), (side, side), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.integers(0, 3))):
        colour = rng.uniform(0, 255, 3)
        if rng.random() < 0.5:
            centre = (rng.uniform(0, side), rng.uniform(0, side))
            axes = (rng.uniform(0.05, 0.3) * side, rng.uniform(0.05, 0.3) * side)
            _ellipse(img, centre, axes, rng.uniform(0, 180), colour)
        else:
            x0, y0 = rng.uniform(0, side), rng.uniform(0, side)
            _poly(img, np.array([[x0, y0], [x0 + rng.uniform(-0.4, 0.4) * side, y0],
                                 [x0 + rng.uniform(-0.4, 0.4) * side, y0 + rng.uniform(-0.4, 0.4) * side]]),
                  colour)
    return img


def _face_outline(traits: dict, cx: float, cy: float, half_w: float, half_h: float,
                  yaw: float) -> np.ndarray:
    """A superellipse narrowed towards the chin, squeezed on the side turned away."""
    t = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    cos_t, sin_t = np.cos(t), np.sin(t)
    ex = np.sign(cos_t) * np.abs(cos_t) ** (2 / traits["sq"])
    ey = np.sign(sin_t) * np.abs(sin_t) ** (2 / traits["sq"])
    ex = ex * (1 - traits["chin"] * np.clip(ey, 0, 1) ** 2)
    xs = cx + ex * half_w * (1 - 0.35 * yaw * np.sign(ex))
    return np.stack([xs, cy + ey * half_h], 1)


def _place_head(traits: dict, rng: np.random.Generator, side: int) -> _Head:
    """This image's head: the yaw and the day's skin and hair tones drawn, the rest placed."""
    yaw = rng.uniform(-0.25, 0.25)
    half_w, half_h = traits["a"] * side, traits["b"] * side
    cx, cy = 0.5 * side + yaw * 0.04 * side, traits["cy"] * side
    skin = traits["skin"] * rng.uniform(0.97, 1.03, 3)
    hair = traits["hair"] * rng.uniform(0.93, 1.07, 3)
    return _Head(side=side, half_w=half_w, half_h=half_h, cx=cx, cy=cy, yaw=yaw,
                 skin=skin, shade=skin * 0.78, hair=hair,
                 outline=_face_outline(traits, cx, cy, half_w, half_h, yaw),
                 eye_y=cy + traits["eye_y"] * half_h, eye_half_w=traits["eye_w"] * half_w * 2,
                 mouth_y=cy + traits["mouth_y"] * half_h)


def _draw_behind_face(img: np.ndarray, traits: dict, head: _Head, rng: np.random.Generator) -> None:
    """Long hair behind the head, the neck, the clothed shoulders, earrings."""
    side, cx, cy, half_w, half_h = head.side, head.cx, head.cy, head.half_w, head.half_h
    if traits["style"] in ("long", "curly"):
        _ellipse(img, (cx, cy + 0.25 * half_h), (half_w * 1.25, half_h * 1.25), 0, head.hair,
                 start=180, end=360)
        _poly(img, np.array([[cx - half_w * 1.25, cy + 0.25 * half_h],
                             [cx + half_w * 1.25, cy + 0.25 * half_h],
                             [cx + half_w * 1.15, cy + half_h * 1.35],
                             [cx - half_w * 1.15, cy + half_h * 1.35]]), head.hair)
    cloth = rng.uniform(0, 255, 3)
    _poly(img, np.array([[cx - half_w * 0.45, cy + half_h * 0.6], [cx + half_w * 0.45, cy + half_h * 0.6],
                         [cx + half_w * 0.5, cy + half_h * 1.2], [cx - half_w * 0.5, cy + half_h * 1.2]]),
          head.shade)
    _ellipse(img, (cx, cy + half_h * 1.55), (half_w * 2.0, half_h * 0.6), 0, cloth)
    if traits["earring"]:
        for sign in (-1, 1):
            _ellipse(img, (head.x_at(sign * 1.02, 0), cy + (traits["ear_y"] + 0.28) * half_h),
                     (0.02 * side, 0.02 * side), 0, (230, 200, 60))


def _draw_face(img: np.ndarray, traits: dict, head: _Head) -> None:
    """The ears, then the face filled in skin, with blushed cheeks."""
    ear = traits["ear"] * head.side
    for sign in (-1, 1):
        _ellipse(img, (head.x_at(sign * 1.0, 0), head.cy + traits["ear_y"] * head.half_h),
                 (ear * (1 - 0.4 * head.yaw * sign), ear * 1.7), 0, head.shade)
    _poly(img, head.outline, head.skin)
    blush = traits["blush"]
    if blush > 0:
        for sign in (-1, 1):
            _ellipse(img, (head.x_at(sign * 0.5, 0.2), head.cy + 0.25 * head.half_h),
                     (0.1 * head.half_w, 0.07 * head.half_w), 0,
                     head.skin * (1 - blush * 0.3) + np.array([200, 60, 60]) * blush * 0.3)


def _draw_hair(img: np.ndarray, traits: dict, head: _Head) -> None:
    """Hair on the head: a cap minus the uncovered forehead, blended through a mask so the
    features drawn next stay on top."""
    style = traits["style"]
    if style == "bald":
        return
    side, cx, cy, half_w, half_h = head.side, head.cx, head.cy, head.half_w, head.half_h
    hairline = cy - traits["hairline"] * half_h
    top = cy - half_h - traits["volume"] * side
    mid = cy - 0.1 * half_h
    mask = np.zeros((side, side), np.uint8)
    _ellipse(mask, (cx, mid), (half_w * 1.07, mid - top), 0, 255, start=180, end=360)
    if style == "curly":
        for angle in np.linspace(math.pi * 0.95, math.pi * 2.05, 14):
            _ellipse(mask, (cx + half_w * 1.07 * math.cos(angle), mid + (mid - top) * math.sin(angle)),
                     (0.05 * side, 0.05 * side), 0, 255)
    part = traits["part"] * half_w if style == "side" else 0.0
    if style == "receding":
        forehead_w, forehead_top = half_w * 0.8, top + 0.04 * side
    else:
        forehead_w, forehead_top = half_w * 0.93, hairline + (0.12 * half_h if style == "fringe" else 0.0)
    _ellipse(mask, (cx + part * 0.3, cy - 0.02 * half_h), (forehead_w, (cy - 0.02 * half_h) - forehead_top),
             0, 0, start=180, end=360)
    if style == "side":  # a swept lock from the parting across the forehead
        sweep = 1.0 if part >= 0 else -1.0
        _poly(mask, np.array([[cx + part, top + 0.03 * side],
                              [cx + part + sweep * 0.15 * half_w, forehead_top + 0.05 * half_h],
                              [cx - sweep * 0.95 * half_w, hairline + 0.15 * half_h],
                              [cx - sweep * 1.0 * half_w, hairline - 0.1 * half_h]]), 255)
    x0, y0, box_w, box_h = cv2.boundingRect(mask)  # blend only where the hair is
    if box_w and box_h:
        roi = img[y0:y0 + box_h, x0:x0 + box_w]
        alpha = mask[y0:y0 + box_h, x0:x0 + box_w, None].astype(np.float32) * (1.0 / 255)
        roi[:] = (roi + (head.hair.astype(np.float32) - roi) * alpha + 0.5).astype(np.uint8)


def _draw_beard(img: np.ndarray, traits: dict, head: _Head) -> None:
    """A band around the jaw (1: full, 2: stubble) or a goatee (3)."""
    kind = traits["beard"]
    if not kind:
        return
    cx, cy, half_h, outline = head.cx, head.cy, head.half_h, head.outline
    lower = outline[(outline[:, 1] > cy + (0.15 if kind != 3 else 0.45) * half_h)]
    mouth_y = head.mouth_y
    if kind == 3:
        pts = np.array([[head.x_at(-0.3, 0.3), mouth_y + 0.05 * half_h],
                        [head.x_at(0.3, 0.3), mouth_y + 0.05 * half_h],
                        [head.x_at(0.2, 0.3), cy + 0.98 * half_h],
                        [head.x_at(-0.2, 0.3), cy + 0.98 * half_h]])
    else:
        inner = np.array([[head.x_at(0.6, 0.3), mouth_y - 0.05 * half_h],
                          [head.x_at(-0.6, 0.3), mouth_y - 0.05 * half_h]])
        pts = np.concatenate([lower[np.argsort(np.arctan2(lower[:, 1] - cy, lower[:, 0] - cx))], inner])
    colour = head.hair if kind != 2 else head.skin * 0.6 + head.hair * 0.4
    _poly(img, pts, colour)


def _draw_mouth(img: np.ndarray, traits: dict, head: _Head, rng: np.random.Generator) -> None:
    """Lips with this image's expression (a smile, sometimes open), and a moustache."""
    side, mouth_y = head.side, head.mouth_y
    half_w = traits["mouth_w"] * head.half_w
    smile = (traits["smile"] + rng.uniform(-0.012, 0.02)) * side
    opened = rng.random() < 0.2
    centre_x = head.x_at(0.0, 0.3)
    if opened:
        _ellipse(img, (centre_x, mouth_y + 0.01 * side),
                 (half_w * 0.8, 0.03 * side + max(smile, 0) * 0.5), 0, (60, 20, 25))
    pts = np.array([[centre_x - half_w, mouth_y - smile], [centre_x - half_w * 0.5, mouth_y + smile * 0.3],
                    [centre_x, mouth_y + smile * 0.5],
                    [centre_x + half_w * 0.5, mouth_y + smile * 0.3], [centre_x + half_w, mouth_y - smile]])
    _poly(img, pts, traits["lip"], closed=False, thickness=traits["lip_th"] * side)
    if traits["moustache"]:
        _poly(img, np.array([[centre_x - half_w * 0.9, mouth_y - 0.02 * side],
                             [centre_x, mouth_y - 0.06 * side],
                             [centre_x + half_w * 0.9, mouth_y - 0.02 * side]]),
              head.hair, closed=False, thickness=0.035 * side)


def _draw_nose(img: np.ndarray, traits: dict, head: _Head) -> None:
    """A shaded triangle (0), a ridge with nostrils (1) or a round tip (2)."""
    top = head.eye_y + 0.05 * head.half_h
    bottom = top + traits["nose_len"] * head.half_h
    half_w = traits["nose_w"] * head.half_w
    tip = head.x_at(0.0, 0.6)
    if traits["nose_style"] == 0:
        _poly(img, np.array([[head.x_at(0, 0.3), top], [tip + half_w, bottom], [tip - half_w, bottom]]),
              head.shade)
    elif traits["nose_style"] == 1:
        _poly(img, np.array([[head.x_at(0.05, 0.3), top], [tip + half_w * 0.3, bottom]]), head.shade,
              closed=False, thickness=0.015 * head.side)
        for sign in (-1, 1):
            _ellipse(img, (tip + sign * half_w * 0.6, bottom), (half_w * 0.3, half_w * 0.2), 0,
                     head.shade * 0.7)
    else:
        _ellipse(img, (tip, bottom - half_w * 0.3), (half_w, half_w * 0.7), 0, head.shade)


def _draw_eyes_and_brows(img: np.ndarray, traits: dict, head: _Head, rng: np.random.Generator) -> None:
    """Eyes with this image's blink and gaze, brows above them (sometimes joined)."""
    side, eye_y, eye_half_w = head.side, head.eye_y, head.eye_half_w
    blink = rng.random() < 0.05
    gaze = (rng.uniform(-0.25, 0.25), rng.uniform(-0.15, 0.15))
    brow_colour = head.hair * 0.7
    brow_y = eye_y - eye_half_w * traits["eye_asp"] - traits["brow_gap"] * head.half_h
    for sign in (-1, 1):
        eye_x = head.x_at(sign * traits["eye_dx"] * 2, 0.25)
        half_w = eye_half_w * (1 - 0.35 * head.yaw * sign)
        tilt = sign * traits["eye_tilt"]
        if blink:
            _ellipse(img, (eye_x, eye_y), (half_w, 0.01 * side), tilt, (40, 30, 30))
        else:
            half_h = eye_half_w * traits["eye_asp"]
            _ellipse(img, (eye_x, eye_y), (half_w, half_h), tilt, (245, 245, 240))
            iris_r = half_h * traits["iris_r"] * 1.1
            iris_x, iris_y = eye_x + gaze[0] * half_w, eye_y + gaze[1] * half_h
            _ellipse(img, (iris_x, iris_y), (iris_r, iris_r), 0, traits["iris"])
            _ellipse(img, (iris_x, iris_y), (iris_r * 0.45, iris_r * 0.45), 0, (10, 10, 10))
            _ellipse(img, (eye_x, eye_y), (half_w, half_h), tilt, (40, 30, 30),
                     thickness=max(1, 0.008 * side))
        brow_len = traits["brow_len"] * head.half_w
        inner_x = head.x_at(sign * (traits["eye_dx"] * 2 - traits["brow_len"] * 0.6), 0.25)
        outer_x = head.x_at(sign * (traits["eye_dx"] * 2 + traits["brow_len"] * 0.6), 0.25)
        rise = math.tan(math.radians(traits["brow_tilt"])) * brow_len
        arch_y = brow_y - traits["brow_arch"] * side - rise * 0.5
        pts = np.array([[inner_x, brow_y], [(inner_x + outer_x) / 2, arch_y], [outer_x, brow_y - rise]])
        _poly(img, pts, brow_colour, closed=False, thickness=traits["brow_th"] * side)
    if traits["unibrow"]:
        _poly(img, np.array([[head.x_at(-0.3, 0.25), brow_y], [head.x_at(0.3, 0.25), brow_y]]), brow_colour,
              closed=False, thickness=traits["brow_th"] * side)


def _draw_skin_marks(img: np.ndarray, traits: dict, head: _Head) -> None:
    """Moles and freckles."""
    side, cy, half_h = head.side, head.cy, head.half_h
    for mole_x, mole_y, mole_r in traits["moles"]:
        _ellipse(img, (head.x_at(mole_x, 0.2), cy + mole_y * half_h), (mole_r * side, mole_r * side), 0,
                 (70, 45, 35))
    if traits["freckle_pts"] is not None:
        for freckle_x, freckle_y in traits["freckle_pts"]:
            _ellipse(img, (head.x_at(freckle_x * 0.6, 0.2), cy + (0.15 + 0.12 * freckle_y) * half_h),
                     (0.006 * side, 0.006 * side), 0, head.skin * 0.7)


def _draw_glasses(img: np.ndarray, traits: dict, head: _Head, rng: np.random.Generator) -> None:
    """Round (1) or square (2) frames and a bridge; worn in most, not all, images."""
    # The draw is made only for an identity with glasses, as the generator's order requires.
    if not traits["glasses"] or rng.random() >= 0.95:
        return
    thickness = traits["glass_th"] * head.side
    colour = traits["glass_col"]
    eye_y = head.eye_y
    rim = head.eye_half_w * 1.45
    for sign in (-1, 1):
        centre = (head.x_at(sign * traits["eye_dx"] * 2, 0.3), eye_y)
        half_w = rim * (1 - 0.35 * head.yaw * sign)
        if traits["glasses"] == 1:
            _ellipse(img, centre, (half_w, rim * 0.85), 0, colour, thickness=thickness)
        else:
            x, y = centre
            _poly(img, np.array([[x - half_w, y - rim * 0.7], [x + half_w, y - rim * 0.7],
                                 [x + half_w, y + rim * 0.7], [x - half_w, y + rim * 0.7]]),
                  colour, thickness=thickness)
    _poly(img, np.array([[head.x_at(-traits["eye_dx"] * 2 + 0.3, 0.3), eye_y - rim * 0.3],
                         [head.x_at(traits["eye_dx"] * 2 - 0.3, 0.3), eye_y - rim * 0.3]]), colour,
          closed=False, thickness=thickness)


def _draw_features(img: np.ndarray, traits: dict, head: _Head, rng: np.random.Generator) -> None:
    """Everything on the face, back to front."""
    _draw_beard(img, traits, head)
    _draw_mouth(img, traits, head, rng)
    _draw_nose(img, traits, head)
    _draw_eyes_and_brows(img, traits, head, rng)
    _draw_skin_marks(img, traits, head)
    _draw_glasses(img, traits, head, rng)


def _apply_pose(img: np.ndarray, rng: np.random.Generator, side: int) -> np.ndarray:
    """Rotation, scale and shift about the canvas centre."""
    angle, scale = rng.uniform(-10, 10), rng.uniform(0.9, 1.1)
    warp = cv2.getRotationMatrix2D((side / 2, side / 2), angle, scale)
    warp[:, 2] += rng.uniform(-0.05, 0.05, 2) * side
    return cv2.warpAffine(img, warp, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _draw_occlusion(img: np.ndarray, rng: np.random.Generator, side: int) -> None:
    """In one image of ten, a random rectangle or a bar across the face."""
    if rng.random() >= 0.1:
        return
    colour = _col(rng.uniform(0, 255, 3))
    if rng.random() < 0.5:
        x0, y0 = rng.uniform(0.1, 0.7) * side, rng.uniform(0.1, 0.7) * side
        x1 = x0 + rng.uniform(0.12, 0.3) * side
        y1 = y0 + rng.uniform(0.12, 0.3) * side
        cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), colour, -1)
    else:
        y0 = rng.uniform(0.3, 0.8) * side
        y1 = y0 + rng.uniform(-0.2, 0.2) * side
        width = int(rng.uniform(0.04, 0.1) * side)
        cv2.line(img, (0, int(y0)), (side, int(y1)), colour, width)


def _apply_lighting(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, colour cast and a directional gradient; then blur and sensor noise."""
    gx, gy = _grid(img.shape[0])
    direction = rng.uniform(0, 2 * math.pi)
    gain = (rng.uniform(0.7, 1.25) * rng.uniform(0.9, 1.1, 3)).astype(np.float32)
    light = 1.0 + rng.uniform(0.0, 0.35) * (math.cos(direction) * gx + math.sin(direction) * gy)
    out = img.astype(np.float32) * gain * light
    if rng.random() < 0.5:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    noise_sigma = rng.uniform(0, 6)
    out += rng.standard_normal(out.shape, dtype=np.float32) * noise_sigma
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _render_image(traits: dict, seed: int, split: int, identity: int, image: int, size: int) -> np.ndarray:
    """Image ``image`` of identity ``identity`` (traits ``traits``): uint8 RGB ``size x size``."""
    rng = seeded_generator(seed, 2000 + split, identity, image)
    side = size * _SS
    canvas = _draw_background(rng, side)
    head = _place_head(traits, rng, side)
    _draw_behind_face(canvas, traits, head, rng)
    _draw_face(canvas, traits, head)
    _draw_hair(canvas, traits, head)
    _draw_features(canvas, traits, head, rng)
    canvas = _apply_pose(canvas, rng, side)
    _draw_occlusion(canvas, rng, side)
    small = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return _apply_lighting(small, rng)


def render_identity_images(seed: int, split: int, identity: int, count: int, size: int) -> list[np.ndarray]:
    """``count`` images (uint8 RGB) of identity ``identity`` of ``split`` (0 train, 1 test)."""
    traits = identity_traits(seed, split, identity)
    return [_render_image(traits, seed, split, identity, image, size) for image in range(count)]
