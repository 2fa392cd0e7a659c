"""Validating and autograding lessons with real nbgrader and a real gradebook.

nbgrader wants a course folder laid out as ``source/``, ``submitted/``, ``autograded/``. We build
one in a working folder (by default ``autograder/``), from the lesson sources and from a COPY of
the submissions: a student's files are read, never modified.
"""
from __future__ import annotations

import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from autograder import policy
from autograder.build import write_source_notebooks
from autograder.database import check as check_database
from autograder.database import default_db_url, shown
from autograder.gradebook import (all_submissions, auto_scores, export,  # noqa: F401
                                  read_scores, summary_table)
from autograder.intake import NO_LESSON, Batch, Unreadable, find_submissions, fingerprint, take_in
from autograder.ledger import Ledger
from autograder.nbgrader_api import RETURNED, api
from autograder.output_budget import dropped_outputs

DEFAULT_WORKDIR = Path(__file__).resolve().parent


def grade(submissions_dir: Path, workdir: Path = DEFAULT_WORKDIR, db_url: str | None = None,
          log=print, workers: int | None = None, force: bool = False,
          timeout: int | None = None, scheduler: str | None = None) -> dict:
    """Autograde every submission into the gradebook on a Dask cluster; return the scores.

    The cluster is a LocalCluster of ``workers`` processes (default: one per core), or the
    existing one at ``scheduler`` (tcp://HOST:PORT; see `autograder.cluster`). Workers grade
    from what their task carries (`autograder.worker`); this machine alone records the
    results. Submissions graded before and unchanged since are skipped unless ``force``; what
    happened to each one is kept in the ledger and written to ``grading-report.txt``.
    ``timeout`` overrides the per-cell time limit of nbgrader_config.py.

    Result: ``{student: {assignment: {"score": float, "max_score": float,
    "cells": {grade_id: score}}}}``.
    """
    from autograder import cluster

    cluster.check_options(scheduler, workers)
    workdir = Path(workdir).resolve()
    db_url = db_url or default_db_url(workdir)
    batch = find_submissions(submissions_dir)  # a folder nobody in it can be graded: stop here
    workdir.mkdir(parents=True, exist_ok=True)
    check_database(db_url, graded=False)
    ledger = Ledger(workdir)
    _record_mistakes(ledger, batch, log)
    jobs = _take_in_all(Path(submissions_dir), workdir, batch.pairs, ledger,
                        set(all_submissions(db_url)), force, log)
    log(f"grading {len(jobs)} of {len(batch.pairs)} submissions "
        f"({len(batch.pairs) - len(jobs)} unchanged since they were graded or unreadable)")
    if not jobs:
        _register(workdir, db_url, batch.pairs)
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            # the lessons are registered here while the workers start (each imports torch)
            registering = pool.submit(_register, workdir, db_url, batch.pairs)
            with cluster.connected(scheduler, workers, log) as client:
                sources = registering.result()
                log(f"on {cluster.wait_for_workers(client)} Dask workers")
                _grade_on(client, jobs, sources, workdir, db_url, ledger, timeout, log)
    ignored = "".join(f"  {path}\n" for path in batch.ignored)
    (workdir / REPORT).write_text(ledger.report() + (
        f"Not in any lesson folder, so not graded ({Path(submissions_dir)}/):\n{ignored}"
        if ignored else ""))
    return read_scores(db_url, batch.pairs)


def _register(workdir: Path, db_url: str, pairs) -> dict:
    """Register the lessons and students in the gradebook; return {lesson: source bytes}."""
    from autograder.nbgrader_api import Gradebook

    assignments = sorted({assignment for _, assignment in pairs})
    if assignments:  # (with none, the build's helper would write every lesson)
        write_source_notebooks(workdir, assignments)
    grader = api(workdir, db_url)
    for assignment in assignments:
        result = grader.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"could not register {assignment}: {result.get('error')}")
    with Gradebook(db_url) as gradebook:
        for student in sorted({student for student, _ in pairs}):
            gradebook.update_or_create_student(student)
    return {a: (workdir / "source" / a / f"{a}.ipynb").read_bytes() for a in assignments}


def _grade_on(client, jobs, sources, workdir, db_url, ledger, timeout, log) -> None:
    """Send each job to the cluster with the files it grades; record each result as it comes."""
    from autograder import cluster

    tasks, entries = [], {}
    # the costliest lessons first, so that a small batch does not end with one long lesson
    # running on one worker while the others wait (workers take the next task in this order)
    cost = expected_seconds(ledger, sources)
    jobs = sorted(jobs, key=lambda job: -cost[job[1]])
    for student, assignment, entry in jobs:
        folder = workdir / "submitted" / student / assignment
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
                 if p.is_file()}
        tasks.append({"student": student, "assignment": assignment, "files": files,
                      "timeout": timeout})
        entries[student, assignment] = entry
    for result in cluster.results(client, tasks, sources):
        entry = entries[result["student"], result["assignment"]]
        entry["notes"] = entry["notes"] + result["notes"]
        entry["worker"] = result["worker"]
        if "seconds" in result:  # how long the worker took over it (kernel start included)
            entry["seconds"] = result["seconds"]
        _record(ledger, db_url, workdir, result, entry, log)


def expected_seconds(ledger: Ledger, sources: dict) -> dict:
    """{lesson: its expected grading cost}: the mean seconds its submissions took on a worker
    in this folder before, when every lesson has been graded here; else the size of the
    lesson's source notebook (how much code it runs), a proxy on another scale."""
    seconds: dict = {}
    for entry in ledger.entries.values():
        if entry.get("seconds") is not None and entry["assignment"] in sources:
            seconds.setdefault(entry["assignment"], []).append(entry["seconds"])
    if set(seconds) == set(sources):
        return {lesson: sum(spent) / len(spent) for lesson, spent in seconds.items()}
    return {lesson: len(data) for lesson, data in sources.items()}


def _record_mistakes(ledger: Ledger, batch: Batch, log) -> None:
    """Record each student's layout mistakes (and forget the ones they have since fixed)."""
    students = {student for student, _ in batch.pairs} | {s for s, _ in batch.mistakes}
    ledger.forget([key for key, entry in ledger.entries.items()
                   if entry.get("layout") and entry["student"] in students])
    for (student, folder), reason in sorted(batch.mistakes.items()):
        log(f"{student}/{folder if folder != NO_LESSON else ''}: not graded: {reason}")
        ledger.record(student, folder, status="unreadable", reason=reason, layout=True)


def _take_in_all(root: Path, workdir: Path, pairs, ledger: Ledger, done: set, force: bool,
                 log) -> list:
    """Copy each submission to grade into nbgrader's folder; return the grading jobs.

    Skips what was graded (or found unreadable) and has not changed since, unless ``force``.
    """
    jobs = []
    for student, assignment in pairs:
        folder = root / student / assignment
        entry, stamp = ledger.get(student, assignment), fingerprint(folder)
        if not force and entry.get("fingerprint") == stamp and (
                entry.get("status") == "unreadable" or
                entry.get("status") == "graded" and (student, assignment) in done):
            continue
        try:
            notes = take_in(folder, assignment, workdir / "submitted" / student / assignment)
        except Unreadable as why:
            log(f"{student}/{assignment}: not graded: {why}")
            ledger.record(student, assignment, fingerprint=stamp, status="unreadable",
                          reason=str(why), overrides=entry.get("overrides", []))
            continue
        jobs.append((student, assignment, {"fingerprint": stamp, "notes": notes,
                                           "overrides": entry.get("overrides", [])}))
    return jobs


REPORT = "grading-report.txt"


def _record(ledger, db_url, workdir, result, entry, log) -> None:
    """Record one worker's result: its scores into the gradebook (through nbgrader, without
    executing anything), the grading policy's findings and the outcome into the ledger."""
    student, assignment = result["student"], result["assignment"]
    previous = entry.pop("overrides", [])
    error = result.get("refused") or (
        f"nbgrader could not grade it: {_cause(str(result['error']))}" if result["error"] else "")
    if not error:
        error = _save_scores(workdir, db_url, result)
    if error:
        log(f"{student}/{assignment}: not graded: {error}"
            + (f"\n{result['error']}" if result.get("error") else ""))
        ledger.record(student, assignment, **entry, status="failed", overrides=previous,
                      reason=error)
        return
    graded = nbformat.read(workdir / "autograded" / student / assignment / f"{assignment}.ipynb",
                           as_version=4)
    found = policy.findings(graded)
    overrides = policy.apply(db_url, assignment, student, assignment, found, previous)
    entry["notes"] = entry["notes"] + dropped_outputs(graded)
    ledger.record(student, assignment, **entry, status="graded", overrides=overrides,
                  findings=[f.as_dict() for f in found])
    log(f"{student}/{assignment}: graded on {result['worker']} in {result['seconds']} s")


def _save_scores(workdir: Path, db_url: str, result: dict) -> str:
    """Write a worker's executed notebook into the gradebook; return an error ('' if none).

    nbgrader scores it again from its outputs, as it does after executing; the scores must
    equal the worker's, or something differs between the two machines."""
    import shutil

    student, assignment = result["student"], result["assignment"]
    folder = workdir / RETURNED / student / assignment
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / f"{assignment}.ipynb").write_bytes(result["notebook"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)  # nbgrader's SQLAlchemy noise
        saved = api(workdir, db_url, recording=True).autograde(assignment, student, force=True,
                                                               create=True)
    shutil.rmtree(folder)
    if not saved["success"]:
        return f"could not record it: {_cause(str(saved.get('error')))}"
    recorded = auto_scores(db_url, student, assignment)
    if recorded != result["scores"]:
        return (f"the scores recorded here ({recorded}) differ from the worker's "
                f"({result['scores']}): not graded")
    return ""


def _cause(error: str) -> str:
    """The line of a long nbgrader log that names what went wrong."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    causes = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Exit)\b", line)
              and "NbGraderException" not in line]
    return causes[-1] if causes else (lines[-1] if lines else "unknown error")


def feedback(workdir: Path = DEFAULT_WORKDIR, db_url: str | None = None, log=print) -> list[Path]:
    """HTML feedback for every autograded submission (hidden tests removed); return the files.

    Feedback is made from the graded copies in ``workdir``: a submission graded in another
    working folder (another machine's, sharing the database) is skipped and named.
    """
    workdir = Path(workdir).resolve()
    db_url = db_url or default_db_url(workdir)
    check_database(db_url, graded=True)
    graded = all_submissions(db_url)
    here = [(s, a) for s, a in graded
            if (workdir / "autograded" / s / a / f"{a}.ipynb").is_file()]
    if not here:
        raise RuntimeError(
            f"no feedback to write: {shown(db_url)} holds {len(graded)} graded submissions "
            f"and none of them was graded in {workdir} (no autograded/ copy there). Give the "
            "--workdir they were graded in, or grade first.")
    for student, assignment in sorted(set(graded) - set(here)):
        log(f"{student}/{assignment}: no feedback: graded in another --workdir")
    grader = api(workdir, db_url)
    for student, assignment in here:
        result = grader.generate_feedback(assignment, student, force=True)
        if not result["success"]:
            log(f"{student}/{assignment}: feedback failed: {_cause(str(result.get('error')))}")
    return sorted((workdir / "feedback").glob("*/*/*.html"))
