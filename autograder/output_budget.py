"""A size budget for what a graded notebook may print or display.

nbgrader keeps every output of every cell in the grader's memory and writes it into the graded
notebook and the student's feedback. A cell that prints millions of lines or displays huge
images in a loop can then fill the grader's memory and leave files of gigabytes (measured here:
20 noise images of 12 MB made a 321 MB graded notebook and a 1.7 GB grader). Grading executes
with `BudgetedExecute` instead: once a notebook's outputs add up to ``output_budget`` bytes,
further outputs are not kept, and the cell gets one line saying how much was left out. Errors
are always kept, since nbgrader scores a test cell by them.
"""
from __future__ import annotations

import re

from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Integer

BUDGET = 20 * 2**20
NOTE = "[grader] {size:.1f} MB of output beyond the notebook's {budget:.0f} MB budget was not kept"
_NOTE_PATTERN = re.compile(r"^\[grader\] ([\d.]+) MB of output beyond")


class BudgetedExecute(Execute):
    """nbgrader's Execute, keeping at most ``output_budget`` bytes of output per notebook."""

    output_budget = Integer(BUDGET, help="bytes of output kept per notebook").tag(config=True)

    def __init__(self, *args, **kwargs):
        from autograder.kernel_forks import ForkingKernelManager

        # grading kernels start as forks of a process that has imported torch and the checks
        kwargs.setdefault("kernel_manager_class", ForkingKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._kept = 0
        self._dropped: dict[int, tuple] = {}  # cell index -> (bytes left out, its note)
        return super().preprocess(nb, resources, km)

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "error":
            return super().output(outs, msg, display_id, cell_index)
        size = _size(msg.get("content", {}))
        if self._kept + size <= self.output_budget:
            self._kept += size
            return super().output(outs, msg, display_id, cell_index)
        dropped, note = self._dropped.get(cell_index, (0, None))
        if note is None:
            # a display, not a stream: nbgrader's LimitOutput would cut it off after a flood of
            # lines, and a test cell that writes to stderr scores 0
            note = new_output("display_data", data={"text/plain": ""})
            outs.append(note)
        dropped += size
        note.data["text/plain"] = NOTE.format(size=dropped / 2**20,
                                              budget=self.output_budget / 2**20)
        self._dropped[cell_index] = (dropped, note)
        return None


def _size(content: dict) -> int:
    """Bytes an output message would add to the notebook (text and encoded images)."""
    parts = [content.get("text", "")] + list(content.get("data", {}).values())
    return sum(len(part) for part in parts if isinstance(part, str))


def dropped_outputs(nb) -> list[str]:
    """Report lines for the cells of a graded notebook whose outputs were left out."""
    lines = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            found = _NOTE_PATTERN.match(output.get("data", {}).get("text/plain", ""))
            if found:
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                where = f"cell {index + 1}" + (f" ({grade_id!r})" if grade_id else "")
                lines.append(f"{where}: {found.group(1)} MB of output over the budget not kept")
    return lines
