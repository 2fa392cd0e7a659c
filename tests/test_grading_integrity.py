"""Grading that can be trusted: broken and dishonest submissions, resuming a batch.

One batch of lesson-02 submissions, each broken or dishonest in one way (autograder/adversarial.py),
is graded with real nbgrader into a real gradebook (on the embedded Dask cluster of 2 workers,
with a per-cell limit shorter than the course's), once per session: the `adversarial_batch`
fixture of tests/conftest.py. Grading on a cluster of other machines, into PostgreSQL:
tests/test_dask_grading.py. Every case checks its exact score, the tests that lost points and
the reason.
"""
import csv
import json
import shutil

import nbformat
import pytest

from autograder.adversarial import CASES, FULL, LESSON, POINTS, write_case
from autograder.build import COURSE_DIR
from autograder.grading import REPORT, export, grade
from autograder.ledger import Ledger
from autograder.samples import make_submission
from conftest import ADVERSARIAL_TIMEOUT_S, copy_students


@pytest.fixture(scope="module")
def graded(adversarial_batch):
    """The adversarial batch (tests/conftest.py), graded once for the session."""
    return adversarial_batch


@pytest.mark.parametrize("student", list(CASES))
def test_each_case_gets_its_exact_score_and_findings(graded, student):
    root, scores, _, _ = graded
    _, expected, kinds = CASES[student]
    entry = Ledger(root / "work").get(student, LESSON)
    got = scores.get(student, {}).get(LESSON, {}).get("score", 0)
    assert got == expected, (entry, scores.get(student))
    assert {f["answer"]: f["kind"] for f in entry.get("findings", [])} == kinds, entry


def test_the_cases_know_the_lessons_points():
    nb = nbformat.read(COURSE_DIR / LESSON / f"{LESSON}.ipynb", as_version=4)
    tests = [c.metadata["nbgrader"] for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade")]
    assert [(t["grade_id"], t["points"]) for t in tests] == \
        [(f"test_{answer}", points) for answer, points in POINTS.items()]


def test_the_batch_never_modifies_a_submission(graded):
    _, _, _, before = graded
    assert all(path.read_bytes() == content for path, content in before.items())


def test_unreadable_submissions_are_reported_and_exported_with_a_reason(graded):
    root, _, lines, _ = graded
    ledger = Ledger(root / "work")
    assert ledger.get("not-json", LESSON)["reason"].startswith(f"{LESSON}.ipynb is not a notebook")
    assert ledger.get("empty-folder", LESSON)["reason"].startswith("no notebook: expected")
    assert any("not-json" in line and "not graded" in line for line in lines)
    export(f"sqlite:///{root / 'work' / 'gradebook.db'}", root / "work")
    with (root / "work" / "grades.csv").open() as stream:
        rows = {r["student"]: r for r in csv.DictReader(stream)}
    assert set(rows) == set(CASES) | {"no-lessons"}  # every student appears
    assert "no lesson folder" in rows["no-lessons"]["note"] and rows["no-lessons"]["score"] == "0"
    assert rows["empty-folder"]["score"] == "0" and rows["empty-folder"]["max_score"] == str(FULL)
    assert "no notebook" in rows["empty-folder"]["note"]
    assert "tampers with grading" in rows["patches-allclose"]["note"]
    assert rows["complete"]["note"] == ""


def test_the_report_names_every_broken_or_flagged_cell(graded):
    root, _, _, _ = graded
    report = (root / "work" / REPORT).read_text()
    for student, (_, _, kinds) in CASES.items():
        for answer, kind in kinds.items():
            assert f"{kind.upper()}: answer cell {answer!r}" in report, student
    assert "rebinds torch.allclose" in report and "imports from solutions" in report
    assert "share the id 'channel_weights'" in report and "graded the last one" in report
    assert "the kernel died while answer cell 'weighted_combination' ran" in report
    assert "converted to 4.5" in report
    assert "calls sys._getframe(), which reaches the tests' variables" in report
    assert "class Exact subclasses torch.Tensor" in report


def test_an_image_flood_is_cut_at_the_output_budget_and_reported(graded):
    from autograder.output_budget import BUDGET

    root, _, _, _ = graded
    graded_nb = root / "work" / "autograded" / "floods-images" / LESSON / f"{LESSON}.ipynb"
    assert graded_nb.stat().st_size < BUDGET + 2**20  # 40 MB were displayed
    notes = Ledger(root / "work").get("floods-images", LESSON)["notes"]
    assert any("'channel_weights'" in note and "over the budget not kept" in note
               for note in notes), notes


def test_feedback_tells_the_student_why_points_were_withdrawn(graded):
    from nbgrader.api import Gradebook

    root, _, _, _ = graded
    with Gradebook(f"sqlite:///{root / 'work' / 'gradebook.db'}") as gradebook:
        comment = gradebook.find_comment("channel_weights", LESSON, LESSON, "loops-after-def")
        assert "did not finish" in comment.manual_comment
        grade_cell = gradebook.find_grade("test_resolve_targets", LESSON, LESSON, "patches-allclose")
        assert grade_cell.needs_manual_grade  # listed in the formgrader for review


def test_a_rerun_skips_what_is_done_and_regrades_what_changed(graded, tmp_path):
    shared, scores, _, _ = graded
    root = tmp_path / "batch"  # a copy: the session's batch stays as it was graded
    for folder in ("submissions", "work"):
        shutil.copytree(shared / folder, root / folder)
    lines = []
    again = grade(root / "submissions", root / "work", workers=2, timeout=ADVERSARIAL_TIMEOUT_S,
                  log=lines.append)
    assert again == scores
    assert any(line.startswith(f"grading 0 of {len(CASES)} ") for line in lines), lines
    # the student fixes the endless loop: only that submission is graded again
    fixed = root / "submissions" / "loops-after-def" / LESSON / f"{LESSON}.ipynb"
    nbformat.write(make_submission(LESSON, "all"), fixed)
    lines.clear()
    again = grade(root / "submissions", root / "work", timeout=ADVERSARIAL_TIMEOUT_S,
                  log=lines.append)
    assert any(line.startswith(f"grading 1 of {len(CASES)} ") for line in lines), lines
    assert again["loops-after-def"][LESSON]["score"] == FULL  # the override was undone
    assert not Ledger(root / "work").get("loops-after-def", LESSON)["findings"]


def test_parallel_workers_record_the_same_scores_as_one(graded, tmp_path):
    """The batch was graded by 2 workers; one worker grades a few of its cases again."""
    root, parallel, _, _ = graded
    students = ("complete", "partial", "raises-after-def")
    submissions = copy_students(root / "submissions", students, tmp_path / "submissions")
    serial = grade(submissions, tmp_path / "serial", workers=1,
                   timeout=ADVERSARIAL_TIMEOUT_S)
    assert serial == {student: parallel[student] for student in students}
    ledger = Ledger(root / "work")  # and both of the batch's workers did grade
    assert len({ledger.get(s, LESSON).get("worker") for s in CASES} - {None}) == 2
    # each graded entry says how long its worker took: a spinning case at least its cell limit
    seconds = {s: ledger.get(s, LESSON).get("seconds") for s in CASES
               if ledger.get(s, LESSON).get("status") == "graded"}
    assert all(value > 0 for value in seconds.values()), seconds
    assert seconds["loops-after-def"] >= ADVERSARIAL_TIMEOUT_S, seconds


def test_a_damaged_ledger_is_refused_with_advice(tmp_path):
    (tmp_path / "grading-ledger.json").write_text("{half a file")
    with pytest.raises(ValueError, match="move it aside"):
        Ledger(tmp_path)


def test_the_ledger_is_written_whole_after_each_submission(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record("ada", LESSON, status="graded", fingerprint="x")
    ledger.record("bo", LESSON, status="unreadable", reason="no notebook")
    on_disk = json.loads((tmp_path / "grading-ledger.json").read_text())
    assert set(on_disk) == {f"ada/{LESSON}", f"bo/{LESSON}"}
    assert not list(tmp_path.glob("*.tmp*"))


def test_a_grader_killed_mid_batch_loses_nothing_and_the_rerun_finishes(tmp_path, plants):
    """Kill the grading command (SIGKILL) once it has recorded its first submission; the same
    command again grades only the rest, and every score is the expected one."""
    import os
    import signal
    import subprocess
    import sys
    import time

    students = ("complete", "hard-codes-visible", "raises-after-def")
    for student in students:
        write_case(tmp_path / "submissions", student)
    work = tmp_path / "work"
    command = [sys.executable, "-m", "autograder", "grade", str(tmp_path / "submissions"),
               "--workdir", str(work)]
    grader = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    ledger, deadline = work / "grading-ledger.json", time.monotonic() + 600
    while not ledger.exists() and grader.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(grader.pid, signal.SIGKILL)
    grader.wait()
    recorded = Ledger(work).entries
    assert 1 <= len(recorded) < len(students), recorded  # killed mid-batch, first grade kept
    lines = []
    scores = grade(tmp_path / "submissions", work, log=lines.append)
    rest = len(students) - len(recorded)
    assert any(line.startswith(f"grading {rest} of {len(students)} ") for line in lines), lines
    assert {s: scores[s][LESSON]["score"] for s in students} == {s: CASES[s][1] for s in students}
