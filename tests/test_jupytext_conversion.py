"""A student who works in the lesson's `.py` and converts it with jupytext keeps full marks.

The student copies the bundle's lesson 02, writes every answer into the `.py` (as text, the way
an editor would), converts it with the jupytext command line as docs/student_guide.md says, and
hands in the `.ipynb`; the real grader (nbgrader, autograder.grading.grade) scores it. The
control is the same student who forgot to convert: the stale notebook scores 0.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.build import COURSE_DIR, REPO_ROOT
from autograder.grading import grade
from autograder.samples import solution_cells

LESSON = "02_gradcam_tutorial"
TOTAL = 13
JUPYTEXT = str(Path(sys.executable).with_name("jupytext"))
# student: the jupytext command run on the .py (None: not converted at all)
CONVERSIONS = {
    "sync": ["--sync"],
    "update": ["--update", "--to", "ipynb"],
    "plain": ["--to", "ipynb"],
    "forgot": None,
}


def answer_in_script(script: str, answers: dict) -> str:
    """The py:percent text with every answer cell's body replaced by its solution."""
    cells = re.split(r"(?m)^(?=# %%)", script)
    for index, cell in enumerate(cells):
        header = cell.split("\n", 1)[0]
        grade_id = re.search(r'"grade_id": "(\w+)"', header)
        if grade_id and grade_id[1] in answers and '"solution": true' in header:
            cells[index] = f"{header}\n{answers[grade_id[1]].rstrip()}\n\n\n"
    return "".join(cells)


def student_work(root: Path, student: str) -> Path:
    """A copy of the lesson as in the bundle, answered in the .py and converted; the .ipynb."""
    home = root / "students" / student
    shutil.copy(REPO_ROOT / "jupytext.toml", home.parent.parent / "jupytext.toml")
    lesson_dir = home / LESSON
    shutil.copytree(COURSE_DIR / LESSON, lesson_dir)
    script = lesson_dir / f"{LESSON}.py"
    script.write_text(answer_in_script(script.read_text(), solution_cells(LESSON)))
    if CONVERSIONS[student] is not None:
        run = subprocess.run([JUPYTEXT, *CONVERSIONS[student], script.name], cwd=lesson_dir,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"jupytext {CONVERSIONS[student]}: {run.stderr}"
    return lesson_dir / f"{LESSON}.ipynb"


@pytest.fixture(scope="module")
def graded(tmp_path_factory, plants):
    """{student: (their .ipynb, their scores)}, all graded in one batch."""
    root = tmp_path_factory.mktemp("jupytext")
    notebooks = {student: student_work(root, student) for student in CONVERSIONS}
    for student, notebook in notebooks.items():
        folder = root / "submissions" / student / LESSON
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / notebook.name)
    scores = grade(root / "submissions", workdir=root / "course", log=print)
    return {student: (notebooks[student], scores[student][LESSON]) for student in CONVERSIONS}


def test_the_edit_answers_every_exercise_in_the_script():
    script = (COURSE_DIR / LESSON / f"{LESSON}.py").read_text()
    answered = answer_in_script(script, solution_cells(LESSON))
    stub = re.compile(r"(?m)^ +raise NotImplementedError\(\)$")  # indented: code, not prose
    assert len(stub.findall(script)) == len(solution_cells(LESSON))
    assert not stub.findall(answered)


@pytest.mark.parametrize("student", ["sync", "update", "plain"])
def test_converting_the_script_keeps_full_marks(graded, student):
    notebook, result = graded[student]
    assert result["score"] == result["max_score"] == TOTAL, (CONVERSIONS[student], result)


@pytest.mark.parametrize("student", ["sync", "update"])
def test_the_guides_commands_keep_every_cell_id(graded, student):
    released = nbformat.read(COURSE_DIR / LESSON / f"{LESSON}.ipynb", as_version=4)
    converted = nbformat.read(graded[student][0], as_version=4)
    assert [c.id for c in converted.cells] == [c.id for c in released.cells]


def test_control_a_script_edited_but_not_converted_scores_nothing(graded):
    assert graded["forgot"][1]["score"] == 0


def test_plain_conversion_replaces_cell_ids_but_keeps_the_grade_ids(graded):
    # Why "plain" still earns full marks: nbgrader finds each exercise by its grade_id.
    released = nbformat.read(COURSE_DIR / LESSON / f"{LESSON}.ipynb", as_version=4)
    converted = nbformat.read(graded["plain"][0], as_version=4)
    assert not {c.id for c in converted.cells} & {c.id for c in released.cells}

    def grade_ids(nb):
        return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]

    assert grade_ids(converted) == grade_ids(released)
