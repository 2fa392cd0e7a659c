"""nbgrader's block markers: the one place that knows how solutions and hidden tests are delimited.

A lesson source (solutions/lessons/NN_topic.py) writes its answers between ``### BEGIN SOLUTION`` /
``### END SOLUTION`` and its hidden tests between ``### BEGIN HIDDEN TESTS`` /
``### END HIDDEN TESTS``. The build, the reference export, the sample submissions and the release
scan all read them through this module.
"""
from __future__ import annotations

import re

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

# Text that must never reach a student: solution and hidden-test blocks, and the hidden checks.
FORBIDDEN_IN_RELEASE = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN,
                        "autograder.checks", "hidden_checks")

_SOLUTION_BLOCK = re.compile(rf"{BEGIN_SOLUTION}\n(.*?){END_SOLUTION}", flags=re.DOTALL)


def without_solution_markers(source: str) -> str:
    """A solution cell's code as the reference runs it: the marker lines dropped, the code kept."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))


def solution_blocks(text: str) -> list[str]:
    """The code written between solution markers in ``text`` (a lesson source)."""
    return _SOLUTION_BLOCK.findall(text)


def leaked_markers(text: str) -> list[str]:
    """The release-forbidden markers that ``text`` contains."""
    return [marker for marker in FORBIDDEN_IN_RELEASE if marker in text]
