"""Composing one scene: the labelled plant, maybe a second plant, occluders, the frame, the light.

The drawing of each plant kind lives in ``plants_drawing``; this module makes the scenes hard in
ways a person can see and a saliency map can reveal. Each difficulty is drawn independently:

| fact (scenes.json)  | share of scenes | what happens                                                     |
| ------------------- | --------------- | ---------------------------------------------------------------- |
| ``other_label``     | ~30%            | a second plant of another kind, behind the labelled one, partly out of the frame |
| ``occluded``        | ~15%            | a pot or a broad leaf in front hides 15-60% of the labelled plant |
| ``cut_by_frame``    | ~15%            | the labelled plant sits at an edge, 20-55% of it outside the image |
| ``dim_light``       | ~15%            | dim, flat, soft light: low contrast and blur hide Yuki's bands and Baya's veins |

``occluded`` and ``cut_by_frame`` are measured shares (0.0 when nothing is hidden), so a scene
without the difficulty can still have a leaf tip outside the frame. The labelled mask is the
VISIBLE part of the labelled plant; the other plant's mask never overlaps it.
"""
from __future__ import annotations

import cv2
import numpy as np

from data.plants_drawing import (SUPERSAMPLE, _green, _leaf_outline, _obovate, _rgb,
                                 apply_lighting, draw_background, draw_plant)

# The knobs of difficulty (probabilities per scene, and bounds of what may be hidden).
HARDNESS = {"other_plant": 0.30, "occlusion": 0.15, "cut_by_frame": 0.15, "dim_light": 0.15,
            "hidden": (0.15, 0.60), "cut": (0.20, 0.55)}
MIN_VISIBLE = 0.012  # the labelled plant keeps at least this share of the image's pixels
TRIES = 8


def _warp(image, angle, scale, centre, size, measure=False):
    """Rotate, scale and move a 2x-supersampled layer; return (layer at ``size``, share outside).

    With ``measure`` the layer is warped onto a canvas larger than the frame, so the part of the
    plant that falls outside the image can be measured before it is cropped away (a mask only:
    the colour layer, three times the work, is warped straight into the frame).
    """
    big = size * SUPERSAMPLE
    pad = big * 3 // 4 if measure else 0
    matrix = cv2.getRotationMatrix2D((big / 2, big / 2), angle, scale)
    matrix[:, 2] += (np.asarray(centre) - 0.5) * big + pad
    full = cv2.warpAffine(image, matrix, (big + 2 * pad, big + 2 * pad))
    inside = full[pad:pad + big, pad:pad + big]
    outside = 0.0
    if measure:
        total = full.sum(dtype=np.float64)
        outside = float(1.0 - inside.sum(dtype=np.float64) / total) if total else 0.0
    return cv2.resize(inside, (size, size), interpolation=cv2.INTER_AREA), outside


def _edge_centre(rng, low, high):
    """A centre near one edge or corner: one or both coordinates pushed to the border."""
    centre = rng.uniform(0.3, 0.7, 2)
    for axis in ([0], [1], [0, 1])[rng.integers(0, 3)]:
        near = rng.uniform(low, high)
        centre[axis] = near if rng.random() < 0.5 else 1.0 - near
    return centre


def _place_plant(rng, label, size, cut):
    """The labelled plant placed in the frame: (layer, alpha, share of the plant outside)."""
    layer, alpha = draw_plant(rng, label, size)
    angle = rng.uniform(-180, 180) if label in (0, 2) else rng.uniform(-50, 50)
    if not cut:
        scale, centre = rng.uniform(0.6, 1.0), rng.uniform(0.32, 0.68, 2)
        small, outside = _warp(alpha, angle, scale, centre, size, measure=True)
    else:  # push it to an edge until the share outside the frame is in the wanted range
        low, high = HARDNESS["cut"]
        scale = rng.uniform(0.8, 1.1)
        for _ in range(TRIES):
            centre = _edge_centre(rng, 0.02, 0.22)
            small, outside = _warp(alpha, angle, scale, centre, size, measure=True)
            if low <= outside <= high and (small >= 128).mean() >= 1.5 * MIN_VISIBLE:
                break
    return _warp(layer, angle, scale, centre, size)[0], small, outside


def _place_other(rng, label, size):
    """A second plant of another kind, smaller, at an edge: (other label, layer, alpha)."""
    other = int((label + rng.integers(1, 4)) % 4)
    layer, alpha = draw_plant(rng, other, size)
    angle = rng.uniform(-180, 180) if other in (0, 2) else rng.uniform(-50, 50)
    scale, centre = rng.uniform(0.5, 0.85), _edge_centre(rng, 0.05, 0.2)
    return other, _warp(layer, angle, scale, centre, size)[0], \
        _warp(alpha, angle, scale, centre, size)[0]


def _draw_occluder(rng, size, target, grow):
    """A pot or a broad leaf over a random point of ``target`` (bool mask): (colour, alpha)."""
    layer = np.zeros((size, size, 3), np.uint8)
    alpha = np.zeros((size, size), np.uint8)
    ys, xs = np.nonzero(target)
    k = rng.integers(0, len(xs))
    x, y = float(xs[k]), float(ys[k])
    extent = np.sqrt(target.sum()) * grow
    if rng.random() < 0.5:  # a pot standing in front, its rim across the plant
        w, h = extent * rng.uniform(0.35, 0.6), extent * rng.uniform(0.5, 0.9)
        pts = np.array([[x - w, y], [x + w, y],
                        [x + 0.75 * w, y + 2 * h], [x - 0.75 * w, y + 2 * h]])
        color = _rgb(rng.uniform(0.02, 0.1), rng.uniform(0.4, 0.8), rng.uniform(0.4, 0.85))
        cv2.fillPoly(layer, [np.round(pts).astype(np.int32)], color, cv2.LINE_AA)
        cv2.fillPoly(alpha, [np.round(pts).astype(np.int32)], 255, cv2.LINE_AA)
        cv2.line(layer, (int(x - w), int(y)), (int(x + w), int(y)),
                 _rgb(0.06, 0.5, 0.35), max(2, int(h / 6)), cv2.LINE_AA)
    else:  # a broad leaf of some house plant in the foreground, reaching in from outside
        angle = rng.uniform(0, 2 * np.pi)
        length = extent * rng.uniform(1.0, 1.6)
        base = np.array([x, y]) - 0.55 * length * np.array([np.cos(angle), np.sin(angle)])
        outline = _leaf_outline(base, angle, length, length * rng.uniform(0.22, 0.32), _obovate)
        h, s, v = _green(rng)
        cv2.fillPoly(layer, [np.round(outline).astype(np.int32)], _rgb(h, s, v * 0.7), cv2.LINE_AA)
        cv2.fillPoly(alpha, [np.round(outline).astype(np.int32)], 255, cv2.LINE_AA)
        tip = base + length * np.array([np.cos(angle), np.sin(angle)])
        cv2.line(layer, tuple(np.round(base).astype(int)), tuple(np.round(tip).astype(int)),
                 _rgb(h, s * 0.6, v * 0.9), 1, cv2.LINE_AA)
    return layer, alpha


def _occlude(rng, size, plant):
    """An occluder hiding 15-60% of ``plant`` (bool mask): (layer, alpha, share hidden)."""
    low, high = HARDNESS["hidden"]
    grow = 0.6
    for _ in range(TRIES):
        layer, alpha = _draw_occluder(rng, size, plant, grow)
        hidden = (plant & (alpha >= 128)).sum() / plant.sum()
        visible = (plant & (alpha < 128)).mean()
        if low <= hidden <= high and visible >= MIN_VISIBLE:
            return layer, alpha, float(hidden)
        grow *= 0.75 if hidden > high or visible < MIN_VISIBLE else 1.3
    return None, None, 0.0  # nothing within the bounds: leave the plant unoccluded


def _over(image, layer, alpha):
    """Paint ``layer`` (colour outside the shape is ignored) over ``image`` with ``alpha``."""
    a = alpha.astype(np.float32)[..., None] / 255.0
    return np.clip(image * (1 - a) + layer * a + 0.5, 0, 255).astype(np.uint8)


def apply_dim_light(rng, image: np.ndarray) -> np.ndarray:
    """Dim, flat, soft light: blur and low contrast erase fine marks (bands, veins), shapes stay."""
    img = cv2.GaussianBlur(image.astype(np.float32) / 255.0, (0, 0), rng.uniform(1.3, 1.9))
    mean = img.mean(axis=(0, 1), keepdims=True)
    img = (mean + (img - mean) * rng.uniform(0.3, 0.5)) * rng.uniform(0.45, 0.65)
    img = img + rng.normal(0.0, rng.uniform(0.01, 0.03), img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def render_scene(rng: np.random.Generator, label: int, size: int):
    """One scene: (RGB uint8 HxWx3, labelled mask, other plant's mask, facts dict).

    Masks are uint8 HxW with 255 on the visible pixels; facts are the scenes.json entry.
    """
    wants = {key: rng.random() < HARDNESS[key]
             for key in ("other_plant", "occlusion", "cut_by_frame", "dim_light")}
    image = draw_background(rng, size)
    other_label, other_alpha = None, np.zeros((size, size), np.uint8)
    if wants["other_plant"]:
        other_label, other_layer, other_alpha = _place_other(rng, label, size)
        image = np.clip(image * (1 - other_alpha[..., None] / 255.0) + other_layer + 0.5,
                        0, 255).astype(np.uint8)  # the layer is premultiplied by its alpha
    layer, alpha, cut = _place_plant(rng, label, size, wants["cut_by_frame"])
    image = np.clip(image * (1 - alpha[..., None] / 255.0) + layer + 0.5, 0, 255).astype(np.uint8)
    plant = alpha >= 128
    hidden_by = np.zeros((size, size), bool)
    occluded = 0.0
    if wants["occlusion"]:
        occ_layer, occ_alpha, occluded = _occlude(rng, size, plant)
        if occ_layer is not None:
            image = _over(image, occ_layer, occ_alpha)
            hidden_by = occ_alpha >= 128
    other = (other_alpha >= 128) & ~plant & ~hidden_by
    if other_label is not None and not other.any():
        other_label = None  # wholly hidden: the scene has no visible second plant
    image = apply_dim_light(rng, image) if wants["dim_light"] else apply_lighting(rng, image)
    facts = {"other_label": other_label, "occluded": round(occluded, 4),
             "cut_by_frame": round(max(0.0, float(cut)), 4), "dim_light": bool(wants["dim_light"])}
    as_mask = lambda m: np.where(m, 255, 0).astype(np.uint8)  # noqa: E731
    return image, as_mask(plant & ~hidden_by), as_mask(other), facts
