"""When a submission kills its kernel (``os._exit()``, a crash, the memory killer), nbgrader gives
up on the whole notebook. To still grade every exercise the cell did not break, we run a copy
of the notebook once more, note the cell during which the kernel died, and replace that one
cell in the grader's working copy (never in the student's file) with an error that says so;
nbgrader then grades the rest as usual and the policy scores that exercise 0.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.selfcheck import environment

REPLACEMENT = ("raise RuntimeError('the grader removed this cell: the kernel died while it ran "
               "(os._exit, a crash or too much memory)')")


def kernel_died(error_text: str) -> bool:
    return "DeadKernelError" in error_text or "Kernel died" in error_text


def find_killer(notebook: Path, timeout: int, kernel_ipc: Path | None = None) -> int | None:
    """Index of the cell during which the kernel died when ``notebook`` runs as the grader runs it."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from autograder.kernel_forks import ForkingKernelManager

    nb = nbformat.read(notebook, as_version=4)
    started: list[int] = []
    manager = (ForkingKernelManager(kernel_name="python3", transport="ipc", ip=str(kernel_ipc))
               if kernel_ipc else ForkingKernelManager(kernel_name="python3"))
    client = NotebookClient(nb, km=manager, timeout=timeout, allow_errors=True,
                            resources={"metadata": {"path": str(Path(notebook).parent)}},
                            on_cell_execute=lambda cell, cell_index: started.append(cell_index))
    try:
        with environment(NBGRADER_EXECUTION="autograde"):  # the lessons' fast mode, as in nbgrader
            client.execute()
    except DeadKernelError:
        return started[-1] if started else None
    return None


def replace_cell(notebook: Path, index: int) -> str | None:
    """Put `REPLACEMENT` in place of the student's cell to blame for a death in cell ``index``.

    The student's own cell is blamed as it is; a death inside the instructor's (locked) cell,
    e.g. a test calling a function that exits, is blamed on the nearest answer cell above it.
    Returns a note, or None when there is no student cell left to blame.
    """
    nb = nbformat.read(notebook, as_version=4)
    candidates = [i for i in range(index, -1, -1) if _blamable(nb.cells[i], i == index)]
    if not candidates:
        return None
    cell = nb.cells[candidates[0]]
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    cell.source = REPLACEMENT
    nbformat.write(nb, notebook)
    name = f"answer cell {grade_id!r}" if grade_id else f"cell {candidates[0] + 1}"
    return (f"the kernel died while {name} ran or was tested: the grader replaced that cell "
            "with an error and graded the rest")


def _blamable(cell, is_the_cell: bool) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if cell.cell_type != "code" or cell.source == REPLACEMENT or meta.get("locked"):
        return False
    return is_the_cell or bool(meta.get("solution"))
