"""The classifier: ResNet18 with a plant head, and checkpoints in the course's format.

A checkpoint is a plain dict saved with ``torch.save`` and loadable with ``weights_only=True``:
``model_state_dict``, ``class_names``, ``train_acc``, ``val_acc``, ``test_acc``, ``epoch``, plus
what a user needs to reuse it: ``arch``, ``num_classes``, ``image_size``, ``normalisation``,
``init_weights`` (``"imagenet"`` or ``"random"``: what training started from) and
``dataset_fingerprint`` (of the generated dataset it was trained on, when known).
"""
from __future__ import annotations

import os
import pickle
import re
import socket
import sys
import warnings
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from utils.datasets import CLASS_NAMES, IMAGENET_MEAN, IMAGENET_STD, REPO_ROOT

CHECKPOINT_DIR = REPO_ROOT / "checkpoints"
# What lessons 02-06, explain and the student bundle use: the checkpoint chosen by validation
# accuracy (plant_classifier_final.pth, the last epoch, is kept beside it).
SHIPPED_CHECKPOINT = CHECKPOINT_DIR / "best_plant_classifier.pth"

REQUIRED_KEYS = ("model_state_dict", "class_names", "train_acc", "val_acc", "test_acc", "epoch")


def build_resnet18(num_classes: int = len(CLASS_NAMES), pretrained="auto") -> nn.Module:
    """ResNet18 whose last layer is a fresh ``nn.Linear(512, num_classes)``.

    pretrained: True = ImageNet weights or an error; False = random initialisation;
    ``"auto"`` = ImageNet weights when they can be had (cached or downloadable), else random
    with a message. ``model.init_weights`` records which (``"imagenet"`` or ``"random"``).
    """
    # bool or "auto" only: 1 == True, but 1 is not a documented value (it silently acted as "auto")
    if not (isinstance(pretrained, bool) or (isinstance(pretrained, str) and pretrained == "auto")):
        raise ValueError(f"pretrained must be True, False or 'auto', got {pretrained!r}")
    model, init = None, "random"
    if pretrained:
        try:
            model, init = _imagenet_resnet18(), "imagenet"
        except (OSError, RuntimeError) as err:  # URLError is an OSError
            message = (f"ImageNet weights for ResNet18 are not available ({err}). They download "
                       "once from the PyTorch model hub into "
                       f"{Path(torch.hub.get_dir()) / 'checkpoints'}; copy "
                       "'resnet18-f37072fd.pth' there to work offline.")
            if pretrained is True:
                raise RuntimeError(message) from err
            print(message + " Starting from random weights instead.", file=sys.stderr)
    if model is None:
        model = resnet18(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    model.init_weights = init
    return model


def _imagenet_resnet18() -> nn.Module:
    # a short socket timeout, so that a machine without a network fails in seconds, not minutes
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(20)
    try:
        return resnet18(weights=ResNet18_Weights.IMAGENET1K_V1, progress=False)
    finally:
        socket.setdefaulttimeout(previous)


def save_checkpoint(path, model: nn.Module, *, train_acc: float, val_acc: float, test_acc: float,
                    epoch: int, class_names=CLASS_NAMES, image_size: int = 224,
                    half: bool = False, **extra) -> Path:
    """Write ``model`` and its metrics to ``path`` in the course's checkpoint format.

    ``half=True`` stores floating-point weights as float16 (half the size; loading converts them
    back). Extra keyword arguments (e.g. ``dataset_fingerprint``, ``history``) are stored as they
    are. The file is written to a temporary name first, so a crash never leaves half a checkpoint.
    """
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    checkpoint = {
        "model_state_dict": state,
        "class_names": list(class_names),
        "train_acc": float(train_acc),
        "val_acc": float(val_acc),
        "test_acc": float(test_acc),
        "epoch": int(epoch),
        "arch": "resnet18",
        "num_classes": len(class_names),
        "image_size": int(image_size),
        "normalisation": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        "init_weights": getattr(model, "init_weights", "unknown"),
        "weights_dtype": "float16" if half else "float32",
        **extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)
    return path


def _safe_load(path: Path, device):
    """torch.load with weights_only=True (nothing in the file can run code), with errors that say
    what the file is and what to do. torch's own message for a refused file advises loading it
    unsafely; it is not repeated here, because a course checkpoint never needs that."""
    try:
        with warnings.catch_warnings():  # torch warns about an unusual pickle protocol first
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        refused = re.search(r"GLOBAL ([\w.]+)", str(err))
        if refused:
            raise ValueError(
                f"{path}: not a course checkpoint, and possibly unsafe: it holds a pickled Python "
                f"object ({refused[1]}), and unpickling one can run any code, so it was not "
                "loaded. A course checkpoint holds only tensors and numbers. Use "
                f"{SHIPPED_CHECKPOINT.relative_to(REPO_ROOT)}, make one with lesson 01 or "
                "`make checkpoints`, or, if you wrote this file yourself, load it in your own "
                "code and save the model with utils.models.save_checkpoint.") from None
        detail = "not a PyTorch checkpoint, or damaged"
    except Exception as err:  # torch raises several types for damaged or foreign files
        detail = f"{type(err).__name__}: {_first_sentence(str(err))}"
    raise ValueError(f"{path}: not a readable checkpoint ({detail}). Is the file complete? "
                     "Copy it again, or use a checkpoint written by utils.models.save_checkpoint "
                     "(lesson 01, `make checkpoints`).")


def _first_sentence(message: str) -> str:
    return message.split(". ")[0].splitlines()[0][:200]


def load_checkpoint(path, model: nn.Module | None = None, device="cpu"):
    """Read a checkpoint; return ``(model, checkpoint_dict)`` with the model in eval mode.

    Without ``model`` a ResNet18 of the right class count is built. Errors name the file and say
    what is wrong: missing file, not a checkpoint, missing keys, class count that does not fit.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint. The course ships "
                                "checkpoints/best_plant_classifier.pth; `make checkpoints` retrains it.")
    checkpoint = _safe_load(path, device)
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path}: expected a dict with {', '.join(REQUIRED_KEYS)}, "
                         f"got {type(checkpoint).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in checkpoint]
    if missing:
        raise ValueError(f"{path}: checkpoint is missing {', '.join(missing)}; "
                         f"expected keys {', '.join(REQUIRED_KEYS)}")
    num_classes = len(checkpoint["class_names"])
    head = checkpoint["model_state_dict"].get("fc.weight")
    if head is not None and head.shape[0] != num_classes:
        raise ValueError(f"{path}: head has {head.shape[0]} outputs but class_names lists "
                         f"{num_classes} classes")
    if model is None:
        model = build_resnet18(num_classes, pretrained=False)
    out_features = getattr(getattr(model, "fc", None), "out_features", None)
    if out_features is not None and out_features != num_classes:
        raise ValueError(f"{path}: checkpoint has {num_classes} classes "
                         f"({', '.join(checkpoint['class_names'])}) but the model's head has "
                         f"{out_features} outputs")
    try:
        model.load_state_dict(checkpoint["model_state_dict"])
    except RuntimeError as err:
        raise ValueError(f"{path}: weights do not fit the model: {str(err)[:300]}") from err
    model.init_weights = checkpoint.get("init_weights", "unknown")
    return model.to(device).eval(), checkpoint
