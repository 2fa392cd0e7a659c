"""Shared by the benchmark scripts: time several methods side by side, round robin."""
from __future__ import annotations

import statistics
import time


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
