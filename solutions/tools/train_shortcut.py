"""Train the shortcut classifier: ``python -m solutions.tools.train_shortcut`` (`make checkpoints`).

A ResNet18 from random initialisation, trained for a few minutes on the shortcut variant of the
data (``data/plants_shortcut``, 128 px, a coloured corner tag that matches the label in train and
val but names a wrong class in every test image). The augmentation keeps the tag (flips only, no
crops), so the cheapest rule the network can find is "read the tag": high validation accuracy,
a test accuracy far lower, and nearly every test prediction is the tag's class. Lesson 06 catches
this with Grad-CAM (the map sits on the tag) and removes it.

Writes ``checkpoints/shortcut_classifier.pth`` in the course's checkpoint format (half precision),
with ``test_follows_cue``: the share of test images predicted as the tag's class.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

from data.shortcut import DEFAULT_ROOT, IMAGE_SIZE, ensure_dataset
from solutions.reference.finetune_resnet import evaluate, fit
from solutions.tools.train_checkpoints import CHECKPOINT_DIR, round_to_half, score
from utils.datasets import CLASS_NAMES, IMAGENET_MEAN, IMAGENET_STD, ImageDataset
from utils.models import build_resnet18, save_checkpoint


def cue_following(model, root: Path, image_size: int = IMAGE_SIZE) -> float:
    """Share of the TEST images that ``model`` assigns to the class of their (wrong) tag."""
    cues = json.loads((Path(root) / "cues.json").read_text())
    dataset = ImageDataset(Path(root) / "test", transform=_eval_transform(image_size))
    _, _, predictions, _ = evaluate(model, DataLoader(dataset, batch_size=64),
                                    nn.CrossEntropyLoss(), "cpu")
    cue_labels = torch.tensor([cues[f"test/{p.name}"]["cue_label"] for p in dataset.paths])
    return (predictions == cue_labels).float().mean().item()


def _eval_transform(image_size):
    return transforms.Compose([transforms.Resize((image_size, image_size)), transforms.ToTensor(),
                               transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--out", type=Path, default=CHECKPOINT_DIR)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    root = ensure_dataset(args.root) if args.root == DEFAULT_ROOT else args.root
    manifest = json.loads((root / "manifest.json").read_text())
    # flips move the tag to the other corner but never remove it: the shortcut stays available
    train_transform = transforms.Compose([transforms.RandomHorizontalFlip(),
                                          _eval_transform(IMAGE_SIZE)])
    train_loader = DataLoader(ImageDataset(root / "train", transform=train_transform),
                              batch_size=args.batch_size, shuffle=True)
    val_loader = DataLoader(ImageDataset(root / "val", transform=_eval_transform(IMAGE_SIZE)),
                            batch_size=64)
    model = build_resnet18(len(CLASS_NAMES), pretrained=False)
    start = time.perf_counter()
    history, _, _ = fit(model, train_loader, val_loader, args.epochs, args.lr, "cpu")
    seconds = time.perf_counter() - start
    print(f"trained {args.epochs} epochs in {seconds / 60:.1f} min from random weights")

    model = round_to_half(model.eval())
    accuracies = score(model, IMAGE_SIZE, root=root)
    follows = cue_following(model, root)
    path = save_checkpoint(
        args.out / "shortcut_classifier.pth", model, epoch=args.epochs,
        train_acc=accuracies["train"], val_acc=accuracies["val"], test_acc=accuracies["test"],
        image_size=IMAGE_SIZE, half=True, history=history, test_follows_cue=follows,
        dataset="plants_shortcut", dataset_fingerprint=manifest["fingerprint"],
        training_seconds=round(seconds),
        training={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                  "optimizer": "Adam + cosine schedule", "augmentation": "horizontal flip",
                  "seed": args.seed})
    print(f"{path.name}: " + ", ".join(f"{split} {acc:.1%}" for split, acc in accuracies.items())
          + f"; {follows:.0%} of test predictions follow the tag")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
