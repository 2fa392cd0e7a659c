"""A student's self-check: ``python -m autograder check NOTEBOOK`` (.ipynb or the paired .py).

Runs the notebook the way the grader does (fast mode, the grader's time limit per cell from
autograder/execution.py, every cell even after an error), then
scores each visible test cell with nbgrader's own rule (an error, or anything written to stderr,
earns 0) and prints one row per exercise. The notebook file itself is never modified; it runs in
its own folder, so what the lesson writes there (e.g. lesson 01's outputs/) is written as usual.

This module, autograder/execution.py and autograder/lab.py are the student side of the course:
the release ships them (with a ``__main__`` that offers ``check`` only), so the same command
works from the root of a student bundle, which holds no hidden checks, solutions or reference.
Keep them free of imports from the instructor's modules.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

# environment is imported from here by autograder/quarantine.py: keep the name
from autograder.execution import CELL_TIMEOUT_S, FAST_MODE_ENV, KERNELSPEC, environment


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` (.ipynb, or a py:percent script); a clear error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such notebook")
    try:
        if path.suffix == ".ipynb":
            return nbformat.read(path, as_version=4)
        if path.suffix == ".py":
            return jupytext.read(path, fmt="py:percent")
    except Exception as err:  # nbformat and jupytext raise many types for damaged files
        raise ValueError(f"{path}: cannot read this notebook ({type(err).__name__}: {err})") from err
    raise ValueError(f"{path}: expected a lesson notebook (.ipynb) or its paired script (.py)")


def execute(nb: nbformat.NotebookNode, folder: Path,
            timeout: int = CELL_TIMEOUT_S) -> nbformat.NotebookNode:
    """Execute in ``folder`` (the notebook's own, so relative paths work), fast mode, all cells."""
    from nbclient import NotebookClient

    nb.metadata["kernelspec"] = KERNELSPEC
    with environment(**FAST_MODE_ENV):
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def score_cells(nb: nbformat.NotebookNode) -> list[dict]:
    """One row per graded test cell: exercise, points, max_points, passed, message."""
    from nbgrader.utils import determine_grade

    rows = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") and cell.cell_type == "code"):
            continue
        points, max_points = determine_grade(cell)
        rows.append({"exercise": meta["grade_id"].removeprefix("test_"), "points": points or 0.0,
                     "max_points": max_points, "passed": points == max_points,
                     "message": _first_failure(cell)})
    return rows


def _first_failure(cell) -> str:
    for output in cell.outputs:
        if output.output_type == "error":
            if output.ename == "NotImplementedError":
                return "not answered yet (raise NotImplementedError() is still there)"
            value = (output.evalue or "").strip().splitlines()
            return f"{output.ename}: {value[0] if value else ''}".strip().rstrip(":")
        if output.output_type == "stream" and output.name == "stderr":
            return f"wrote to stderr: {output.text.strip().splitlines()[0][:100]}"
    return ""


def check(path: Path, out=print) -> int:
    """Run the self-check and print the table; return 0 only if every visible test passed."""
    path = Path(path)
    nb = read_notebook(path)
    rows = score_cells(execute(nb, path.resolve().parent))
    if not rows:
        out(f"{path}: no graded test cells found; is this a course lesson?")
        return 1
    width = max(len(r["exercise"]) for r in rows) + 2
    out(f"{'exercise':<{width}}{'points':>8}  result  first line of the failure")
    for r in rows:
        out(f"{r['exercise']:<{width}}{r['points']:>4g}/{r['max_points']:<3g}  "
            f"{'passed' if r['passed'] else 'FAILED'}  {r['message']}")
    total, possible = sum(r["points"] for r in rows), sum(r["max_points"] for r in rows)
    failed = [r["exercise"] for r in rows if not r["passed"]]
    out(f"total: {total:g} / {possible:g} points from the visible tests"
        + (f"; to do: {', '.join(failed)}" if failed else "; all visible tests pass. "
           "Hidden tests run when your work is graded."))
    return 0 if not failed else 1


def main(argv=None) -> int:
    """``python -m autograder check NOTEBOOK`` in a student bundle (see release.py)."""
    parser = argparse.ArgumentParser(prog="python -m autograder",
                                     description="A student's self-check of a lesson notebook.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verb = verbs.add_parser("check", help="run a notebook's visible tests and print a table")
    verb.add_argument("notebook", type=Path, help="a lesson's .ipynb or its paired .py")
    args = parser.parse_args(argv)
    try:
        return check(args.notebook)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
