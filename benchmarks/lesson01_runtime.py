"""How long lesson 01 takes: the whole notebook (solutions filled in) run normally and in fast
mode, side by side, and one epoch of the checkpoint training.

    python benchmarks/lesson01_runtime.py [--skip-normal]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.build import write_source_notebooks

LESSON = "01_finetune_resnet"


def run_notebook(fast: bool) -> float:
    """Execute the instructor notebook in a scratch folder; return wall seconds."""
    with tempfile.TemporaryDirectory() as scratch:
        write_source_notebooks(scratch, [LESSON])
        path = Path(scratch) / "source" / LESSON / f"{LESSON}.ipynb"
        nb = nbformat.read(path, as_version=4)
        previous = os.environ.pop("COURSE_FAST", None)
        if fast:
            os.environ["COURSE_FAST"] = "1"
        try:
            start = time.perf_counter()
            NotebookClient(nb, timeout=1800, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            return time.perf_counter() - start
        finally:
            os.environ.pop("COURSE_FAST", None)
            if previous is not None:
                os.environ["COURSE_FAST"] = previous


def one_checkpoint_epoch(image_size: int = 224) -> float:
    """Seconds for one epoch of `make checkpoints` training (train + validation pass)."""
    import torch
    from torch.utils.data import DataLoader

    from solutions.reference.finetune_resnet import fit, make_transforms
    from utils.datasets import ImageDataset, split_dir
    from utils.models import build_resnet18

    torch.manual_seed(0)
    train_transform, eval_transform = make_transforms(image_size)
    train = DataLoader(ImageDataset(split_dir("train"), transform=train_transform), batch_size=32,
                       shuffle=True)
    val = DataLoader(ImageDataset(split_dir("val"), transform=eval_transform), batch_size=64)
    start = time.perf_counter()
    fit(build_resnet18(pretrained=False), train, val, 1, 1e-3, "cpu", progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-normal", action="store_true", help="skip the multi-minute run")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, cuda: {torch.cuda.is_available()}")
    fast = run_notebook(fast=True)
    print(f"lesson 01, fast mode (as the grader runs it): {fast:7.1f} s")
    if not args.skip_normal:
        normal = run_notebook(fast=False)
        print(f"lesson 01, normal run (160 px, 5 epochs):     {normal:7.1f} s "
              f"({normal / 60:.1f} min, {normal / fast:.0f}x the fast mode)")
    epoch = one_checkpoint_epoch()
    print(f"checkpoint training, one epoch at 224 px:     {epoch:7.1f} s "
          f"(x {14} epochs = {14 * epoch / 60:.1f} min)")


if __name__ == "__main__":
    main()
