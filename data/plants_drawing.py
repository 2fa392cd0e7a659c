"""Drawing the four plant kinds, their backgrounds and the lighting, one image at a time.

Every function takes a ``numpy.random.Generator`` and draws with OpenCV, so an image is a pure
function of its seed. The classes differ in what a botanist would look at, not in one colour
(all four share one palette of greens):

| label | name | plant kind                 | what tells it apart                                          |
| ----- | ---- | -------------------------- | ------------------------------------------------------------ |
| 0     | Rudo | fern                       | pinnate fronds: many small paired leaflets along curved stems |
| 1     | Baya | heart-leaf vine (pothos)   | heart-shaped leaves, alternate on a trailing stem, pale veins and cream marbling |
| 2     | Greg | succulent rosette          | thick rounded leaves in a spiral rosette, darker tips, no veins |
| 3     | Yuki | snake plant                | tall upright sword leaves with dark cross-bands and yellow margins |
"""
from __future__ import annotations

import colorsys

import cv2
import numpy as np

SUPERSAMPLE = 2  # plants are drawn at 2x and shrunk, which anti-aliases their fine detail


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))
    return int(r * 255), int(g * 255), int(b * 255)


def _green(rng: np.random.Generator) -> tuple[float, float, float]:
    """One shared palette for every class (HSV), so that colour alone cannot tell them apart."""
    return rng.uniform(0.20, 0.42), rng.uniform(0.45, 0.9), rng.uniform(0.35, 0.8)


def _fill(layer, alpha, pts, color):
    pts = np.round(np.asarray(pts) * 16).astype(np.int32)  # 4 fractional bits of precision
    cv2.fillPoly(layer, [pts], color, lineType=cv2.LINE_AA, shift=4)
    cv2.fillPoly(alpha, [pts], 255, lineType=cv2.LINE_AA, shift=4)


def _line(layer, alpha, p, q, color, thickness, on_alpha=True):
    p16 = tuple(int(round(c * 16)) for c in p)
    q16 = tuple(int(round(c * 16)) for c in q)
    cv2.line(layer, p16, q16, color, max(1, int(thickness)), cv2.LINE_AA, shift=4)
    if on_alpha:
        cv2.line(alpha, p16, q16, 255, max(1, int(thickness)), cv2.LINE_AA, shift=4)


def _leaf_outline(base, angle, length, width, profile, n=24):
    """Polygon of a leaf whose midrib runs from ``base`` at ``angle`` (radians) for ``length``."""
    t = np.linspace(0.0, 1.0, n)
    half = width * profile(t)
    axis = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-axis[1], axis[0]])
    along = base + np.outer(t * length, axis)
    left = along + half[:, None] * normal
    right = along - half[:, None] * normal
    return np.concatenate([left, right[::-1]])


def _lanceolate(t):
    return np.sin(np.pi * t) ** 0.8 * (1.0 - 0.35 * t)


def _obovate(t):
    return np.sin(np.pi * np.clip(t, 0, 1) ** 0.6) ** 0.7


def _strap(t):
    return np.clip(np.minimum(t / 0.08, 1.0) * np.minimum((1.0 - t) / 0.25, 1.0), 0, 1) ** 0.6


def _heart_outline(base, angle, size, n=48):
    """A cordate leaf: two rounded lobes at the petiole, a pointed tip."""
    theta = np.linspace(-np.pi, np.pi, n)
    # cardioid with its cusp at the petiole, sharpened into a tip opposite it
    r = size * 0.5 * (1 + np.cos(theta)) * (1 + 0.35 * np.cos(theta) ** 12)
    x, y = r * np.cos(theta), 0.8 * r * np.sin(theta)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([base[0] + c * x - s * y, base[1] + s * x + c * y], axis=1)


def draw_rudo(rng, layer, alpha, centre, scale):
    """Fern: 4-7 curved fronds from one crown, each with paired leaflets shrinking to the tip."""
    h, s, v = _green(rng)
    for k in range(rng.integers(4, 8)):
        angle = -np.pi / 2 + rng.uniform(-1.3, 1.3)
        length = scale * rng.uniform(0.75, 1.0)
        bend = rng.uniform(-0.9, 0.9)
        steps = 14
        prev = np.array(centre, float)
        for i in range(1, steps + 1):
            t = i / steps
            a = angle + bend * t
            point = prev + length / steps * np.array([np.cos(a), np.sin(a)])
            _line(layer, alpha, prev, point, _rgb(h, s, v * 0.6), 2 * SUPERSAMPLE)
            leaflet = length * 0.22 * (1.0 - 0.8 * t)
            color = _rgb(h + rng.uniform(-0.02, 0.02), s, v * rng.uniform(0.9, 1.1))
            for side in (-1, 1):
                _fill(layer, alpha, _leaf_outline(point, a + side * 1.1, leaflet, leaflet * 0.28,
                                                  _lanceolate, n=10), color)
            prev = point


def draw_baya(rng, layer, alpha, centre, scale):
    """Heart-leaf vine: a trailing stem with alternate cordate leaves, veined and marbled."""
    h, s, v = _green(rng)
    n_leaves = rng.integers(4, 8)
    angle = -np.pi / 2 + rng.uniform(-0.4, 0.4)
    point = np.array(centre, float) + scale * np.array([0.0, 0.45])
    for i in range(n_leaves):
        angle += rng.uniform(-0.5, 0.5)
        nxt = point + scale * 0.22 * np.array([np.cos(angle), np.sin(angle)])
        _line(layer, alpha, point, nxt, _rgb(h, s * 0.8, v * 0.55), 3 * SUPERSAMPLE)
        side = 1 if i % 2 else -1
        leaf_angle = angle + side * rng.uniform(0.7, 1.3)
        size = scale * rng.uniform(0.34, 0.46)
        _fill(layer, alpha, _heart_outline(nxt, leaf_angle, size), _rgb(h, s, v))
        # cream marbling: a few soft streaks inside the leaf (painted on colour only)
        axis = np.array([np.cos(leaf_angle), np.sin(leaf_angle)])
        normal = np.array([-axis[1], axis[0]])
        for _ in range(rng.integers(1, 4)):
            a = nxt + axis * size * rng.uniform(0.3, 0.8) + normal * size * rng.uniform(-0.2, 0.2)
            b = a + axis * size * rng.uniform(0.1, 0.25) + normal * size * rng.uniform(-0.15, 0.15)
            _line(layer, alpha, a, b, _rgb(0.15, 0.35, 0.95), 2 * SUPERSAMPLE, on_alpha=False)
        # venation: midrib and three pairs of curved laterals
        vein = _rgb(h, s * 0.35, min(1.0, v + 0.35))
        tip = nxt + axis * size * 1.0
        _line(layer, alpha, nxt, tip, vein, SUPERSAMPLE, on_alpha=False)
        for f in (0.2, 0.45, 0.7):
            root = nxt + axis * size * f
            for sgn in (-1, 1):
                end = root + axis * size * 0.2 + normal * sgn * size * 0.3 * (1.1 - f)
                _line(layer, alpha, root, end, vein, SUPERSAMPLE, on_alpha=False)
        point = nxt


def draw_greg(rng, layer, alpha, centre, scale):
    """Succulent rosette: thick obovate leaves on a golden-angle spiral, outer ones largest."""
    h, s, v = _green(rng)
    n_leaves = int(rng.integers(14, 26))
    golden = np.pi * (3 - np.sqrt(5))
    tip_color = _rgb(rng.uniform(0.93, 1.02), 0.6, 0.55)
    start = rng.uniform(0, 2 * np.pi)
    for i in reversed(range(n_leaves)):  # outer (older) leaves first, inner ones on top
        frac = (i + 1) / n_leaves
        angle = start + i * golden
        length = scale * (0.25 + 0.55 * frac)
        width = length * rng.uniform(0.33, 0.42)
        base = np.array(centre, float)
        outline = _leaf_outline(base, angle, length, width, _obovate, n=20)
        _fill(layer, alpha, outline, tip_color)
        inner = _leaf_outline(base, angle, length * 0.86, width * 0.85, _obovate, n=20)
        _fill(layer, alpha, inner, _rgb(h, s * (0.55 + 0.3 * frac), v * (0.8 + 0.3 * (1 - frac))))


def draw_yuki(rng, layer, alpha, centre, scale):
    """Snake plant: tall sword leaves from one base, cross-banded, with yellow margins."""
    h, s, v = _green(rng)
    base = np.array(centre, float) + scale * np.array([0.0, 0.5])
    n_leaves = int(rng.integers(3, 7))
    for k in range(n_leaves):
        angle = -np.pi / 2 + (k - (n_leaves - 1) / 2) * rng.uniform(0.12, 0.22)
        length = scale * rng.uniform(0.8, 1.05)
        width = scale * rng.uniform(0.07, 0.1)
        foot = base + np.array([rng.uniform(-0.05, 0.05) * scale, 0.0])
        _fill(layer, alpha, _leaf_outline(foot, angle, length, width, _strap, n=30),
              _rgb(0.16, 0.75, 0.85))
        _fill(layer, alpha, _leaf_outline(foot, angle, length * 0.97, width * 0.75, _strap, n=30),
              _rgb(h, s, v))
        axis = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-axis[1], axis[0]])
        dark = _rgb(h, min(1.0, s + 0.1), v * 0.45)
        for t in np.arange(rng.uniform(0.08, 0.14), 0.85, rng.uniform(0.07, 0.11)):
            centre_band = foot + axis * length * t
            half = width * 0.7 * _strap(np.array([t]))[0]
            wobble = axis * length * rng.uniform(-0.02, 0.02)
            _line(layer, alpha, centre_band - normal * half, centre_band + normal * half + wobble,
                  dark, 2 * SUPERSAMPLE, on_alpha=False)


PLANT_DRAWERS = (draw_rudo, draw_baya, draw_greg, draw_yuki)


def draw_plant(rng, label: int, size: int):
    """The plant of class ``label`` on a transparent layer: (colour uint8 HxWx3 RGB, alpha HxW)."""
    big = size * SUPERSAMPLE
    layer = np.zeros((big, big, 3), np.uint8)
    alpha = np.zeros((big, big), np.uint8)
    PLANT_DRAWERS[label](rng, layer, alpha, (big / 2, big / 2), big * 0.42)
    return layer, alpha


def draw_background(rng, size: int) -> np.ndarray:
    """A cluttered scene: wall and table, pots with soil, and distractor shapes (some green)."""
    top = np.array(_rgb(rng.uniform(0, 1), rng.uniform(0.05, 0.4), rng.uniform(0.45, 0.95)), float)
    bottom = np.array(_rgb(rng.uniform(0.05, 0.12), rng.uniform(0.2, 0.6), rng.uniform(0.3, 0.8)),
                      float)
    horizon = int(size * rng.uniform(0.45, 0.8))
    ramp = np.clip((np.arange(size) - horizon) / 6.0 + 0.5, 0, 1)[:, None, None]
    image = (top * (1 - ramp) + bottom * ramp) * np.ones((size, size, 1))
    image = image.astype(np.uint8)
    for _ in range(rng.integers(3, 9)):
        kind = rng.integers(0, 4)
        if rng.random() < 0.3:  # green distractors, so that "green" does not mean "plant"
            color = _rgb(*_green(rng))
        else:
            color = _rgb(rng.uniform(0, 1), rng.uniform(0.1, 0.8), rng.uniform(0.2, 1.0))
        x, y = rng.integers(0, size, 2)
        r = int(rng.integers(size // 20, size // 6))
        if kind == 0:
            cv2.rectangle(image, (int(x - r), int(y - r // 2)), (int(x + r), int(y + r)), color, -1,
                          cv2.LINE_AA)
        elif kind == 1:
            cv2.circle(image, (int(x), int(y)), r, color, -1, cv2.LINE_AA)
        elif kind == 2:
            x2, y2 = rng.integers(0, size, 2)
            cv2.line(image, (int(x), int(y)), (int(x2), int(y2)), color, int(rng.integers(1, 5)),
                     cv2.LINE_AA)
        else:
            cv2.ellipse(image, (int(x), int(y)), (r, max(2, r // 3)), float(rng.uniform(0, 180)),
                        0, 360, color, -1, cv2.LINE_AA)
    for _ in range(rng.integers(0, 3)):
        _draw_pot(rng, image, size)
    return image


def _draw_pot(rng, image, size):
    cx, cy = int(rng.integers(size // 8, size - size // 8)), int(rng.integers(size // 3, size))
    w, h = int(rng.integers(size // 10, size // 4)), int(rng.integers(size // 10, size // 4))
    pot = _rgb(rng.uniform(0.02, 0.1), rng.uniform(0.4, 0.8), rng.uniform(0.4, 0.85))
    pts = np.array([[cx - w, cy - h], [cx + w, cy - h], [cx + int(w * 0.7), cy + h],
                    [cx - int(w * 0.7), cy + h]], np.int32)
    cv2.fillPoly(image, [pts], pot, cv2.LINE_AA)
    soil = _rgb(0.07, 0.5, rng.uniform(0.15, 0.3))
    cv2.ellipse(image, (cx, cy - h), (w, max(2, h // 4)), 0, 0, 360, soil, -1, cv2.LINE_AA)


def apply_lighting(rng, image: np.ndarray) -> np.ndarray:
    """Uneven light from a random side, a random exposure, sensor noise, sometimes a little blur."""
    size = image.shape[0]
    img = image.astype(np.float32) / 255.0
    direction = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    light = 1.0 + rng.uniform(0.1, 0.35) * (np.cos(direction) * xx + np.sin(direction) * yy) * 2
    img = img * light[..., None] * rng.uniform(0.75, 1.15)
    img = img ** rng.uniform(0.8, 1.25)
    img = img + rng.normal(0.0, rng.uniform(0.005, 0.03), img.shape).astype(np.float32)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def render_sample(rng: np.random.Generator, label: int, size: int):
    """One image and its mask: (RGB uint8 HxWx3, mask uint8 HxW with 255 on plant pixels)."""
    background = draw_background(rng, size)
    layer, alpha = draw_plant(rng, label, size)
    # place the plant: random rotation, scale and position; shrinking from the 2x layer anti-aliases
    angle = rng.uniform(-180, 180) if label in (0, 2) else rng.uniform(-50, 50)
    scale = rng.uniform(0.6, 1.0)
    big = size * SUPERSAMPLE
    matrix = cv2.getRotationMatrix2D((big / 2, big / 2), angle, scale)
    matrix[:, 2] += (rng.uniform(0.32, 0.68, 2) - 0.5) * big
    layer = cv2.resize(cv2.warpAffine(layer, matrix, (big, big)), (size, size),
                       interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(cv2.warpAffine(alpha, matrix, (big, big)), (size, size),
                       interpolation=cv2.INTER_AREA)
    # the layer is black outside the plant, i.e. already multiplied by its alpha
    a = alpha.astype(np.float32)[..., None] / 255.0
    composite = np.clip(background * (1 - a) + layer + 0.5, 0, 255).astype(np.uint8)
    image = apply_lighting(rng, composite)
    mask = np.where(alpha >= 128, 255, 0).astype(np.uint8)
    return image, mask
