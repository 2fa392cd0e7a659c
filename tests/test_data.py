"""Tests for the plant dataset generator (data/generate.py): determinism, naming, masks, the real
dataset's counts and checksums, verify(), and that a folder of your own images is never touched."""

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
    assert len(manifest_a["files"]) == 2 * sum(SMALL_SIZES.values())
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
            # the real dataset's smallest plant covers 1.7% of its image, the largest 22%
            assert 0.01 <= (mask == 255).mean() <= 0.70, path.name
            ys, xs = np.nonzero(mask)
            centroids.append((xs.mean(), ys.mean()))
        masks = sorted((root / "masks" / split).iterdir())
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


def test_real_dataset_is_intact(real_dataset):
    assert is_complete(real_dataset)
    assert verify(real_dataset) == []
    manifest = json.loads((real_dataset / "manifest.json").read_text())
    assert manifest["class_names"] == list(CLASS_NAMES)
    assert len(manifest["files"]) == 2 * sum(SPLIT_SIZES.values())
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
