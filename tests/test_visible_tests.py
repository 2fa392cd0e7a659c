"""The visible tests catch the usual mistakes, and say why.

Every mistake of tests/visible_mistakes/ is applied to the lesson's own solution (a textual
replacement in the answer cell), and the exercise's visible test must then fail with a message
that contains the listed words. The unmodified solution must pass every visible test without
writing to stderr (nbgrader scores a test cell that does as 0).

One kernel per lesson keeps this fast: the lesson's setup cells and solutions run once, then each
mistake re-defines one answer, runs its test cell and puts the solution back.
"""
from __future__ import annotations

import os
import queue

import pytest
from jupyter_client import KernelManager

from autograder.build import LESSONS_DIR, read_source
from autograder.markers import BEGIN_HIDDEN, END_HIDDEN, without_solution_markers
from visible_mistakes import MISTAKES

CELL_TIMEOUT = 120  # seconds; the slowest visible test takes about 2 s on 2 cores


def visible_part(source: str) -> str:
    """A test cell as a student sees it: the hidden-test block removed."""
    keep, hidden = [], False
    for line in source.splitlines():
        if line.strip() == BEGIN_HIDDEN:
            hidden = True
        elif line.strip() == END_HIDDEN:
            hidden = False
        elif not hidden:
            keep.append(line)
    return "\n".join(keep)


def apply_mistake(solution: str, replacements) -> str:
    """The solution with every (old, new) replacement made; each `old` must occur in it."""
    changed = solution
    for old, new in replacements:
        assert old in changed, f"the mistake's text {old!r} is not in the solution any more"
        changed = changed.replace(old, new)
    assert changed != solution, "the mistake does not change the solution"
    return changed


class LessonKernel:
    """A kernel that has run one lesson's setup cells and solutions, in notebook order."""

    def __init__(self, lesson: str):
        nb = read_source(LESSONS_DIR / f"{lesson}.py")
        self.solutions, self.tests, self.results = {}, {}, {}
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(LESSONS_DIR.parents[1]),
                                  env={**os.environ, "COURSE_FAST": "1"})
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
        last_test = max(i for i, cell in enumerate(code_cells) if _meta(cell).get("grade"))
        for cell in code_cells[: last_test + 1]:
            meta = _meta(cell)
            if meta.get("grade"):  # a test cell: run its visible part after its solution
                exercise = meta["grade_id"].removeprefix("test_")
                self.tests[exercise] = visible_part(cell.source)
                self.results[exercise] = self.run(self.tests[exercise])
            elif meta.get("solution"):
                self.solutions[meta["grade_id"]] = without_solution_markers(cell.source)
                error, stderr = self.run(self.solutions[meta["grade_id"]])
                assert error is None, f"{lesson}: solution {meta['grade_id']} fails: {error}"
            else:
                error, _ = self.run(cell.source)
                assert error is None, f"{lesson}: a setup cell fails: {error}\n{cell.source[:200]}"

    def run(self, code: str) -> tuple[str | None, str]:
        """(the error as 'Name: message', or None; what the code wrote to stderr)."""
        outputs = {"error": None, "stderr": ""}

        def collect(message):
            kind, content = message["msg_type"], message["content"]
            if kind == "stream" and content["name"] == "stderr":
                outputs["stderr"] += content["text"]
            elif kind == "error":
                outputs["error"] = f"{content['ename']}: {content['evalue']}"

        try:
            self.client.execute_interactive(code, output_hook=collect, timeout=CELL_TIMEOUT,
                                            store_history=False)
        except (TimeoutError, queue.Empty):
            pytest.fail(f"a cell ran past {CELL_TIMEOUT} s:\n{code[:300]}")
        return outputs["error"], outputs["stderr"]

    def shutdown(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


# One live kernel per lesson until the module ends: the solution test and the mistakes of a
# lesson run in different test functions, and pytest runs a function's parameters before the
# next function's, so a kernel closed when the next lesson starts would be set up twice
# (lesson 06's set-up takes about 30 s). The five kernels (lessons 02-06) hold about 4.8 GB.
_kernel: dict[str, LessonKernel] = {}


@pytest.fixture(scope="module", autouse=True)
def _shutdown_kernels():
    yield
    for kernel in _kernel.values():
        kernel.shutdown()
    _kernel.clear()


def kernel_for(lesson: str) -> LessonKernel:
    if lesson not in _kernel:
        _kernel[lesson] = LessonKernel(lesson)
    return _kernel[lesson]


CASES = [pytest.param(lesson, exercise, mistake, id=f"{lesson[:2]}-{exercise}-{mistake[0]}")
         for lesson, exercises in MISTAKES.items()
         for exercise, mistakes in exercises.items() for mistake in mistakes]


@pytest.mark.parametrize("lesson", list(MISTAKES))
def test_solution_passes_every_visible_test_quietly(lesson, plants):
    kernel = kernel_for(lesson)
    assert set(kernel.tests) == set(MISTAKES[lesson]), "every exercise needs listed mistakes"
    for exercise, (error, stderr) in kernel.results.items():
        assert error is None, f"{lesson}: the solution of {exercise} fails its visible test: {error}"
        assert stderr == "", f"{lesson}: the visible test of {exercise} writes to stderr: {stderr}"


@pytest.mark.parametrize("lesson, exercise, mistake", CASES)
def test_visible_test_catches_the_mistake(lesson, exercise, mistake, plants):
    name, replacements, words = mistake
    kernel = kernel_for(lesson)
    wrong = apply_mistake(kernel.solutions[exercise], replacements)
    try:
        error, _ = kernel.run(wrong)
        assert error is None, f"the mistaken solution does not even define {exercise}: {error}"
        error, _ = kernel.run(kernel.tests[exercise])
    finally:
        restored, _ = kernel.run(kernel.solutions[exercise])
        assert restored is None, restored
    assert error is not None, f"{lesson} {exercise}: the visible test passes with '{name}'"
    missing = [word for word in words if word.lower() not in error.lower()]
    assert not missing, f"{lesson} {exercise}, '{name}': the message lacks {missing}:\n{error}"
