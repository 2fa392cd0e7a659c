"""Train the classifiers that the course ships: ``python -m solutions.tools.train_checkpoints``.

Uses the reference code of lesson 01 (``solutions.reference.finetune_resnet``), headless, and writes
``checkpoints/plant_classifier_final.pth`` and ``checkpoints/best_plant_classifier.pth`` in the
course's checkpoint format, in half precision (half the size; lessons load them as float32).
The accuracies stored in each file are measured on exactly the weights stored (after rounding to
half precision), so re-evaluating a shipped checkpoint gives the recorded numbers.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from solutions.reference.finetune_resnet import evaluate, fit, make_transforms
from utils.datasets import CLASS_NAMES, ImageDataset, data_root, split_dir
from utils.models import build_resnet18, save_checkpoint
from utils.plots import plot_confusion_matrix, plot_training_curves

CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


def round_to_half(model: nn.Module) -> nn.Module:
    """Round floating-point weights to float16 and back: the weights a shipped file holds."""
    state = {k: v.half().float() if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return model


def score(model, image_size, batch_size=64, root=None):
    """{split: accuracy} on train, val and test of ``root`` (default: the plants), unaugmented."""
    _, eval_transform = make_transforms(image_size)
    accuracies = {}
    for split in ("train", "val", "test"):
        folder = Path(root) / split if root else split_dir(split)
        loader = DataLoader(ImageDataset(folder, transform=eval_transform), batch_size=batch_size)
        _, accuracies[split], _, _ = evaluate(model, loader, nn.CrossEntropyLoss(), "cpu")
    return accuracies


def _earlier_stage(path) -> dict | None:
    """What a continued run started from: the earlier checkpoint's file, epochs and data."""
    if path is None:
        return None
    earlier = torch.load(path, map_location="cpu", weights_only=True)
    return {"file": Path(path).name, "epochs": earlier.get("epoch"),
            "training": earlier.get("training"),
            "dataset_fingerprint": earlier.get("dataset_fingerprint")}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=CHECKPOINT_DIR)
    # random by default: the shipped accuracies (80-92% on test, see checkpoints/README.md) are
    # those of a network trained from scratch here; ImageNet weights would make it near perfect
    parser.add_argument("--init", choices=("random", "auto"), default="random",
                        help="'auto' starts from ImageNet weights when they can be had")
    parser.add_argument("--start-from", type=Path, metavar="CHECKPOINT",
                        help="continue from a course checkpoint's weights instead of --init "
                             "(e.g. to adapt a classifier to a new version of the data)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where to train (scoring is always on the CPU, as the tests score)")
    return parser.parse_args(argv)


def save_both(args, model, best_state, best_epoch, history, seconds) -> None:
    """Write the last epoch's and the best-by-validation weights, each scored on every split."""
    manifest = json.loads((data_root() / "manifest.json").read_text())
    best = build_resnet18(len(CLASS_NAMES), pretrained=False)
    best.load_state_dict(best_state)
    best.init_weights = model.init_weights
    common = dict(image_size=args.image_size, half=True, history=history,
                  dataset_fingerprint=manifest["fingerprint"], training_seconds=round(seconds),
                  training={"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                            "optimizer": "Adam + cosine schedule", "seed": args.seed,
                            "device": args.device,
                            "start_from": _earlier_stage(args.start_from)})
    args.out.mkdir(parents=True, exist_ok=True)
    scores = {}  # by epoch: when the last epoch is the best, both files hold the same weights
    for name, candidate, epoch in (("plant_classifier_final", model, args.epochs),
                                   ("best_plant_classifier", best, best_epoch)):
        if epoch not in scores:
            scores[epoch] = score(round_to_half(candidate.eval()), args.image_size)
        accuracies = scores[epoch]
        path = save_checkpoint(args.out / f"{name}.pth", candidate, epoch=epoch,
                               train_acc=accuracies["train"], val_acc=accuracies["val"],
                               test_acc=accuracies["test"], **common)
        print(f"{path.name}: epoch {epoch}, " + ", ".join(
            f"{split} {acc:.1%}" for split, acc in accuracies.items()))


def save_figures(args, model, history) -> None:
    """The training curves and the final model's test confusion matrix, beside the checkpoints."""
    plot_training_curves(history).savefig(args.out / "training_curves.png", dpi=80)
    _, eval_transform = make_transforms(args.image_size)
    _, _, predictions, labels = evaluate(
        model, DataLoader(ImageDataset(split_dir("test"), transform=eval_transform), batch_size=64),
        nn.CrossEntropyLoss(), "cpu")
    from solutions.reference.finetune_resnet import confusion_matrix
    plot_confusion_matrix(confusion_matrix(predictions, labels, len(CLASS_NAMES)), CLASS_NAMES,
                          "final checkpoint, test split").savefig(
        args.out / "confusion_matrix.png", dpi=80)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    train_transform, eval_transform = make_transforms(args.image_size)
    train_loader = DataLoader(ImageDataset(split_dir("train"), transform=train_transform),
                              batch_size=args.batch_size, shuffle=True)
    val_loader = DataLoader(ImageDataset(split_dir("val"), transform=eval_transform),
                            batch_size=64)
    model = build_resnet18(len(CLASS_NAMES), pretrained="auto" if args.init == "auto" else False)
    if args.start_from:
        from utils.models import load_checkpoint

        model, earlier = load_checkpoint(args.start_from)
        model.init_weights = earlier.get("init_weights", "unknown")  # where the weights began
    start = time.perf_counter()
    history, best_state, best_epoch = fit(model, train_loader, val_loader, args.epochs, args.lr,
                                          args.device)
    seconds = time.perf_counter() - start
    model.cpu()
    print(f"trained {args.epochs} epochs in {seconds / 60:.1f} min from {model.init_weights} weights")
    save_both(args, model, best_state, best_epoch, history, seconds)
    save_figures(args, model, history)
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
