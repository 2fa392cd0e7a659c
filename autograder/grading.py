"""Validating and autograding lessons with real nbgrader and a real gradebook.

nbgrader wants a course folder laid out as ``source/``, ``submitted/``, ``autograded/``. We build
one in a working folder (by default ``autograder/``), from the lesson sources and from a COPY of
the submissions: a student's files are read, never modified.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from autograder.build import nbgrader_config, write_source_notebooks

DEFAULT_WORKDIR = Path(__file__).resolve().parent


def validate(notebook: Path, invert: bool = False) -> dict:
    """Run nbgrader's Validator on one notebook (it executes it, in fast mode).

    Returns nbgrader's result dict: ``{"failed": [...]}`` lists failing graded cells; with
    ``invert=True`` (for stubs) ``{"passed": [...]}`` lists graded cells that passed.
    """
    from nbgrader.validator import Validator

    validator = Validator(config=nbgrader_config())
    validator.invert = invert
    return validator.validate(str(Path(notebook).resolve()))


def _api(workdir: Path, db_url: str, kernel_ipc: Path | None = None):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config()
    config.CourseDirectory.root = str(workdir)
    config.CourseDirectory.db_url = db_url
    if kernel_ipc is not None:
        # Parallel workers must not race for TCP ports: each talks to its kernels over IPC files
        # of its own (measured here: 12 workers on TCP all failed, on IPC all succeeded).
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(kernel_ipc)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def find_submissions(submissions_dir: Path) -> list[tuple[str, str]]:
    """(student, assignment) pairs in nbgrader's layout ``DIR/<student>/<assignment>/*.ipynb``."""
    submissions_dir = Path(submissions_dir)
    if not submissions_dir.is_dir():
        raise FileNotFoundError(f"{submissions_dir}: no such submissions folder; expected "
                                "<student>/<assignment>/<notebook>.ipynb inside it")
    return sorted((a.parent.name, a.name) for a in submissions_dir.glob("*/*") if a.is_dir())


def grade(submissions_dir: Path, workdir: Path = DEFAULT_WORKDIR, db_url: str | None = None,
          log=print, workers: int = 1) -> dict:
    """Autograde every submission into the gradebook (``workers`` at a time); return scores.

    Result: ``{student: {assignment: {"score": float, "max_score": float,
    "cells": {grade_id: score}}}}``.
    """
    from nbgrader.api import Gradebook

    workdir = Path(workdir).resolve()
    db_url = db_url or f"sqlite:///{workdir / 'gradebook.db'}"
    pairs = find_submissions(submissions_dir)
    assignments = sorted({assignment for _, assignment in pairs})
    write_source_notebooks(workdir, assignments)
    api = _api(workdir, db_url)
    for assignment in assignments:
        result = api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"could not register {assignment}: {result.get('error')}")
    with Gradebook(db_url) as gradebook:  # created up front, so workers never race to add them
        for student in sorted({student for student, _ in pairs}):
            gradebook.update_or_create_student(student)
    for student, assignment in pairs:
        target = workdir / "submitted" / student / assignment
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(Path(submissions_dir) / student / assignment, target)
    jobs = [(str(workdir), db_url, assignment, student) for student, assignment in pairs]
    if workers <= 1:
        results = [_autograde_one(*job) for job in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_autograde_one, *zip(*jobs)))
    for student, assignment, error in results:
        if error:
            log(f"{student}/{assignment}: autograde failed:\n{error}")
    return read_scores(db_url, pairs)


def _autograde_one(workdir: str, db_url: str, assignment: str, student: str):
    """Autograde one submission (in this process or a worker); return (student, lesson, error)."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kernels-") as ipc_dir:
        api = _api(Path(workdir), db_url, Path(ipc_dir) / f"kernel-{os.getpid()}")
        with warnings.catch_warnings():
            # nbgrader's gradebook code trips SQLAlchemy autoflush warnings that mean nothing here
            warnings.simplefilter("ignore", category=Warning)
            result = api.autograde(assignment, student, force=True, create=True)
    return student, assignment, "" if result["success"] else (result.get("error") or result.get("log"))


def read_scores(db_url: str, pairs) -> dict:
    """Scores recorded in the gradebook for the given (student, assignment) pairs."""
    from nbgrader.api import Gradebook, MissingEntry

    scores: dict = {}
    with Gradebook(db_url) as gradebook:
        for student, assignment in pairs:
            try:
                submission = gradebook.find_submission(assignment, student)
            except MissingEntry:
                continue
            cells = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
            scores.setdefault(student, {})[assignment] = {
                "score": submission.score, "max_score": submission.max_score, "cells": cells}
    return scores


def all_submissions(db_url: str) -> list[tuple[str, str]]:
    """(student, assignment) for every submission recorded in the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gradebook:
        return sorted((s.student.id, s.assignment.name)
                      for a in gradebook.assignments for s in a.submissions)


def export(db_url: str, out_dir: Path) -> tuple[Path, Path]:
    """Write grades.csv (student, assignment, score, max_score) and exercises.csv (per test cell)."""
    import csv

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = read_scores(db_url, all_submissions(db_url))
    grades, exercises = out_dir / "grades.csv", out_dir / "exercises.csv"
    with grades.open("w", newline="") as g, exercises.open("w", newline="") as e:
        grade_rows, exercise_rows = csv.writer(g), csv.writer(e)
        grade_rows.writerow(["student", "assignment", "score", "max_score"])
        exercise_rows.writerow(["student", "assignment", "test", "score"])
        for student, by_assignment in sorted(scores.items()):
            for assignment, result in sorted(by_assignment.items()):
                grade_rows.writerow([student, assignment, f"{result['score']:g}",
                                     f"{result['max_score']:g}"])
                for test, points in sorted(result["cells"].items()):
                    exercise_rows.writerow([student, assignment, test, f"{points:g}"])
    return grades, exercises


def feedback(workdir: Path = DEFAULT_WORKDIR, db_url: str | None = None, log=print) -> list[Path]:
    """HTML feedback for every autograded submission (hidden tests removed); return the files."""
    workdir = Path(workdir).resolve()
    db_url = db_url or f"sqlite:///{workdir / 'gradebook.db'}"
    api = _api(workdir, db_url)
    for student, assignment in all_submissions(db_url):
        result = api.generate_feedback(assignment, student, force=True)
        if not result["success"]:
            log(f"{student}/{assignment}: feedback failed:\n{result.get('error')}")
    return sorted((workdir / "feedback").glob("*/*/*.html"))


def summary_table(scores: dict) -> str:
    """Students down, lessons across, 'score/max' in each cell ('-': no submission)."""
    lessons = sorted({a for by_assignment in scores.values() for a in by_assignment})
    width = max([len(s) for s in scores] + [7]) + 2
    lines = [f"{'student':<{width}}" + "".join(f"{a:>24}" for a in lessons)]
    for student, by_assignment in sorted(scores.items()):
        cells = [_score_text(by_assignment.get(a)) for a in lessons]
        lines.append(f"{student:<{width}}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def _score_text(result) -> str:
    return f"{result['score']:g}/{result['max_score']:g}" if result else "-"
