"""Shared fixtures. Tests that need the plant dataset ask for `plants`: it is generated once."""
import matplotlib
import pytest

from batch_scheduling import SharedBatchScheduling, unit_rank

matplotlib.use("Agg")  # tests draw figures without a display


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`make test` runs on xdist workers: see batch_scheduling.py for how work is shared."""
    return SharedBatchScheduling(config, log)


def pytest_collection_modifyitems(items):
    """The files that grade a shared batch first (a stable sort: each file keeps its order)."""
    items.sort(key=lambda item: unit_rank(item.path))


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread while a module runs, restored afterwards. On the shared 2-core
    machine the explainer tests' small tensors ran about 30x slower with 2 OpenMP threads when
    another job was busy (measured 1.1 s vs 0.035 s per GradCAM call). Use it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def plants():
    """The generated plant dataset folder (made on first use, about 15 s)."""
    from data.generate import ensure_dataset

    return ensure_dataset()


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on loopback for the session, as an SQLAlchemy URL.

    Uses Debian's `postgresql` package (installed here with apt-get when it is missing and we are
    root); skipped, saying why, only where it cannot be had.
    """
    from pg_server import PostgresUnavailable, running_server

    try:
        with running_server() as url:
            yield url
    except PostgresUnavailable as why:
        pytest.skip(f"no PostgreSQL server: {why}")


# ---------------------------------------------------------------- batches graded once per session
# Grading is the suite's costliest step (seconds per notebook), so each batch below is graded
# once and every module that asserts on it shares it. Tests that change a batch work on a copy.

@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory, plants):
    """Complete, partial and untouched submissions of every lesson, graded by real nbgrader into
    one gradebook: (course folder, scores). tests/test_lessons.py checks the scores,
    tests/test_lesson_outputs.py the outputs of the complete notebooks as graded."""
    from autograder.build import lesson_sources
    from autograder.grading import grade
    from autograder.samples import write_samples

    root = tmp_path_factory.mktemp("samples")
    for source in lesson_sources():
        write_samples(root / "submissions", source.stem)
    return root, grade(root / "submissions", workdir=root / "course", log=print)


def copy_students(submissions, students, target):
    """Copy ``students``' folders out of a shared batch's ``submissions`` into ``target`` (a
    new submissions folder to grade again) and return ``target``."""
    import shutil

    for student in students:
        shutil.copytree(submissions / student, target / student)
    return target


# The adversarial batch's per-cell limit: endless loops end sooner than with the course's 120 s.
# Every cell that calls a looping function waits it out (loops-inside: four cells), while the
# slowest honest cell, printing a million lines (floods-output), took 7 s on 2 cores.
ADVERSARIAL_TIMEOUT_S = 20


@pytest.fixture(scope="session")
def adversarial_batch(tmp_path_factory, plants):
    """Every case of autograder/adversarial.py (and a student folder with nothing in it), graded
    on the embedded Dask cluster of 2 workers into sqlite: (root, scores, log lines, the
    submissions' bytes before grading). root/submissions holds the cases, root/work the
    grading folder. tests/test_grading_integrity.py checks each case; tests/test_dask_grading.py
    compares a cluster of separate workers into PostgreSQL with it."""
    from autograder.adversarial import CASES, write_case
    from autograder.grading import grade

    root = tmp_path_factory.mktemp("adversarial")
    for student in CASES:
        write_case(root / "submissions", student)
    (root / "submissions" / "no-lessons").mkdir()  # a student folder with nothing in it
    before = {p: p.read_bytes() for p in (root / "submissions").rglob("*") if p.is_file()}
    lines: list[str] = []
    scores = grade(root / "submissions", root / "work", workers=2,
                   timeout=ADVERSARIAL_TIMEOUT_S, log=lines.append)
    return root, scores, lines, before
