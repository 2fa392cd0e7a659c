"""Reading the plant images: labels from file names, masks, and ImageNet-style preprocessing.

The naming convention: ``{label}_{unique_id}.jpg`` with label 0..3 = Rudo, Baya, Greg, Yuki,
in ``plants/{train,val,test}/``; masks (when there are any) in ``plants/masks/{split}/{stem}.png``.
Any folder of real photos named this way works in place of the generated dataset: point the
``PLANTS_DATA`` environment variable at it.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, Subset
from torchvision import transforms

from data import CLASS_NAMES  # the one home of the class names (re-exported here for lessons)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The dataset folder: ``$PLANTS_DATA`` if set, else the generated ``data/plants``.

    The generated dataset is made on first use (about 15 s), so a lesson can always call this.
    """
    if os.environ.get("PLANTS_DATA"):
        return Path(os.environ["PLANTS_DATA"])
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
        raise ValueError(f"{path}: file name should look like '{{label}}_{{unique_id}}.jpg' "
                         f"with label 0..{num_classes - 1}, e.g. '0_cafefa5f668e62183b8f.jpg'")
    label = int(head)
    if not 0 <= label < num_classes:
        raise ValueError(f"{path}: label {label} is out of range; expected 0..{num_classes - 1} "
                         f"({', '.join(CLASS_NAMES[:num_classes])})")
    return label


def load_rgb(path: Path | str) -> Image.Image:
    """Open an image file as RGB (grayscale and RGBA are converted); a clear error if unreadable."""
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here and names itself
            return image.convert("RGB")
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path}: cannot read this image ({err}). Is it a complete JPEG/PNG?") from err


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
            raise FileNotFoundError(
                f"{self.split_dir}: no such split folder. Run `make data` to generate the plant "
                "dataset, or set PLANTS_DATA to a folder with train/, val/ and test/.")
        self.paths = sorted(p for p in self.split_dir.iterdir()
                            if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise ValueError(f"{self.split_dir}: folder holds no images (*.jpg, *.jpeg, *.png)")
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
            raise FileNotFoundError(f"{path}: no mask for {self.paths[index].name} "
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
    elif isinstance(path_or_image, Image.Image):
        image = path_or_image.convert("RGB")
    elif isinstance(path_or_image, np.ndarray) and path_or_image.ndim == 3 \
            and path_or_image.shape[2] in (3, 4) and path_or_image.dtype == np.uint8:
        image = Image.fromarray(path_or_image[..., :3])
    else:
        raise TypeError("path_or_image must be a file path, a PIL image or an HxWx3 uint8 array, "
                        f"got {type(path_or_image).__name__}")
    return eval_transform(image_size)(image).unsqueeze(0)
