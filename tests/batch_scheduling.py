"""How `make test` shares its work between pytest-xdist workers without grading a batch twice.

The suite's costliest fixtures are the session-scoped graded batches in conftest.py
(`SHARED_BATCHES`): each grades dozens of notebooks (one of them takes over two minutes). xdist
runs a session fixture once per worker, so every test file that uses one batch must run on the
same worker. The scheduler below hands out work in units: all files that name the same batch form
one unit, every other file is a unit of its own (so module-scoped fixtures are made once too).
The units that grade a batch are put first, so that they start while the other worker gets
through the short files.

The controller sees test ids only, not fixtures, so a file's batches are read from its text: a
file that names a batch fixture is in that batch's unit. (A mention in a comment only costs
balance, never correctness.)
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

# The fixtures graded once per session, costliest first (the order units are handed out in).
SHARED_BATCHES = ("adversarial_batch", "graded_samples")


@functools.lru_cache(maxsize=None)
def batch_of(test_file: Path) -> str | None:
    """The first of SHARED_BATCHES that ``test_file`` names, or None."""
    text = test_file.read_text(encoding="utf-8")
    for name in SHARED_BATCHES:
        if re.search(rf"\b{name}\b", text):
            return name
    return None


def unit_rank(test_file: Path) -> int:
    """Where a file's unit goes in the queue: the batches by cost, then everything else."""
    batch = batch_of(test_file)
    return SHARED_BATCHES.index(batch) if batch else len(SHARED_BATCHES)


class SharedBatchScheduling(LoadScopeScheduling):
    """xdist's scope scheduling, with a unit per shared batch and otherwise per file."""

    def __init__(self, config, log=None):
        super().__init__(config, log)
        self.rootpath = config.rootpath
        # Keep the collection's order (conftest puts the batches first); xdist's default would
        # reorder units by their number of tests, which says nothing about their cost.
        config.option.loadscopereorder = False

    def _split_scope(self, nodeid: str) -> str:
        test_file = nodeid.split("::", 1)[0]
        return batch_of(self.rootpath / test_file) or test_file
