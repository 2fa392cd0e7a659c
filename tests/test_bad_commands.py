"""`grade`, `export` and `feedback` on bad and unusual input, run the way a user runs them.

Each case runs `python -m autograder ...` as a subprocess and checks the exit code, the message
the user sees (one paragraph, no traceback) and that the submissions folder is byte-for-byte as
it was. Grading is real and costs seconds per notebook, so every student-mistake case is one
student of a single batch, which grades only two notebooks.
"""
from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from autograder.samples import make_submission
from cli_runs import LESSON, LESSONS, OTHER, autograder, one_paragraph_error, snapshot, write


# ---------------------------------------------------------------- a folder nobody can be graded in

def _layout(root: Path, shape: str) -> Path:
    """A submissions folder of the given bad ``shape``; returns the path given to `grade`."""
    complete = make_submission(LESSON, "all")
    if shape == "empty":
        root.mkdir()
    elif shape == "only hidden files":
        (root / ".ipynb_checkpoints").mkdir(parents=True)
        (root / ".DS_Store").write_bytes(b"\0\1")
        write(root / "__MACOSX" / "ada" / LESSON / f"._{LESSON}.ipynb", complete)
    elif shape == "notebook at the top":
        write(root / f"{LESSON}.ipynb", complete)
    elif shape == "one student's folder":
        write(root / "ada" / LESSON / f"{LESSON}.ipynb", complete)
        return root / "ada"
    elif shape == "one lesson folder":
        write(root / "ada" / LESSON / f"{LESSON}.ipynb", complete)
        return root / "ada" / LESSON
    elif shape == "notebooks in the student folders":
        write(root / "ada" / f"{LESSON}.ipynb", complete)
        write(root / "bo" / "homework.ipynb", complete)
    elif shape == "a notebook file":
        return write(root / "ada" / LESSON / f"{LESSON}.ipynb", complete)
    elif shape == "missing":
        root.mkdir()
        return root / "submisions"
    return root


@pytest.mark.parametrize("shape, words", [
    ("empty", ["nothing to grade in", "expected DIR/<student>/<lesson>/<lesson>.ipynb",
               "found nothing (the folder is empty)"]),
    ("only hidden files", ["nothing to grade in", "found only hidden files", ".DS_Store"]),
    ("notebook at the top", ["nothing to grade in", f"found {LESSON}.ipynb",
                             f"/ada/{LESSON}/{LESSON}.ipynb"]),
    ("one student's folder", ["looks like one student's folder", f"({LESSON}/)",
                              "if ada is a student, that is"]),
    ("one lesson folder", ["nothing to grade in", f"found {LESSON}.ipynb"]),
    ("notebooks in the student folders", ["nothing to grade in",
                                          f"found ada/{LESSON}.ipynb, bo/homework.ipynb"]),
    ("a notebook file", ["is a file", "the folder that holds every student's folder"]),
    ("missing", ["no such submissions folder", "submisions"]),
])
def test_grade_refuses_a_folder_that_is_not_a_class(tmp_path, shape, words):
    target = _layout(tmp_path / "submissions", shape)
    before = snapshot(tmp_path)
    run = autograder("grade", target, "--workdir", tmp_path / "work", timeout=300)
    message = one_paragraph_error(run)
    assert str(target) in message
    for word in words:
        assert word in message, message
    assert "Every submission was graded" not in run.stdout + run.stderr
    assert snapshot(tmp_path) == before  # nothing written anywhere, the working folder included


# ---------------------------------------------------------------- one batch of student mistakes

@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """One real grading of a class where most students made a layout mistake."""
    root = tmp_path_factory.mktemp("class")
    submissions = root / "submissions"
    complete = make_submission(LESSON, "all")
    write(submissions / "good" / LESSON / f"{LESSON}.ipynb", complete)
    write(submissions / "good" / ".ipynb_checkpoints" / f"{LESSON}-checkpoint.ipynb", complete)
    write(submissions / "typo" / "Lesson01" / f"{LESSON}.ipynb", complete)
    write(submissions / "caps" / "01_FineTune_ResNet" / "notebook.ipynb", complete)
    write(submissions / "swapped" / LESSON / f"{LESSON}.ipynb", make_submission(OTHER, "all"))
    write(submissions / "loose" / f"{LESSON}.ipynb", complete)
    write(submissions / "stranger" / LESSON / f"{LESSON}.ipynb", nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("1", metadata={"nbgrader": {
            "grade_id": "q1", "grade": True, "solution": False, "points": 1}})]))
    pasted = make_submission(LESSON, [])
    pasted.cells += [c for c in make_submission(OTHER, "all").cells
                     if c.metadata.get("nbgrader", {}).get("grade_id")][:2]
    write(submissions / "pasted" / LESSON / f"{LESSON}.ipynb", pasted)
    (submissions / ".ipynb_checkpoints").mkdir()
    (submissions / "README.txt").write_text("collected from the LMS\n")
    before = snapshot(submissions)
    run = autograder("grade", submissions, "--workdir", root / "work")
    with (root / "work" / "grades.csv").open() as stream:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(stream)}
    return {"root": root, "submissions": submissions, "before": before, "run": run,
            "rows": rows, "report": (root / "work" / "grading-report.txt").read_text()}


def test_one_students_mistake_never_stops_the_batch(graded_class):
    run, rows = graded_class["run"], graded_class["rows"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "could not register" not in run.stdout + run.stderr
    assert rows["good", LESSON]["score"] == "12" and rows["pasted", LESSON]["score"] == "0"
    assert {student for student, _ in rows} == {"good", "typo", "caps", "swapped", "loose",
                                                "stranger", "pasted"}  # no ".ipynb_checkpoints"
    assert snapshot(graded_class["submissions"]) == graded_class["before"]


@pytest.mark.parametrize("student, folder, words", [
    ("typo", "Lesson01", [f"Lesson01 is not a lesson of this course; the lessons are "
                          f"{', '.join(LESSONS)}", f"rename the folder to typo/{LESSON}/"]),
    ("caps", "01_FineTune_ResNet", ["01_FineTune_ResNet is not a lesson of this course",
                                    f"rename the folder to caps/{LESSON}/"]),
    ("swapped", LESSON, [f"this notebook's exercises belong to {OTHER}",
                         f"hand it in as swapped/{OTHER}/{OTHER}.ipynb"]),
    ("loose", LESSON, [f"{LESSON}.ipynb is directly in loose/, not in a lesson folder",
                       f"loose/{LESSON}/{LESSON}.ipynb"]),
    ("stranger", LESSON, [f"none of this notebook's graded cells belong to {LESSON}", "q1"]),
])
def test_each_mistake_is_named_with_its_reason_in_the_report_and_the_csv(graded_class, student,
                                                                         folder, words):
    row = graded_class["rows"][student, folder]
    assert row["score"] == "0"
    section = graded_class["report"].split(f"{student}/{folder}\n", 1)[1].split("\n")[0]
    for word in words:
        assert word in row["note"], row["note"]
        assert word in section, section
        assert word in graded_class["run"].stdout
    assert "KeyError" not in row["note"]


def test_cells_pasted_from_another_lesson_run_as_plain_code(graded_class):
    section = graded_class["report"].split(f"pasted/{LESSON}\n", 1)[1]
    assert "'capture_activations', which is not in 01_finetune_resnet" in section
    assert "KeyError" not in graded_class["report"]
    assert "Every submission was graded" not in graded_class["report"]
    assert "README.txt" in graded_class["report"].split("Not in any lesson folder")[1]


def test_feedback_and_export_after_the_batch(graded_class):
    root, work = graded_class["root"], graded_class["root"] / "work"
    run = autograder("feedback", "--workdir", work, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "wrote 2 feedback files" in run.stdout  # good and pasted: the only graded ones
    run = autograder("export", "--workdir", work, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Lesson01 is not a lesson" in (work / "grades.csv").read_text()
    # the gradebook of this folder, but feedback asked for in a new folder: nothing graded there
    fresh = root / "elsewhere"
    run = autograder("feedback", "--workdir", fresh, "--db", f"sqlite:///{work / 'gradebook.db'}",
                     timeout=300)
    message = one_paragraph_error(run)
    assert "none of them was graded in" in message and "--workdir they were graded in" in message
    assert snapshot(graded_class["submissions"]) == graded_class["before"]
