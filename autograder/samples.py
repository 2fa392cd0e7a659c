"""Sample submissions made from a lesson: the student notebook with some exercises answered.

An answered exercise gets the reference solution (from the lesson source, markers removed), so
samples always match the current lessons: complete (every exercise), partial (the first half),
untouched (the student notebook as released).
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from autograder.build import COURSE_DIR, lesson_sources, read_source
from autograder.markers import without_solution_markers


def solution_cells(lesson_id: str) -> dict[str, str]:
    """{grade_id: solution source} for every answer cell of the lesson."""
    source = next(s for s in lesson_sources() if s.stem == lesson_id)
    answers = {}
    for cell in read_source(source).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            answers[meta["grade_id"]] = without_solution_markers(cell.source)
    return answers


def make_submission(lesson_id: str, answered="all") -> nbformat.NotebookNode:
    """The student notebook with the exercises in ``answered`` ("all" or grade ids) solved."""
    nb = nbformat.read(COURSE_DIR / lesson_id / f"{lesson_id}.ipynb", as_version=4)
    nb = copy.deepcopy(nb)
    answers = solution_cells(lesson_id)
    wanted = set(answers) if answered == "all" else set(answered)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in wanted:
            cell.source = answers[grade_id]
    return nb


def exercise_ids(lesson_id: str) -> list[str]:
    """The lesson's answer cells in notebook order."""
    return list(solution_cells(lesson_id))


def write_samples(target: Path, lesson_id: str) -> dict[str, Path]:
    """Write complete / partial / untouched submissions in nbgrader's layout under ``target``."""
    ids = exercise_ids(lesson_id)
    choices = {"complete": "all", "partial": ids[: len(ids) // 2], "untouched": []}
    paths = {}
    for student, answered in choices.items():
        folder = Path(target) / student / lesson_id
        folder.mkdir(parents=True, exist_ok=True)
        paths[student] = folder / f"{lesson_id}.ipynb"
        nbformat.write(make_submission(lesson_id, answered), paths[student])
    return paths


def write_all_samples(target: Path, adversarial: bool = False) -> int:
    """Complete, partial and untouched submissions of every lesson (students ``complete``,
    ``partial``, ``untouched``), and with ``adversarial`` the broken and dishonest lesson-02
    cases of `autograder.adversarial` (students ``adversarial-<case>``); refuses a folder that already holds files."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise ValueError(f"{target}: not empty; choose a new folder for the samples "
                         "(nothing is overwritten)")
    count = 0
    for source in lesson_sources():
        count += len(write_samples(target, source.stem))
    if adversarial:
        from autograder.adversarial import CASES, write_case

        for case in CASES:
            write_case(target, case, f"adversarial-{case}")
        count += len(CASES)
    return count
