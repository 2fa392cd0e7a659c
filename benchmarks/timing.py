"""Shared by the benchmark scripts: time several methods side by side, round robin."""
from __future__ import annotations

import argparse
import os
import statistics
import time


def resnet18_setup(description: str):
    """The explainer benchmarks' common start: options, a seeded ResNet18 and a batch.

    Returns (args, model, x, targets): random weights in eval mode, a seeded batch of
    ``--batch`` x 3 x ``--size`` x ``--size`` and each image's predicted class."""
    import torch
    from torchvision.models import resnet18

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, device cpu")
    torch.manual_seed(0)
    model = resnet18(weights=None).eval()
    x = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        targets = model(x).argmax(dim=1)
    print(f"ResNet18 (random weights, eval), target layer layer4, batch {args.batch} x 3 x "
          f"{args.size} x {args.size}, {args.repeats} rounds after one warm-up")
    return args, model, x, targets


def round_robin(methods: dict, repeats: int):
    """Run every method once (warm-up), then `repeats` rounds in turn, so that a change in the
    machine's load affects all of them alike. Returns (first outputs, {name: [seconds]})."""
    outputs = {name: run() for name, run in methods.items()}
    times = {name: [] for name in methods}
    for _ in range(repeats):
        for name, run in methods.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return outputs, times


def medians_ms(times: dict) -> dict:
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def print_ratios(ratios) -> None:
    """ratios: (label, value, op, goal) with op '<=' or '>=' or '' (no goal)."""
    for label, value, op, goal in ratios:
        if goal is None:
            print(f"{label:<44} {value:6.2f}")
        else:
            met = value <= goal if op == "<=" else value >= goal
            print(f"{label:<44} {value:6.2f}   goal {op} {goal:g}: {'met' if met else 'MISSED'}")
