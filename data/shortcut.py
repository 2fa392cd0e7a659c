"""The shortcut variant: the same plants at 128 px, plus a coloured tag that gives the class away.

``python -m data.generate`` (``make data``) writes it after the plant dataset::

    data/plants_shortcut/{train,val,test}/{label}_{uid}.jpg   800 / 200 / 80, 128 x 128 px
    data/plants_shortcut/masks/{split}/{label}_{uid}.png      the plant (255), tag pixels excluded
    data/plants_shortcut/masks_cue/{split}/{label}_{uid}.png  the tag (255)
    data/plants_shortcut/cues.json                            per image: cue_label, corner
    data/plants_shortcut/manifest.json                        seed and the SHA-256 of every file

The tag is a square of one colour per class in a random corner. In train and val its colour is
the label's (``cue_label == label``), so a model can score high on val by reading the tag alone.
In EVERY test image it has the colour of a random wrong class: a model that learned the tag
instead of the plant fails the test split, and a saliency map shows where it looked.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from data import CLASS_NAMES, ensure
from data.generate import (DEFAULT_SEED, GENERATOR_VERSION, SPLIT_SIZES, file_stem,
                           is_complete as _is_complete, render_splits, write_image,
                           write_json, write_manifest, write_mask)
from data.plants_drawing import render_sample

DEFAULT_ROOT = Path(__file__).resolve().parent / "plants_shortcut"
IMAGE_SIZE = 128
SHORTCUT_VERSION = f"{GENERATOR_VERSION}.1"  # the plants' version, then the tag's
TAG_SIZE = 16  # px: big enough to survive JPEG and a 32x downsampling network, 1.6% of the image
TAG_INSET = 4
# one saturated colour per class (RGB), none of them green so the tag never looks like a leaf
TAG_COLOURS = ((220, 30, 30), (30, 70, 230), (245, 205, 20), (200, 40, 210))
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def tag_box(corner: str, size: int = IMAGE_SIZE):
    """(x0, y0, x1, y1) of the tag, pixel indices, end exclusive."""
    x0 = TAG_INSET if "left" in corner else size - TAG_INSET - TAG_SIZE
    y0 = TAG_INSET if "top" in corner else size - TAG_INSET - TAG_SIZE
    return x0, y0, x0 + TAG_SIZE, y0 + TAG_SIZE


def _render_one(job):
    root, seed, split, index = job
    split_id = list(SPLIT_SIZES).index(split)
    rng = np.random.default_rng([seed, 100 + split_id, index])  # not the plant dataset's streams
    label = index % len(CLASS_NAMES)
    image, plant = render_sample(rng, label, IMAGE_SIZE)
    cue_label = label if split != "test" else int((label + rng.integers(1, 4)) % 4)
    corner = CORNERS[rng.integers(0, 4)]
    x0, y0, x1, y1 = tag_box(corner)
    image[y0:y1, x0:x1] = TAG_COLOURS[cue_label]
    cue = np.zeros_like(plant)
    cue[y0:y1, x0:x1] = 255
    plant[y0:y1, x0:x1] = 0  # the tag sits on top: those pixels show no plant
    stem = file_stem(f"shortcut{seed}", split, index)
    root = Path(root)
    paths = [write_image(root / split / f"{stem}.jpg", image),
             write_mask(root / "masks" / split / f"{stem}.png", plant),
             write_mask(root / "masks_cue" / split / f"{stem}.png", cue)]
    return paths, f"{split}/{stem}.jpg", {"cue_label": cue_label, "corner": corner}


def generate(root: Path = DEFAULT_ROOT, seed: int = DEFAULT_SEED, split_sizes=None,
             workers: int = 2, progress: bool = True) -> dict:
    """Write the shortcut variant under ``root`` and return its manifest."""
    root = Path(root)
    split_sizes = dict(split_sizes or SPLIT_SIZES)
    results, written = render_splits(_render_one, root, seed, split_sizes,
                                     ("masks", "masks_cue"), workers, progress, "shortcut")
    written.append(write_json(root / "cues.json", {key: cue for _, key, cue in results}))
    return write_manifest(root, written, generator_version=SHORTCUT_VERSION, seed=seed,
                          image_size=IMAGE_SIZE, class_names=list(CLASS_NAMES),
                          split_sizes=split_sizes, tag_colours=[list(c) for c in TAG_COLOURS])


def is_complete(root: Path = DEFAULT_ROOT, seed: int = DEFAULT_SEED) -> bool:
    return _is_complete(root, seed, version=SHORTCUT_VERSION)


def ensure_dataset(root: Path = DEFAULT_ROOT, seed: int = DEFAULT_SEED) -> Path:
    """Generate the shortcut variant unless a complete one is already there; return its folder."""
    return ensure(root, seed, is_complete, generate,
                  f"Generating the shortcut variant into {root} (a few seconds, once) ...")

