"""How a lesson notebook is executed: the one home of the settings that grading, nbgrader's
Validate button and the student's self-check share.

Shipped in the student bundle (with autograder/selfcheck.py and autograder/lab.py), so a
student's check runs a cell under the same time limit and in the same fast mode as grading: an
answer that passes the self-check in time also passes it when graded.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

# Seconds one cell may run before nbgrader (or the self-check) interrupts it. Lessons run in
# fast mode there (tiny training subset, shipped checkpoints), so no correct cell needs long.
CELL_TIMEOUT_S = 120

# The kernel every course notebook names: nbgrader and nbclient start it by this name.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}

# Environment of a checking run: nbgrader sets NBGRADER_EXECUTION while it validates or grades,
# and the lessons read it (or COURSE_FAST) to train on a tiny subset for one epoch.
FAST_MODE_ENV = {"COURSE_FAST": "1", "NBGRADER_EXECUTION": "validate"}


@contextmanager
def environment(**values: str | None):
    """Set environment variables for a notebook run (a kernel inherits them), then restore them.
    A value of None removes the variable for the run."""
    previous = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        os.environ.pop(key, None) if value is None else os.environ.update({key: value})
    try:
        yield
    finally:
        for key, value in previous.items():
            os.environ.pop(key, None) if value is None else os.environ.update({key: value})
