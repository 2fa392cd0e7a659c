"""The course's grading policy on top of nbgrader's scores, applied in the gradebook.

nbgrader scores each test cell on its own. Two cases need more than that:

* **An answer cell that does not run cleanly** (it raises, calls ``sys.exit()``, or is stopped
  by the per-cell time limit, e.g. ``while True: pass`` after a correct ``def``): the exercise's
  tests score 0, even if the function was defined before the failure. An answer must run.
* **An answer cell flagged by `autograder.integrity`** (it patches what the tests use, or reaches
  for the reference or the hidden checks): every test from that cell to the end of the notebook
  scores 0, because a patch stays in force for the rest of the kernel's life. The grade is also
  marked "needs manual grade" so that the formgrader lists it for the instructor's review.

Both are written as nbgrader manual scores of 0, with the reason as the answer cell's comment,
so the formgrader and the students' feedback show them. The overrides are recorded in the
grading ledger and undone before the same submission is graded again.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import nbformat

from autograder.integrity import imported_names, scan_answer


@dataclass
class Finding:
    answer: str           # the answer cell's grade id
    kind: str             # "broken" or "flagged"
    reason: str
    tests: list[str] = field(default_factory=list)  # test cells whose points are withdrawn

    def as_dict(self) -> dict:
        return asdict(self)


def findings(nb: nbformat.NotebookNode) -> list[Finding]:
    """What the policy finds in an autograded notebook (executed, with outputs)."""
    modules = set().union(*(imported_names(c.source) for c in nb.cells if c.cell_type == "code"))
    result: list[Finding] = []
    current: list[Finding] = []   # findings of the answer cell the next tests belong to
    flagged: list[Finding] = []   # findings whose reach runs to the end of the notebook
    # the answer cell a finding is reported under (a cell above the first answer: the first)
    answer = next((c.metadata["nbgrader"]["grade_id"] for c in nb.cells if _is_answer(c)), None)
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("grade") and meta.get("grade_id"):
            for finding in current + flagged:
                finding.tests.append(meta["grade_id"])
            continue
        if meta.get("locked"):
            continue  # the instructor's code: nbgrader restored it from the source
        where = f"cell {index + 1}"
        if _is_answer(cell):
            answer, where = meta["grade_id"], f"answer cell {meta['grade_id']!r}"
            current = []
            error = _error_name(cell)
            if error and error != "NotImplementedError":  # an untouched stub is not "broken"
                current.append(Finding(answer, "broken",
                                       f"{where} did not finish ({error}): its exercise scores 0"))
                result.append(current[-1])
        reasons = scan_answer(cell.source, modules)  # answers and any cell the student can edit
        if reasons and answer:
            flagged.append(Finding(answer, "flagged", f"{where} tampers with grading "
                                   f"({'; '.join(reasons)}): no points from here on"))
            result.append(flagged[-1])
    return result


def _is_answer(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("solution")) and bool(meta.get("grade_id"))


def _error_name(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename") or "error"
    return None


def apply(db_url: str, assignment: str, student: str, notebook: str,
          found: list[Finding], previous: list[dict]) -> list[dict]:
    """Undo ``previous`` overrides, write the findings as manual scores; return the overrides."""
    from autograder.nbgrader_api import Gradebook, MissingEntry

    overrides = []
    with Gradebook(db_url) as gradebook:
        for old in previous:
            try:
                gradebook.find_grade(old["grade"], notebook, assignment, student).manual_score = None
                gradebook.find_comment(old["comment"], notebook, assignment, student) \
                    .manual_comment = None
            except MissingEntry:
                continue
        reasons: dict[str, list[str]] = {}
        for finding in found:
            for test in finding.tests:
                grade = gradebook.find_grade(test, notebook, assignment, student)
                grade.manual_score = 0.0
                grade.needs_manual_grade = finding.kind == "flagged"
                overrides.append({"grade": test, "comment": finding.answer})
            if finding.tests:
                reasons.setdefault(finding.answer, []).append(finding.reason)
        for answer, text in reasons.items():
            gradebook.find_comment(answer, notebook, assignment, student).manual_comment = \
                "\n".join(text)
        gradebook.db.commit()
    return overrides
