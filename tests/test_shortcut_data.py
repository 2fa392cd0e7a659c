"""The shortcut variant (data/shortcut.py): determinism, layout, the tag and its mask, and the
tag/label relation per split, read both from cues.json and from the pixels."""
import json

import cv2
import numpy as np
import pytest

from data.generate import SPLIT_SIZES, verify
from data.shortcut import (CORNERS, IMAGE_SIZE, TAG_COLOURS, TAG_SIZE, ensure_dataset, generate,
                           is_complete, tag_box)

SMALL_SIZES = {"train": 8, "val": 4, "test": 8}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("shortcut") / "plants_shortcut"
    return root, generate(root, seed=5, split_sizes=SMALL_SIZES, progress=False)


@pytest.fixture(scope="module")
def real_shortcut():
    return ensure_dataset()


def tag_colour_class(image, box) -> int:
    """The class whose tag colour is nearest to the mean colour inside ``box``."""
    x0, y0, x1, y1 = box
    mean = image[y0 + 2:y1 - 2, x0 + 2:x1 - 2].reshape(-1, 3).mean(axis=0)  # JPEG-soft edges off
    return int(np.argmin([np.abs(mean - np.array(c)).sum() for c in TAG_COLOURS]))


def check_split(root, split, n):
    """Images, masks and cues of one split agree; returns [(label, cue_label, class by pixels)]."""
    cues = json.loads((root / "cues.json").read_text())
    rows = []
    images = sorted((root / split).glob("*.jpg"))
    assert len(images) == n
    assert sorted(int(p.name[0]) for p in images) == sorted(i % 4 for i in range(n))
    for path in images:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        assert image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        plant = cv2.imread(str(root / "masks" / split / f"{path.stem}.png"), cv2.IMREAD_UNCHANGED)
        cue = cv2.imread(str(root / "masks_cue" / split / f"{path.stem}.png"), cv2.IMREAD_UNCHANGED)
        assert set(np.unique(cue).tolist()) == {0, 255} and plant.any()
        assert not ((plant > 0) & (cue > 0)).any(), f"{path.name}: plant and tag masks overlap"
        facts = cues[f"{split}/{path.name}"]
        assert facts["corner"] in CORNERS
        x0, y0, x1, y1 = tag_box(facts["corner"])
        expected = np.zeros_like(cue)
        expected[y0:y1, x0:x1] = 255
        assert np.array_equal(cue, expected), f"{path.name}: the cue mask is not the tag"
        assert (cue > 0).sum() == TAG_SIZE ** 2
        by_pixels = tag_colour_class(image, (x0, y0, x1, y1))
        rows.append((int(path.name[0]), facts["cue_label"], by_pixels))
    return rows


def test_same_seed_same_bytes(small, tmp_path):
    again = generate(tmp_path / "again", seed=5, split_sizes=SMALL_SIZES, progress=False)
    assert again["files"] == small[1]["files"]
    assert len(again["files"]) == 3 * sum(SMALL_SIZES.values()) + 1  # image, 2 masks; cues.json
    for rel in again["files"]:
        assert (tmp_path / "again" / rel).read_bytes() == (small[0] / rel).read_bytes(), rel
    other = generate(tmp_path / "other", seed=6, split_sizes=SMALL_SIZES, progress=False)
    assert other["fingerprint"] != small[1]["fingerprint"]


@pytest.mark.parametrize("split", list(SMALL_SIZES))
def test_small_tag_tells_the_truth_only_outside_test(small, split):
    rows = check_split(small[0], split, SMALL_SIZES[split])
    for label, cue_label, by_pixels in rows:
        assert by_pixels == cue_label, "the tag's colour is not the recorded cue class"
        assert (cue_label == label) == (split != "test"), (split, label, cue_label)


def test_real_shortcut_dataset(real_shortcut):
    assert is_complete(real_shortcut) and verify(real_shortcut) == []
    for split, n in SPLIT_SIZES.items():
        rows = check_split(real_shortcut, split, n)
        matches = [cue == label for label, cue, _ in rows]
        # from cues.json: the tag names the label in every train/val image and in no test image
        assert all(matches) if split != "test" else not any(matches), split
        # from the pixels: the same, read off the tag's colour
        by_pixels = [seen == label for label, _, seen in rows]
        assert by_pixels == matches, split
    test_cues = [cue for _, cue, _ in check_split(real_shortcut, "test", 80)]
    assert len(set(test_cues)) == 4, "wrong tags of every colour in the test split"


def test_cue_readers(real_shortcut):
    import torch

    from utils.datasets import cue_facts, cue_mask, shortcut_root

    assert shortcut_root() == real_shortcut
    path = sorted((real_shortcut / "test").glob("*.jpg"))[0]
    facts = cue_facts(path)
    mask = cue_mask(path)
    assert mask.shape == (IMAGE_SIZE, IMAGE_SIZE) and mask.sum().item() == TAG_SIZE ** 2
    x0, y0, x1, y1 = tag_box(facts["corner"])
    assert torch.all(mask[y0:y1, x0:x1] == 1)
    with pytest.raises(ValueError, match="cue mask"):
        cue_mask(path.parent.parent.parent / "plants" / "test" / path.name)
