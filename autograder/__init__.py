"""Builds the course from solutions/ and grades it (`python -m autograder --help`)."""
import os
import sys

from autograder.deferred_imports import defer_iri_grammar

# nbgrader runs `alembic` (gradebook migrations) and Jupyter starts kernels by command name, so
# this interpreter's bin folder must be on PATH even when the venv is not activated (e.g.
# `.venv/bin/python -m autograder`). Here, the one place: every part of the package (and each
# spawned grading worker) imports this first.
_BIN = os.path.dirname(sys.executable)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

defer_iri_grammar()  # about 1 s less start-up for every process that reads a notebook
