"""Tests for the plant dataset generator (data/generate.py, data/scenes.py): determinism, naming,
masks (the labelled plant's and a second plant's), scenes.json against the pixels, the real
dataset's counts, difficulty shares and checksums, verify(), and that a folder of your own images
is never touched."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from data.generate import (
    CLASS_NAMES,
    DEFAULT_ROOT,
    SPLIT_SIZES,
    ensure_dataset,
    generate,
    is_complete,
    verify,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
SMALL_SIZES = {"train": 8, "val": 4, "test": 4}
NAME_RE = re.compile(r"^[0-3]_[0-9a-f]{20}\.jpg$")


def make_small(root, seed=5):
    return generate(root, seed=seed, split_sizes=SMALL_SIZES, overview=False, progress=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small generated dataset (seed 5) shared by the read-only tests: (root, manifest)."""
    root = tmp_path_factory.mktemp("small") / "plants"
    return root, make_small(root)


@pytest.fixture
def small_copy(small, tmp_path):
    """A private copy of the small dataset, for tests that damage it."""
    root = tmp_path / "plants"
    shutil.copytree(small[0], root)
    return root


@pytest.fixture(scope="module")
def real_dataset():
    return ensure_dataset()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "data.generate", *map(str, args)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


# --- determinism -----------------------------------------------------------------------------

def test_same_seed_gives_identical_files(small, tmp_path):
    root_a, manifest_a = small
    root_b = tmp_path / "b"
    manifest_b = make_small(root_b)
    assert manifest_a["files"] == manifest_b["files"]
    assert manifest_a["fingerprint"] == manifest_b["fingerprint"]
    # an image, its mask and its second-plant mask per scene, and scenes.json
    assert len(manifest_a["files"]) == 3 * sum(SMALL_SIZES.values()) + 1
    assert "scenes.json" in manifest_a["files"]
    for rel in manifest_a["files"]:
        assert (root_a / rel).read_bytes() == (root_b / rel).read_bytes(), rel
    # the manifest on disk is what generate() returned
    assert json.loads((root_a / "manifest.json").read_text()) == manifest_a


def test_different_seed_gives_different_data(small, tmp_path):
    manifest_other = make_small(tmp_path / "other", seed=6)
    assert manifest_other["fingerprint"] != small[1]["fingerprint"]
    assert manifest_other["seed"] == 6 and small[1]["seed"] == 5


# --- names, images and masks -----------------------------------------------------------------

def test_names_images_and_masks(small):
    root, manifest = small
    centroids = []
    for split, n in SMALL_SIZES.items():
        images = sorted((root / split).iterdir())
        assert len(images) == n
        labels = [int(p.name[0]) for p in images]
        assert sorted(labels) == sorted(i % 4 for i in range(n))  # balanced
        for path in images:
            assert NAME_RE.match(path.name), path.name
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert image is not None and image.shape == (224, 224, 3) and image.dtype == np.uint8
            mask_path = root / "masks" / split / f"{path.stem}.png"
            assert mask_path.is_file(), mask_path
            mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
            assert mask.shape == (224, 224) and mask.dtype == np.uint8
            assert set(np.unique(mask).tolist()) <= {0, 255}
            # the labelled plant keeps at least 1.2% of the image visible (data/scenes.py)
            assert 0.01 <= (mask == 255).mean() <= 0.70, path.name
            ys, xs = np.nonzero(mask)
            centroids.append((xs.mean(), ys.mean()))
        for folder in ("masks", "masks_other"):
            masks = sorted((root / folder / split).iterdir())
            assert [m.stem for m in masks] == [p.stem for p in images]  # no stray masks either
    centroids = np.array(centroids)
    # the plant moves around: centroids spread over tens of pixels in both directions
    assert np.ptp(centroids[:, 0]) > 20 and np.ptp(centroids[:, 1]) > 20, centroids
    assert len({(round(x), round(y)) for x, y in centroids}) == len(centroids)


# --- the real dataset ------------------------------------------------------------------------

def test_real_dataset_counts_and_balance(real_dataset):
    assert real_dataset == DEFAULT_ROOT
    assert SPLIT_SIZES == {"train": 800, "val": 200, "test": 80}
    for split, n in SPLIT_SIZES.items():
        images = list((real_dataset / split).glob("*.jpg"))
        assert len(images) == n, split
        assert all(NAME_RE.match(p.name) for p in images)
        per_class = [sum(p.name.startswith(f"{label}_") for p in images)
                     for label in range(len(CLASS_NAMES))]
        assert per_class == [n // 4] * 4, (split, per_class)
        assert len(list((real_dataset / "masks" / split).glob("*.png"))) == n
        assert len(list((real_dataset / "masks_other" / split).glob("*.png"))) == n


def test_real_dataset_is_intact(real_dataset):
    assert is_complete(real_dataset)
    assert verify(real_dataset) == []
    manifest = json.loads((real_dataset / "manifest.json").read_text())
    assert manifest["class_names"] == list(CLASS_NAMES)
    assert len(manifest["files"]) == 3 * sum(SPLIT_SIZES.values()) + 1
    overview = real_dataset / "overview.png"
    assert overview.is_file()
    assert overview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cv2.imread(str(overview)) is not None


# --- verify() --------------------------------------------------------------------------------

def test_verify_detects_changed_and_missing_files(small_copy):
    assert verify(small_copy) == []
    changed = next((small_copy / "train").glob("*.jpg"))
    changed.write_bytes(changed.read_bytes()[:-10] + b"0123456789")
    gone = next((small_copy / "masks" / "val").glob("*.png"))
    gone.unlink()
    problems = verify(small_copy)
    assert sorted(problems) == sorted([f"changed: train/{changed.name}",
                                       f"missing: masks/val/{gone.name}"])
    assert not is_complete(small_copy)  # a small dataset never counts as the full one


# --- a user's own folder is never written to -------------------------------------------------

@pytest.fixture
def user_folder(tmp_path):
    root = tmp_path / "my_photos"
    (root / "train").mkdir(parents=True)
    photo = root / "train" / "0_holiday.jpg"
    photo.write_bytes(b"my own photo, not a generated one")
    return root, photo


def test_generate_refuses_a_folder_without_manifest(user_folder):
    root, photo = user_folder
    before = photo.read_bytes()
    with pytest.raises(FileExistsError, match="manifest.json"):
        make_small(root)
    assert photo.read_bytes() == before
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == \
        ["train", "train/0_holiday.jpg"]


def test_cli_refuses_a_folder_without_manifest(user_folder):
    root, photo = user_folder
    before = photo.read_bytes()
    result = run_cli("--root", root)
    assert result.returncode == 2, result.stderr
    assert "error:" in result.stderr and str(root) in result.stderr
    assert "untouched" in result.stderr
    assert photo.read_bytes() == before
    assert not (root / "manifest.json").exists()


def test_cli_verify(small_copy):
    ok = run_cli("--verify", "--root", small_copy)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "every file matches" in ok.stdout
    target = next((small_copy / "test").glob("*.jpg"))
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    bad = run_cli("--verify", "--root", small_copy)
    assert bad.returncode == 1
    assert f"changed: test/{target.name}" in bad.stdout


# --- the hard scenes: second plant, occluders, frame, light (data/scenes.py) -----------------

def read_scene(root, split, path):
    """(image RGB, labelled mask > 0, other mask > 0) of one generated scene."""
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    main = cv2.imread(str(root / "masks" / split / f"{path.stem}.png"), cv2.IMREAD_UNCHANGED)
    other = cv2.imread(str(root / "masks_other" / split / f"{path.stem}.png"),
                       cv2.IMREAD_UNCHANGED)
    assert other.shape == main.shape == image.shape[:2] and other.dtype == np.uint8
    assert set(np.unique(other).tolist()) <= {0, 255}
    return image, main > 0, other > 0


def check_scene_facts(root, split_sizes):
    """Every image's scenes.json entry agrees with its pixels; returns all facts by file."""
    scenes = json.loads((root / "scenes.json").read_text())
    keys = {f"{split}/{p.name}" for split in split_sizes for p in (root / split).glob("*.jpg")}
    assert set(scenes) == keys
    contrast = {True: [], False: []}
    for split in split_sizes:
        for path in sorted((root / split).glob("*.jpg")):
            facts = scenes[f"{split}/{path.name}"]
            assert set(facts) == {"other_label", "occluded", "cut_by_frame", "dim_light"}
            image, main, other = read_scene(root, split, path)
            assert not (main & other).any(), f"{path.name}: the two masks overlap"
            label = int(path.name[0])
            if facts["other_label"] is None:
                assert not other.any(), f"{path.name}: no second plant, but its mask is not empty"
            else:
                assert facts["other_label"] in {0, 1, 2, 3} - {label}, path.name
                assert other.any(), f"{path.name}: a second plant without pixels"
            assert facts["occluded"] == 0.0 or 0.15 <= facts["occluded"] <= 0.60, path.name
            assert 0.0 <= facts["cut_by_frame"] < 1.0
            border = np.concatenate([main[0], main[-1], main[:, 0], main[:, -1]])
            if facts["cut_by_frame"] >= 0.05 and facts["occluded"] == 0.0:
                assert border.any(), f"{path.name}: cut by the frame, yet it touches no edge"
            contrast[facts["dim_light"]].append(image.astype(np.float32).std())
    if contrast[True] and contrast[False]:
        # dim, flat light: far less contrast than any ordinary light gives
        assert np.median(contrast[True]) < 0.6 * np.median(contrast[False]), contrast
    return scenes


def test_small_dataset_scenes_agree_with_pixels(small):
    check_scene_facts(small[0], SMALL_SIZES)


def test_real_dataset_scenes_agree_with_pixels(real_dataset):
    scenes = check_scene_facts(real_dataset, SPLIT_SIZES)
    facts = list(scenes.values())
    shares = {
        "other plant": np.mean([f["other_label"] is not None for f in facts]),
        "occluded": np.mean([f["occluded"] > 0 for f in facts]),
        "cut by the frame": np.mean([f["cut_by_frame"] >= 0.2 for f in facts]),
        "dim light": np.mean([f["dim_light"] for f in facts]),
    }
    # about 30% / 15% / 15% / 15% of 1,080 scenes (a binomial spread is about 1.4 points)
    wanted = {"other plant": 0.30, "occluded": 0.15, "cut by the frame": 0.15, "dim light": 0.15}
    for what, share in shares.items():
        assert abs(share - wanted[what]) < 0.05, (what, share)
    # every kind of difficulty reaches every class, and the test split has each of them
    for label in range(4):
        mine = [f for k, f in scenes.items() if k.split("/")[1].startswith(f"{label}_")]
        assert any(f["other_label"] is not None for f in mine)
        assert any(f["occluded"] > 0 for f in mine) and any(f["dim_light"] for f in mine)
    test = [f for k, f in scenes.items() if k.startswith("test/")]
    assert sum(f["other_label"] is not None for f in test) >= 10
    assert sum(f["occluded"] > 0 for f in test) >= 5 and sum(f["dim_light"] for f in test) >= 5


def test_scene_readers(real_dataset, tmp_path):
    import torch

    from utils.datasets import scene_facts, scene_masks

    scenes = json.loads((real_dataset / "scenes.json").read_text())
    key = next(k for k, f in scenes.items() if f["other_label"] is not None)
    path = real_dataset / key
    assert scene_facts(path) == scenes[key]
    main, other = scene_masks(path)
    _, main_px, other_px = read_scene(real_dataset, key.split("/")[0], path)
    assert torch.equal(main, torch.from_numpy(main_px.astype(np.float32)))
    assert torch.equal(other, torch.from_numpy(other_px.astype(np.float32)))
    small_main, small_other = scene_masks(path, size=(112, 112))
    assert small_main.shape == small_other.shape == (112, 112)
    # real photos have no scene files: a clear error naming the file
    (tmp_path / "train").mkdir()
    photo = tmp_path / "train" / "0_mine.jpg"
    cv2.imwrite(str(photo), np.zeros((32, 32, 3), np.uint8))
    for reader in (scene_masks, scene_facts):
        with pytest.raises(ValueError, match="0_mine.jpg.*generated"):
            reader(photo)
