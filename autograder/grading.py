"""Validating and autograding lessons with real nbgrader and a real gradebook.

nbgrader wants a course folder laid out as ``source/``, ``submitted/``, ``autograded/``. We build
one in a working folder (by default ``autograder/``), from the lesson sources and from a COPY of
the submissions: a student's files are read, never modified.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import nbformat

from autograder import policy
from autograder.build import nbgrader_config, write_source_notebooks
from autograder.database import check as check_database
from autograder.database import default_db_url, shown
from autograder.gradebook import all_submissions, export, read_scores, summary_table  # noqa: F401
from autograder.intake import NO_LESSON, Batch, Unreadable, find_submissions, fingerprint, take_in
from autograder.ledger import Ledger
from autograder.output_budget import dropped_outputs

DEFAULT_WORKDIR = Path(__file__).resolve().parent
# Address space per grading kernel. A kernel running a lesson in fast mode (torch, torchvision,
# matplotlib, a ResNet18 forward and backward pass) reserves about 4 GB here.
KERNEL_MEMORY = 8 * 2**30


def validate(notebook: Path, invert: bool = False) -> dict:
    """Run nbgrader's Validator on one notebook (it executes it, in fast mode).

    Returns nbgrader's result dict: ``{"failed": [...]}`` lists failing graded cells; with
    ``invert=True`` (for stubs) ``{"passed": [...]}`` lists graded cells that passed.
    """
    from nbgrader.validator import Validator

    validator = Validator(config=nbgrader_config())
    validator.invert = invert
    return validator.validate(str(Path(notebook).resolve()))


def _api(workdir: Path, db_url: str, kernel_ipc: Path | None = None, timeout: int | None = None):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config()
    config.CourseDirectory.root = str(workdir)
    config.CourseDirectory.db_url = db_url
    if timeout:
        config.Execute.timeout = timeout
    config.Autograde.autograde_preprocessors = _budgeted(Autograde)
    # Before any student code runs, each grading kernel (1) may reserve at most KERNEL_MEMORY
    # bytes, so that a memory hog gets a MemoryError in its own cell instead of the machine's
    # memory killer picking a victim, and (2) imports the real hidden checks and reference, so
    # that a fake `autograder/` or `solutions/` package written beside the notebook is never
    # the one the hidden tests import.
    startup = [f"__import__('resource').setrlimit(__import__('resource').RLIMIT_AS, "
               f"({KERNEL_MEMORY}, {KERNEL_MEMORY}))",
               "__import__('autograder.checks'); __import__('solutions')"]
    config.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:",
                                      f"--IPKernelApp.exec_lines={startup!r}"]
    if kernel_ipc is not None:
        # Parallel workers must not race for TCP ports: each talks to its kernels over IPC files
        # of its own (measured here: 12 workers on TCP all failed, on IPC all succeeded).
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(kernel_ipc)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def _budgeted(autograde) -> list:
    """nbgrader's autograde steps, executing with an output budget (see `output_budget`)."""
    from nbgrader.preprocessors import Execute

    from autograder.output_budget import BudgetedExecute

    steps = autograde.class_traits()["autograde_preprocessors"].default()
    return [BudgetedExecute if step is Execute else step for step in steps]


def grade(submissions_dir: Path, workdir: Path = DEFAULT_WORKDIR, db_url: str | None = None,
          log=print, workers: int = 1, force: bool = False, timeout: int | None = None) -> dict:
    """Autograde every submission into the gradebook (``workers`` at a time); return scores.

    Submissions graded before and unchanged since are skipped unless ``force``; what happened
    to each one is kept in the ledger and written to ``grading-report.txt`` (see `ledger`).
    ``timeout`` overrides the per-cell time limit of nbgrader_config.py.

    Result: ``{student: {assignment: {"score": float, "max_score": float,
    "cells": {grade_id: score}}}}``.
    """
    from nbgrader.api import Gradebook

    workdir = Path(workdir).resolve()
    db_url = db_url or default_db_url(workdir)
    batch = find_submissions(submissions_dir)  # a folder nobody in it can be graded: stop here
    workdir.mkdir(parents=True, exist_ok=True)
    check_database(db_url, graded=False)
    pairs = batch.pairs
    assignments = sorted({assignment for _, assignment in pairs})
    if assignments:  # (with none, the build's helper would write every lesson)
        write_source_notebooks(workdir, assignments)
    api = _api(workdir, db_url)
    for assignment in assignments:
        result = api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"could not register {assignment}: {result.get('error')}")
    with Gradebook(db_url) as gradebook:  # created up front, so workers never race to add them
        for student in sorted({student for student, _ in pairs}):
            gradebook.update_or_create_student(student)
    ledger = Ledger(workdir)
    _record_mistakes(ledger, batch, log)
    jobs = _take_in_all(Path(submissions_dir), workdir, pairs, ledger, set(all_submissions(db_url)),
                        force, log)
    log(f"grading {len(jobs)} of {len(pairs)} submissions "
        f"({len(pairs) - len(jobs)} unchanged since they were graded or unreadable)")
    args = [(str(workdir), db_url, a, s, timeout) for s, a, _ in jobs]
    entries = {(s, a): entry for s, a, entry in jobs}
    for student, assignment, error, notes in _run_jobs(args, workers):
        entry = entries[student, assignment]
        entry["notes"] = entry["notes"] + notes
        _record(ledger, db_url, workdir, student, assignment, entry, error, log)
    ignored = "".join(f"  {path}\n" for path in batch.ignored)
    (workdir / REPORT).write_text(ledger.report() + (
        f"Not in any lesson folder, so not graded ({Path(submissions_dir)}/):\n{ignored}"
        if ignored else ""))
    return read_scores(db_url, pairs)


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


def _run_jobs(args: list, workers: int):
    """Yield `_autograde_one`'s result as each autograde finishes (so each is recorded)."""
    if workers <= 1:
        yield from (_autograde_one(*job) for job in args)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(_autograde_one, *job): job for job in args}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as crash:  # a worker died: record it and go on with the batch
                _, _, assignment, student, _ = futures[future]
                yield student, assignment, f"the grading worker crashed: {crash!r}", []


def _record(ledger, db_url, workdir, student, assignment, entry, error, log) -> None:
    """Apply the grading policy to one finished autograde and record it in the ledger."""
    previous = entry.pop("overrides", [])
    if error:
        log(f"{student}/{assignment}: autograde failed:\n{error}")
        ledger.record(student, assignment, **entry, status="failed", overrides=previous,
                      reason=f"nbgrader could not grade it: {_cause(str(error))}")
        return
    graded = nbformat.read(workdir / "autograded" / student / assignment / f"{assignment}.ipynb",
                           as_version=4)
    found = policy.findings(graded)
    overrides = policy.apply(db_url, assignment, student, assignment, found, previous)
    entry["notes"] = entry["notes"] + dropped_outputs(graded)
    ledger.record(student, assignment, **entry, status="graded", overrides=overrides,
                  findings=[f.as_dict() for f in found])


def _cause(error: str) -> str:
    """The line of a long nbgrader log that names what went wrong."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    causes = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Exit)\b", line)
              and "NbGraderException" not in line]
    return causes[-1] if causes else (lines[-1] if lines else "unknown error")


def _autograde_one(workdir: str, db_url: str, assignment: str, student: str,
                   timeout: int | None = None):
    """Autograde one submission (in this process or a worker).

    Returns (student, lesson, error, notes). When the notebook kills its kernel, the cell to
    blame is replaced in the working copy and the rest graded (see `autograder.quarantine`).
    """
    import os
    import tempfile

    from autograder import quarantine

    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kernels-") as ipc_dir:
        ipc = Path(ipc_dir) / f"kernel-{os.getpid()}"
        api = _api(Path(workdir), db_url, ipc, timeout)
        submitted = Path(workdir) / "submitted" / student / assignment / f"{assignment}.ipynb"
        for _ in range(len(nbformat.read(submitted, as_version=4).cells)):
            with warnings.catch_warnings():
                # nbgrader's gradebook code trips SQLAlchemy autoflush warnings that mean nothing
                warnings.simplefilter("ignore", category=Warning)
                result = api.autograde(assignment, student, force=True, create=True)
            error = "" if result["success"] else f"{result.get('log')}\n{result.get('error')}"
            if not quarantine.kernel_died(error):
                break
            killer = quarantine.find_killer(submitted, timeout or api.config.Execute.timeout, ipc)
            note = None if killer is None else quarantine.replace_cell(submitted, killer)
            if note is None:
                break
            notes.append(note)
    return student, assignment, error, notes


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
    api = _api(workdir, db_url)
    for student, assignment in here:
        result = api.generate_feedback(assignment, student, force=True)
        if not result["success"]:
            log(f"{student}/{assignment}: feedback failed: {_cause(str(result.get('error')))}")
    return sorted((workdir / "feedback").glob("*/*/*.html"))
