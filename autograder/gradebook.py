"""Reading the gradebook: scores, the submissions in it, the grades CSVs, the summary table."""
from __future__ import annotations

from pathlib import Path

from autograder.database import check as check_database
from autograder.database import shown
from autograder.ledger import Ledger


def read_scores(db_url: str, pairs) -> dict:
    """Scores recorded in the gradebook for the given (student, assignment) pairs."""
    from autograder.nbgrader_api import Gradebook, MissingEntry

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


def auto_scores(db_url: str, student: str, assignment: str) -> dict:
    """{grade id: nbgrader's automatic score} of one submission, before any manual score."""
    from autograder.nbgrader_api import Gradebook

    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {g.name: g.auto_score for nb in submission.notebooks for g in nb.grades}


def all_submissions(db_url: str) -> list[tuple[str, str]]:
    """(student, assignment) for every submission recorded in the gradebook."""
    from autograder.nbgrader_api import Gradebook

    with Gradebook(db_url) as gradebook:
        return sorted((s.student.id, s.assignment.name)
                      for a in gradebook.assignments for s in a.submissions)


def export(db_url: str, out_dir: Path) -> tuple[Path, Path]:
    """Write grades.csv and exercises.csv (per test cell) into ``out_dir``, the grading folder.

    Every submission the ledger knows appears, also those that could not be graded (score 0 and
    the reason in ``note``); ``note`` also names flagged or broken answer cells. However many
    machines graded, one grading machine kept the one ledger read here.
    """
    import csv

    check_database(db_url, graded=True)
    out_dir = Path(out_dir)
    ledger = Ledger(out_dir)
    pairs = set(all_submissions(db_url)) | {(e["student"], e["assignment"])
                                            for e in ledger.entries.values()}
    if not pairs:
        raise RuntimeError(f"nothing to export: no submission has been graded into "
                           f"{shown(db_url)}, and {out_dir} records none that could not be "
                           "graded. Grade first (python -m autograder grade SUBMISSIONS, with "
                           "the same --workdir and --db); no CSV was written.")
    out_dir.mkdir(parents=True, exist_ok=True)
    scores = read_scores(db_url, sorted(pairs))
    grades, exercises = out_dir / "grades.csv", out_dir / "exercises.csv"
    with grades.open("w", newline="") as g, exercises.open("w", newline="") as e:
        grade_rows, exercise_rows = csv.writer(g), csv.writer(e)
        grade_rows.writerow(["student", "assignment", "score", "max_score", "note"])
        exercise_rows.writerow(["student", "assignment", "test", "score", "note"])
        for student, assignment in sorted(pairs):
            entry = ledger.get(student, assignment)
            result = scores.get(student, {}).get(assignment)
            why = {t: f["reason"] for f in entry.get("findings", []) for t in f["tests"]}
            if entry.get("status", "graded") != "graded" or result is None:
                note = entry.get("reason", "not graded")
                result = {"score": 0.0, "max_score": _max_score(db_url, assignment), "cells": {}}
            else:
                note = "; ".join(f["reason"] for f in entry.get("findings", []) if f["tests"])
            grade_rows.writerow([student, assignment, f"{result['score']:g}",
                                 f"{result['max_score']:g}", note])
            for test, points in sorted(result["cells"].items()):
                exercise_rows.writerow([student, assignment, test, f"{points:g}",
                                        why.get(test, "")])
    return grades, exercises


def _max_score(db_url: str, assignment: str) -> float:
    from autograder.nbgrader_api import Gradebook, MissingEntry

    with Gradebook(db_url) as gradebook:
        try:
            return gradebook.find_assignment(assignment).max_score
        except MissingEntry:
            return 0.0


def summary_table(scores: dict) -> str:
    """Students down, lessons across, 'score/max' in each cell ('-': no submission)."""
    if not scores:
        return "no submission has a score (the report says why)"
    lessons = sorted({a for by_assignment in scores.values() for a in by_assignment})
    width = max([len(s) for s in scores] + [7]) + 2
    lines = [f"{'student':<{width}}" + "".join(f"{a:>24}" for a in lessons)]
    for student, by_assignment in sorted(scores.items()):
        cells = [_score_text(by_assignment.get(a)) for a in lessons]
        lines.append(f"{student:<{width}}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def _score_text(result) -> str:
    return f"{result['score']:g}/{result['max_score']:g}" if result else "-"
