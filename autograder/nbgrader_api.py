"""nbgrader's gradebook and API as the course uses them: every part of the autograder imports
them from here, so that the one change below is in place before any gradebook is made, and
`api()` sets nbgrader up for grading (time limit, output budget, memory limit, trusted imports).

A new gradebook records its schema version, and nbgrader finds that version by running
`alembic heads` in a subprocess: 2.7 s for each new gradebook (measured on 2 cores: a grading
folder's gradebook, each Dask worker's private course, each lesson of `make build`), against
0.1 s to read the same version from nbgrader's migration scripts in this process.
"""
from __future__ import annotations

import functools
from pathlib import Path

import nbgrader
import nbgrader.api
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

__all__ = ["CourseDirectory", "Gradebook", "MissingEntry", "NbGraderAPI", "alembic_head", "api"]

RETURNED = "returned"  # where this machine puts the notebooks workers executed, to record them


@functools.lru_cache(maxsize=1)
def alembic_head() -> str:
    """The newest revision of nbgrader's gradebook schema (what `alembic heads` prints)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()


nbgrader.api.get_alembic_version = alembic_head


# Address space per grading kernel. A kernel running a lesson in fast mode (torch, torchvision,
# matplotlib, a ResNet18 forward and backward pass) reserves about 4 GB here.
KERNEL_MEMORY = 8 * 2**30


def api(workdir: Path, db_url: str, kernel_ipc: Path | None = None, timeout: int | None = None,
        threads: int | None = None, recording: bool = False):
    """nbgrader's API on the course folder ``workdir`` and the gradebook ``db_url``.

    ``recording``: autograde records notebooks a worker has already executed (from
    ``workdir/RETURNED``) without running them again: the same nbgrader steps, less clearing
    the outputs and executing. ``threads``: each grading kernel's share of the cores.
    """
    from nbgrader.converters import Autograde

    from autograder.build import nbgrader_config  # the build imports this module

    config = nbgrader_config()
    config.CourseDirectory.root = str(workdir)
    config.CourseDirectory.db_url = db_url
    if timeout:
        config.Execute.timeout = timeout
    config.Autograde.autograde_preprocessors = _budgeted(Autograde)
    if recording:
        config.CourseDirectory.submitted_directory = RETURNED
        config.Autograde.sanitize_preprocessors = _without(Autograde, "sanitize", "ClearOutput")
        config.Autograde.autograde_preprocessors = _without(Autograde, "autograde", "Execute")
    # Before any student code runs, each grading kernel (1) may reserve at most KERNEL_MEMORY
    # bytes, so that a memory hog gets a MemoryError in its own cell instead of the machine's
    # memory killer picking a victim, (2) imports the real hidden checks and reference, so
    # that a fake `autograder/` or `solutions/` package written beside the notebook is never
    # the one the hidden tests import, and (3) uses its share of the cores in torch.
    startup = [f"__import__('resource').setrlimit(__import__('resource').RLIMIT_AS, "
               f"({KERNEL_MEMORY}, {KERNEL_MEMORY}))",
               "__import__('autograder.checks'); __import__('solutions')"]
    if threads:
        startup.append(f"__import__('torch').set_num_threads({int(threads)})")
    config.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:",
                                      f"--IPKernelApp.exec_lines={startup!r}"]
    if kernel_ipc is not None:
        # Parallel workers must not race for TCP ports: each talks to its kernels over IPC files
        # of its own (measured here: 12 workers on TCP all failed, on IPC all succeeded).
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(kernel_ipc)
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def _without(autograde, which: str, name: str) -> list:
    steps = autograde.class_traits()[f"{which}_preprocessors"].default()
    return [step for step in steps if step.__name__ != name]


def _budgeted(autograde) -> list:
    """nbgrader's autograde steps, executing with an output budget (see `output_budget`)."""
    from nbgrader.preprocessors import Execute

    from autograder.output_budget import BudgetedExecute  # it imports nbgrader's Execute

    steps = autograde.class_traits()["autograde_preprocessors"].default()
    return [BudgetedExecute if step is Execute else step for step in steps]
