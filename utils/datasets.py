"""Reading the plant images: labels from file names, masks, and ImageNet-style preprocessing.

The naming convention: ``{label}_{unique_id}.jpg`` with label 0..3 = Rudo, Baya, Greg, Yuki,
in ``plants/{train,val,test}/``; masks (when there are any) in ``plants/masks/{split}/{stem}.png``.
Any folder of real photos named this way works in place of the generated dataset: point the
``PLANTS_DATA`` environment variable at it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset, Subset
from torchvision import transforms

from data import CLASS_NAMES  # the one home of the class names (re-exported here for lessons)
from utils.images import (  # load_rgb: the one image loader, re-exported for the lessons
    BadDataError, DataProblem, MissingDataError, check_image_size, load_rgb, to_viewer_rgb)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The dataset folder: ``$PLANTS_DATA`` if set, else the generated ``data/plants``.

    A relative ``PLANTS_DATA`` is resolved from the folder where the command was started
    (``$PWD``, which a shell sets and every program it starts inherits), not from the current
    folder: a Jupyter kernel runs in the notebook's folder, but ``PLANTS_DATA=photos make lab``
    means ``photos`` next to where you typed it. Without ``$PWD`` (e.g. on Windows) the current
    folder is used. The generated dataset is made on first use (about 15 s).
    """
    setting = os.environ.get("PLANTS_DATA")
    if setting:
        root = Path(setting).expanduser()
        started_in = Path(os.environ.get("PWD") or ".")
        if not started_in.is_dir():
            started_in = Path.cwd()
        if not root.is_absolute():
            root = (started_in / root).resolve()
        if not root.is_dir():
            how = "" if Path(setting).is_absolute() else f", resolved from {started_in}"
            raise MissingDataError(
                f"PLANTS_DATA={setting!r}{how}: no such folder ({root}). Set it to a folder "
                "that holds train/, val/ and test/ (an absolute path is safest), or unset it to "
                "use the generated dataset.")
        return root
    from data.generate import DEFAULT_ROOT, ensure_dataset
    return ensure_dataset(DEFAULT_ROOT)


def split_dir(split: str) -> Path:
    """``data_root() / split``, checked: ``split`` is one of train, val, test."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    return data_root() / split


def parse_label(path: Path | str, num_classes: int = len(CLASS_NAMES)) -> int:
    """The class label encoded at the start of a file name ``{label}_{unique_id}.ext``."""
    name = Path(path).name
    head, sep, rest = Path(name).stem.partition("_")
    if not sep or not head.isdigit() or not rest:
        raise BadDataError(f"{path}: file name should look like '{{label}}_{{unique_id}}.jpg' "
                           f"with label 0..{num_classes - 1}, e.g. '0_cafefa5f668e62183b8f.jpg'")
    label = int(head)
    if not 0 <= label < num_classes:
        raise BadDataError(f"{path}: label {label} is out of range; expected 0..{num_classes - 1} "
                           f"({', '.join(CLASS_NAMES[:num_classes])})")
    return label


class ImageDataset(Dataset):
    """Images of one split folder, labelled by their file names.

    ``dataset[i]`` is ``(image, label)`` or, with ``with_mask=True``, ``(image, label, mask)``:
    image = ``transform(PIL image)`` (default: a float tensor (3, H, W) in [0, 1]), label = int,
    mask = float tensor (H, W) in {0, 1} at the image tensor's size (nearest-neighbour resized;
    only meaningful with transforms that do not move pixels, i.e. no random crops or flips).
    """

    def __init__(self, split_dir: Path | str, transform=None, with_mask: bool = False,
                 class_names=CLASS_NAMES):
        self.split_dir = Path(split_dir)
        self.transform = transform or transforms.ToTensor()
        self.with_mask = with_mask
        self.class_names = list(class_names)
        if not self.split_dir.is_dir():
            raise MissingDataError(
                f"{self.split_dir}: no such split folder. Run `make data` to generate the plant "
                "dataset, or set PLANTS_DATA to a folder with train/, val/ and test/.")
        files = [p for p in self.split_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        # hidden files are not data: macOS writes '._name.jpg' (AppleDouble metadata) beside
        # each photo copied to a foreign disk, and those are not images at all
        self.skipped = sorted(p for p in files if p.name.startswith("."))
        self.paths = sorted(p for p in files if not p.name.startswith("."))
        if not self.paths:
            raise BadDataError(f"{self.split_dir}: folder holds no images (*.jpg, *.jpeg, *.png; "
                               "hidden files such as macOS '._' files are skipped)")
        self.labels = [parse_label(p, len(self.class_names)) for p in self.paths]
        self.mask_dir = self.split_dir.parent / "masks" / self.split_dir.name

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = self.transform(load_rgb(self.paths[index]))
        if not self.with_mask:
            return image, self.labels[index]
        return image, self.labels[index], self.mask(index, size=tuple(image.shape[-2:]))

    def mask(self, index: int, size=None) -> torch.Tensor:
        """The ground-truth plant mask of image ``index``: float (H, W) in {0, 1}."""
        path = self.mask_dir / f"{self.paths[index].stem}.png"
        if not path.exists():
            raise MissingDataError(f"{path}: no mask for {self.paths[index].name} "
                                   "(only the generated dataset has masks)")
        mask = Image.open(path).convert("L")
        if size is not None:
            mask = mask.resize((size[1], size[0]), Image.NEAREST)
        return torch.from_numpy((np.asarray(mask) >= 128).astype(np.float32))


def balanced_subset(dataset: ImageDataset, size: int) -> Subset:
    """The first ``size // num_classes`` images of every class (files are sorted by label, so
    ``range(size)`` would take a single class)."""
    per_class = size // len(dataset.class_names)
    picks = [index for label in range(len(dataset.class_names))
             for index in [i for i, y in enumerate(dataset.labels) if y == label][:per_class]]
    return Subset(dataset, picks)


def eval_transform(image_size: int = 224):
    """Resize to a square and normalise with the ImageNet statistics (what the backbone expects)."""
    return transforms.Compose([
        transforms.Resize((image_size, image_size)),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def preprocess_imagenet_image(path_or_image, image_size: int = 224) -> torch.Tensor:
    """A file path, PIL image or HxWx3 uint8 array -> normalised tensor (1, 3, size, size)."""
    if isinstance(path_or_image, (str, Path)):
        image = load_rgb(path_or_image)
    elif isinstance(path_or_image, Image.Image):  # the same reading as a file's
        check_image_size(path_or_image.size, "image")
        image = to_viewer_rgb(ImageOps.exif_transpose(path_or_image))
    elif isinstance(path_or_image, np.ndarray) and path_or_image.ndim == 3 \
            and path_or_image.shape[2] in (3, 4) and path_or_image.dtype == np.uint8:
        check_image_size(path_or_image.shape[1::-1], "array")
        image = to_viewer_rgb(Image.fromarray(path_or_image))  # RGBA: over white, like a file
    else:
        raise TypeError("path_or_image must be a file path, a PIL image or an HxWx3 uint8 array, "
                        f"got {type(path_or_image).__name__}")
    return eval_transform(image_size)(image).unsqueeze(0)


class EarlierDataError(RuntimeError):
    """Raised by a notebook cell that needs data which an earlier cell could not read."""


class DataCells:
    """Remembers a notebook's first data error, so that the cells after it repeat that message.

    Without this, a missing folder or a bad file stops one cell with a clear message, and every
    later cell then fails with a NameError (the variables the first cell should have made do not
    exist), which buries the real problem. One per notebook; wrap each cell that reads data::

        data_cells = DataCells()
        with data_cells.cell("load the data"):
            train_set = ImageDataset(split_dir("train"))

    Only the loaders' own errors (``DataProblem``) are remembered, never a bug in your code.
    Running the cell that failed again (after a fix) tries again.
    """

    def __init__(self):
        self.first_error = None  # (cell name, DataProblem)

    @contextmanager
    def cell(self, name: str):
        if self.first_error is not None and self.first_error[0] != name:
            failed_cell, error = self.first_error
            raise EarlierDataError(
                f"this cell needs the data, which the cell '{failed_cell}' could not read: "
                f"{error} -- fix that, then run the notebook again from the top.") from None
        self.first_error = None
        try:
            yield
        except DataProblem as error:
            self.first_error = (name, error)
            raise


# --- what the generated datasets know about each scene (data/README.md) ------------------------
# Real photos have none of this: each reader raises a ValueError that says so.
import json  # noqa: E402  (appended section: its imports stay with it)
from functools import lru_cache  # noqa: E402


def _beside(image_path, folder: str, what: str) -> Path:
    """``<root>/<folder>/<split>/<stem>.png`` for ``<root>/<split>/<stem>.jpg``, checked."""
    path = Path(image_path)
    found = path.parent.parent / folder / path.parent.name / f"{path.stem}.png"
    if not found.is_file():
        raise ValueError(f"{path}: no {what} ({found} does not exist). Only the generated "
                         "datasets have it (`make data`); real photos have no scene masks.")
    return found


def _binary_mask(path: Path, size=None) -> torch.Tensor:
    mask = Image.open(path).convert("L")
    if size is not None:
        mask = mask.resize((size[1], size[0]), Image.NEAREST)
    return torch.from_numpy((np.asarray(mask) >= 128).astype(np.float32))


def scene_masks(image_path, size=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(labelled plant, second plant) masks of a generated image: float (H, W) in {0, 1}.

    The second mask is all zero when the scene has no second plant; the two never overlap.
    ``size=(H, W)`` resizes both (nearest neighbour), e.g. to a model input's size.
    """
    return (_binary_mask(_beside(image_path, "masks", "plant mask"), size),
            _binary_mask(_beside(image_path, "masks_other", "second-plant mask"), size))


def cue_mask(image_path, size=None) -> torch.Tensor:
    """The shortcut tag's mask of an image of ``data/plants_shortcut``: float (H, W) in {0, 1}."""
    return _binary_mask(_beside(image_path, "masks_cue", "cue mask"), size)


def _facts(image_path, file_name: str) -> dict:
    path = Path(image_path)
    table_path = path.parent.parent / file_name
    if not table_path.is_file():
        raise ValueError(f"{path}: no {file_name} beside its split folder ({table_path}). Only "
                         "the generated datasets record scene facts (`make data`).")
    table = _read_json(str(table_path), table_path.stat().st_mtime_ns)
    key = f"{path.parent.name}/{path.name}"
    if key not in table:
        raise ValueError(f"{path}: {table_path} has no entry {key!r}; regenerate with `make data`.")
    return dict(table[key])


@lru_cache(maxsize=8)
def _read_json(path: str, _mtime_ns: int) -> dict:  # the mtime makes a regenerated file re-read
    return json.loads(Path(path).read_text())


def scene_facts(image_path) -> dict:
    """scenes.json's entry of a generated image: other_label (int or None), occluded (share of the
    labelled plant hidden in front), cut_by_frame (share outside the image), dim_light (bool)."""
    return _facts(image_path, "scenes.json")


def cue_facts(image_path) -> dict:
    """cues.json's entry of a shortcut image: cue_label (the tag's class), corner."""
    return _facts(image_path, "cues.json")


def shortcut_root() -> Path:
    """The shortcut variant's folder ``data/plants_shortcut``, generated on first use."""
    from data.shortcut import ensure_dataset
    return ensure_dataset()
