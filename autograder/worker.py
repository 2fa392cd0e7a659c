"""What a Dask worker does with one submission: grade it in a private course, send back the result.

A worker shares nothing with the grading machine but the network. Its task carries the
submission's files and the lesson's nbgrader source notebook (as bytes); the worker grades it in
a temporary nbgrader course of its own, with a private sqlite gradebook, and returns the
autograded notebook, the per-cell scores and comments, and its notes. The grading machine alone
writes the class's gradebook, ledger and report (see `autograder.grading`).

A worker whose hidden checks or reference differ from the grading machine's refuses to grade:
scores made with other tests would not be the class's scores.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path

from autograder.build import REPO_ROOT

# what the hidden tests import: the grading machine and every worker must hold the same files
TEST_CODE = ("autograder/checks/*.py", "solutions/__init__.py", "solutions/reference/*.py")
_courses = threading.local()  # one private course per worker thread, reused for its tasks


def test_code_digest() -> str:
    """sha256 over the hidden checks and the reference package (paths and bytes)."""
    digest = hashlib.sha256()
    for pattern in TEST_CODE:
        for path in sorted(REPO_ROOT.glob(pattern)):
            digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def kernel_threads(host_threads: dict) -> int:
    """This worker's share of its machine's cores: cores / worker threads on the machine."""
    from distributed import get_worker
    from distributed.comm import get_address_host

    from autograder.cluster import cores

    worker = get_worker()
    sharing = host_threads.get(get_address_host(worker.address), worker.state.nthreads)
    return max(1, cores() // max(1, sharing))


def grade_submission(task: dict, source: bytes) -> dict:
    """Grade one submission (the Dask task). ``task``: student, assignment, files {path: bytes},
    timeout, test_code (the grading machine's `test_code_digest`), host_threads.

    Returns {"student", "assignment", "worker", "error", "notes", "notebook" (bytes),
    "scores" {grade id: score}, "comments" {grade id: comment}, "seconds" (spent here)};
    "refused" instead of "error" when this worker's hidden tests are not the grading machine's.
    """
    started = time.perf_counter()
    student, assignment = task["student"], task["assignment"]
    result = {"student": student, "assignment": assignment, "worker": _address(),
              "error": "", "notes": [], "notebook": None, "scores": {}, "comments": {}}
    mine = test_code_digest()
    if mine != task["test_code"]:
        result["refused"] = (f"worker {result['worker']} refused to grade it: its hidden checks "
                             f"or reference ({mine[:12]}) differ from the grading machine's "
                             f"({task['test_code'][:12]}); install the same course version there")
        return result
    course = _private_course(assignment, source)
    submitted = course / "submitted" / student / assignment
    for folder in (submitted, course / "autograded" / student / assignment):
        shutil.rmtree(folder, ignore_errors=True)
    for name, data in task["files"].items():
        (submitted / name).parent.mkdir(parents=True, exist_ok=True)
        (submitted / name).write_bytes(data)
    threads = kernel_threads(task.get("host_threads", {}))
    result["error"], result["notes"] = _autograde(course, assignment, student, task["timeout"],
                                                  threads)
    graded = course / "autograded" / student / assignment / f"{assignment}.ipynb"
    if not result["error"] and graded.is_file():
        result["notebook"] = graded.read_bytes()
        result["scores"], result["comments"] = _cells(course, assignment, student)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _private_course(assignment: str, source: bytes) -> Path:
    """This thread's temporary nbgrader course, with ``assignment`` registered from ``source``."""
    from autograder.nbgrader_api import api

    if not hasattr(_courses, "root"):
        _courses.root = Path(tempfile.mkdtemp(prefix="autograder-worker-"))
        _courses.registered = {}
        atexit.register(shutil.rmtree, _courses.root, True)
    root, stamp = _courses.root, hashlib.sha256(source).hexdigest()
    if _courses.registered.get(assignment) != stamp:
        notebook = root / "source" / assignment / f"{assignment}.ipynb"
        notebook.parent.mkdir(parents=True, exist_ok=True)
        notebook.write_bytes(source)
        result = api(root, _private_db(root)).generate_assignment(assignment, force=True,
                                                                  create=True)
        if not result["success"]:
            raise RuntimeError(f"could not register {assignment}: {result.get('error')}")
        _courses.registered[assignment] = stamp
    return root


def _private_db(course: Path) -> str:
    return f"sqlite:///{course / 'private-gradebook.db'}"


def _autograde(course: Path, assignment: str, student: str, timeout: int | None,
               threads: int) -> tuple[str, list[str]]:
    """nbgrader's autograde, with the kernel-death quarantine; returns (error, notes).

    When the notebook kills its kernel, the cell to blame is replaced in this private copy and
    the rest graded (see `autograder.quarantine`).
    """
    import nbformat

    from autograder import quarantine
    from autograder.execution import environment
    from autograder.nbgrader_api import api

    notes: list[str] = []
    # every thread pool a kernel may start (OpenMP, MKL, torch) gets this worker's share only
    limits: dict = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                     "OPENBLAS_NUM_THREADS")}
    # A Dask nanny starts its worker with MALLOC_TRIM_THRESHOLD_ set (to return memory to the
    # system sooner). A kernel that inherits it runs torch about 1.6x slower (measured: lesson
    # 06 in fast mode, 24 s without, 39 s with): fixing the trim threshold turns off glibc's
    # adaptive mmap threshold, so every large tensor is mapped and unmapped afresh.
    limits["MALLOC_TRIM_THRESHOLD_"] = None
    with tempfile.TemporaryDirectory(prefix="kernels-") as ipc_dir, environment(**limits):
        ipc = Path(ipc_dir) / f"kernel-{os.getpid()}"
        grader = api(course, _private_db(course), ipc, timeout, threads)
        submitted = course / "submitted" / student / assignment / f"{assignment}.ipynb"
        for _ in range(len(nbformat.read(submitted, as_version=4).cells)):
            with warnings.catch_warnings():
                # nbgrader's gradebook code trips SQLAlchemy autoflush warnings that mean nothing
                warnings.simplefilter("ignore", category=Warning)
                result = grader.autograde(assignment, student, force=True, create=True)
            error = "" if result["success"] else f"{result.get('log')}\n{result.get('error')}"
            if not quarantine.kernel_died(error):
                break
            killer = quarantine.find_killer(submitted, timeout or grader.config.Execute.timeout,
                                            ipc)
            note = None if killer is None else quarantine.replace_cell(submitted, killer)
            if note is None:
                break
            notes.append(note)
    return error, notes


def _cells(course: Path, assignment: str, student: str) -> tuple[dict, dict]:
    """Per-cell scores (nbgrader's automatic ones) and comments from the private gradebook."""
    from autograder.nbgrader_api import Gradebook

    from autograder.gradebook import auto_scores

    with Gradebook(_private_db(course)) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        comments = {c.name: c.comment for nb in submission.notebooks for c in nb.comments
                    if c.comment}
    return auto_scores(_private_db(course), student, assignment), comments


def warm_up() -> None:
    """Import and validate once per worker process what every autograde needs.

    nbformat's validation pulls in jsonschema's format checkers (rfc3987_syntax builds a grammar:
    3-6 s); paid here once, at the worker's start, instead of in a submission's time.
    """
    import nbformat
    import nbgrader.apps  # noqa: F401
    import nbgrader.converters  # noqa: F401 (imported once, here)

    nbformat.validate(nbformat.v4.new_notebook())


def _address() -> str:
    """This worker's name in the ledger: its host and its address on the cluster."""
    from distributed import get_worker

    return f"{socket.gethostname()} {get_worker().address}"
