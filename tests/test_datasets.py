"""Tests for utils/datasets.py: ImageDataset on a small generated dataset, the errors that bad
files and folders raise (each naming the file or folder), and ImageNet preprocessing."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from data.generate import generate
from utils.datasets import (
    CLASS_NAMES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageDataset,
    data_root,
    load_rgb,
    parse_label,
    preprocess_imagenet_image,
    split_dir,
)

SMALL_SIZES = {"train": 8, "val": 4, "test": 4}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "plants"
    generate(root, seed=11, split_sizes=SMALL_SIZES, overview=False, progress=False)
    return root


@pytest.fixture
def a_jpeg(small):
    return next((small / "train").glob("*.jpg"))


@pytest.fixture
def folder_with(tmp_path, a_jpeg):
    """A split folder holding one good image plus the given extra files: name -> bytes."""
    def make(extra):
        split = tmp_path / "split"
        split.mkdir()
        shutil.copy(a_jpeg, split / "0_good.jpg")
        for name, data in extra.items():
            (split / name).write_bytes(data)
        return split
    return make


def unnormalise(x):
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return x * std + mean


# --- the dataset on good data ----------------------------------------------------------------

def test_dataset_basics(small):
    ds = ImageDataset(small / "train")
    assert len(ds) == 8
    assert ds.class_names == list(CLASS_NAMES) == ["Rudo", "Baya", "Greg", "Yuki"]
    assert ds.labels == [int(p.name.split("_")[0]) for p in ds.paths]
    assert sorted(ds.labels) == [0, 0, 1, 1, 2, 2, 3, 3]
    image, label = ds[0]
    assert isinstance(image, torch.Tensor) and image.dtype == torch.float32
    assert image.shape == (3, 224, 224)
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert isinstance(label, int) and label == ds.labels[0]
    assert len(ImageDataset(small / "val")) == 4


def test_dataset_with_mask_matches_image_size(small):
    ds = ImageDataset(small / "test", with_mask=True)
    image, label, mask = ds[1]
    assert mask.shape == image.shape[-2:] == (224, 224)
    assert mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert 0 < mask.mean() < 1
    # with a resizing transform the mask follows the image's size
    small_ds = ImageDataset(small / "test", with_mask=True, transform=transforms.Compose(
        [transforms.Resize((64, 48)), transforms.ToTensor()]))
    image, _, mask = small_ds[1]
    assert image.shape == (3, 64, 48) and mask.shape == (64, 48)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}


def test_dataset_missing_mask_names_file(tmp_path, a_jpeg):
    split = tmp_path / "train"
    split.mkdir()
    shutil.copy(a_jpeg, split / "2_photo.jpg")
    ds = ImageDataset(split, with_mask=True)
    with pytest.raises(FileNotFoundError, match="2_photo"):
        ds[0]


def test_grayscale_and_rgba_become_rgb(tmp_path):
    split = tmp_path / "train"
    split.mkdir()
    Image.fromarray(np.full((36, 40), 77, np.uint8), "L").save(split / "0_gray.png")
    rgba = np.zeros((36, 40, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 128  # half transparent green: a viewer shows it over white
    Image.fromarray(rgba, "RGBA").save(split / "1_rgba.png")
    ds = ImageDataset(split)
    assert ds.labels == [0, 1]
    for i in range(2):
        image, _ = ds[i]
        assert image.shape == (3, 36, 40)
    gray, _ = ds[0]
    assert torch.allclose(gray, torch.full_like(gray, 77 / 255))
    rgb = np.asarray(load_rgb(split / "1_rgba.png"))
    expected = np.round(np.array([0, 200, 0]) * 128 / 255 + 255 * (1 - 128 / 255))
    assert np.abs(rgb.astype(int) - expected).max() <= 1, rgb[0, 0]


def test_hidden_and_appledouble_files_are_skipped(folder_with):
    """macOS leaves '._name.jpg' metadata files (not images) beside photos on foreign disks."""
    split = folder_with({"._0_good.jpg": b"\x00\x05\x16\x07 AppleDouble", ".1_hidden.jpg": b""})
    ds = ImageDataset(split)
    assert [p.name for p in ds.paths] == ["0_good.jpg"]
    assert sorted(p.name for p in ds.skipped) == [".1_hidden.jpg", "._0_good.jpg"]
    image, label = ds[0]
    assert image.shape[0] == 3 and label == 0


def test_only_hidden_files_say_so(tmp_path):
    split = tmp_path / "split"
    split.mkdir()
    (split / "._0_a.jpg").write_bytes(b"\x00\x05\x16\x07")
    with pytest.raises(ValueError, match="holds no images.*'._' files are skipped"):
        ImageDataset(split)


# --- bad inputs: clear errors that name the file or folder -----------------------------------

@pytest.mark.parametrize("name", ["plant.jpg", "x_abc.jpg", "_abc.jpg", "3_.jpg"])
def test_bad_name_is_rejected(folder_with, name):
    split = folder_with({name: b""})
    with pytest.raises(ValueError, match=r"\{label\}_\{unique_id\}") as err:
        ImageDataset(split)
    assert name in str(err.value)


def test_label_out_of_range(folder_with):
    split = folder_with({"7_abc.jpg": b""})
    with pytest.raises(ValueError, match="label 7 is out of range") as err:
        ImageDataset(split)
    assert "7_abc.jpg" in str(err.value) and "0..3" in str(err.value)
    # fewer classes narrow the range
    with pytest.raises(ValueError, match="out of range"):
        parse_label("3_abc.jpg", num_classes=3)
    assert parse_label(Path("some/dir/3_abc.jpg")) == 3


def test_unreadable_file(folder_with):
    rng = np.random.default_rng(0)
    split = folder_with({"1_noise.jpg": rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()})
    ds = ImageDataset(split)  # names are fine; the bytes are read on access
    with pytest.raises(ValueError, match="cannot read this image") as err:
        ds[ds.paths.index(split / "1_noise.jpg")]
    assert "1_noise.jpg" in str(err.value)


def test_truncated_jpeg(folder_with, a_jpeg):
    data = a_jpeg.read_bytes()
    split = folder_with({"2_cut.jpg": data[: len(data) // 2]})
    ds = ImageDataset(split)
    with pytest.raises(ValueError, match="cannot read this image") as err:
        ds[ds.paths.index(split / "2_cut.jpg")]
    assert "2_cut.jpg" in str(err.value)
    with pytest.raises(ValueError, match="2_cut.jpg"):
        preprocess_imagenet_image(split / "2_cut.jpg")


def test_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="holds no images") as err:
        ImageDataset(empty)
    assert str(empty) in str(err.value)


def test_missing_split_folder(tmp_path):
    missing = tmp_path / "nowhere" / "train"
    with pytest.raises(FileNotFoundError, match="make data") as err:
        ImageDataset(missing)
    assert str(missing) in str(err.value)


def test_missing_image_file_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_rgb(tmp_path / "0_gone.jpg")


# --- preprocessing ---------------------------------------------------------------------------

def test_preprocess_from_path_pil_and_array(a_jpeg):
    from_path = preprocess_imagenet_image(a_jpeg)
    pil = Image.open(a_jpeg)
    from_pil = preprocess_imagenet_image(pil)
    array = np.asarray(pil.convert("RGB"))
    from_array = preprocess_imagenet_image(array)
    for x in (from_path, from_pil, from_array):
        assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
        raw = unnormalise(x)
        assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5
    assert torch.equal(from_path, from_pil) and torch.equal(from_path, from_array)
    # an RGBA array and another size
    rgba = np.dstack([array, np.full(array.shape[:2], 255, np.uint8)])
    x = preprocess_imagenet_image(rgba[:100, :150], image_size=96)
    assert x.shape == (1, 3, 96, 96)
    raw = unnormalise(x)
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5


@pytest.mark.parametrize("bad", [
    42, None, torch.zeros(3, 224, 224), np.zeros((224, 224, 3), np.float32),
    np.zeros((224, 224), np.uint8), np.zeros((224, 224, 2), np.uint8)])
def test_preprocess_bad_type(bad):
    with pytest.raises(TypeError, match="path_or_image"):
        preprocess_imagenet_image(bad)


# --- where the data is -----------------------------------------------------------------------

def test_split_dir_rejects_unknown_split():
    with pytest.raises(ValueError, match="bogus"):
        split_dir("bogus")


def test_plants_data_env_redirects(monkeypatch, small):
    monkeypatch.setenv("PLANTS_DATA", str(small))
    assert data_root() == small
    assert split_dir("val") == small / "val"
    assert len(ImageDataset(split_dir("test"))) == 4


def test_relative_plants_data_is_resolved_from_where_the_command_started(monkeypatch, small,
                                                                          tmp_path):
    """In the lab the kernel runs in the notebook's folder, but $PWD is where `make lab` ran."""
    notebook_folder = tmp_path / "course" / "01_finetune_resnet"
    notebook_folder.mkdir(parents=True)
    monkeypatch.chdir(notebook_folder)
    monkeypatch.setenv("PWD", str(small.parent))
    monkeypatch.setenv("PLANTS_DATA", small.name)
    assert data_root() == small.resolve()
    monkeypatch.delenv("PWD")  # no $PWD (e.g. Windows): the current folder
    monkeypatch.chdir(small.parent)
    assert data_root() == small.resolve()


def test_missing_plants_data_folder_says_how_it_was_resolved(monkeypatch, tmp_path):
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.setenv("PLANTS_DATA", "my_photos")
    with pytest.raises(FileNotFoundError) as err:
        data_root()
    message = str(err.value)
    assert "PLANTS_DATA='my_photos'" in message and f"resolved from {tmp_path}" in message
    assert str(tmp_path / "my_photos") in message and "train/, val/ and test/" in message


# --- a notebook's first data error, repeated by the cells after it ---------------------------

def test_data_cells_repeat_the_first_data_error(tmp_path):
    from utils.datasets import DataCells, EarlierDataError

    cells = DataCells()
    missing = tmp_path / "photos" / "train"
    with pytest.raises(FileNotFoundError, match="no such split folder"):
        with cells.cell("load"):
            ImageDataset(missing)
    with pytest.raises(EarlierDataError) as err:  # a later cell: the first message, no NameError
        with cells.cell("train"):
            raise AssertionError("the body of a later cell must not run")
    assert "the cell 'load' could not read" in str(err.value) and str(missing) in str(err.value)
    missing.mkdir(parents=True)  # fixed; running the failed cell again tries again
    Image.new("RGB", (40, 40)).save(missing / "0_a.png")
    with cells.cell("load"):
        dataset = ImageDataset(missing)
    with cells.cell("train"):
        assert len(dataset) == 1


def test_data_cells_leave_other_errors_alone():
    """A bug in the student's own code is theirs to see, not reported as a data problem."""
    from utils.datasets import DataCells

    cells = DataCells()
    with pytest.raises(ValueError, match="my bug"):
        with cells.cell("train"):
            raise ValueError("my bug")
    with cells.cell("score"):
        pass  # runs: nothing was remembered
