"""Every solution notebook passes all its tests, and every figure of it shows as an image.

The complete sample submission of each lesson (every answer the instructor's solution) is the
notebook looked at, as the real grader executed it (fast mode, from its course folder as a
student's would be, hidden tests included): the session's `graded_samples` batch of
tests/conftest.py, which tests/test_lessons.py scores. Executing it once more here would test
the same cells again. A figure that the inline backend never saw shows as the text
``<Figure size 1000x1000 with 16 Axes>``; no error is raised, so only the outputs tell.
"""
import re

import nbformat
import pytest

from autograder.build import lesson_sources

LESSONS = [source.stem for source in lesson_sources()]
# A cell that draws: pyplot, or one of the figure helpers in utils/.
FIGURE_CALL = re.compile(r"plt\.show\(\)|\b(compare_grid|plot_training_curves|"
                         r"plot_confusion_matrix|display_imagenet_output)\(")
FIGURE_TEXT = re.compile(r"<\w*Figure size \d+x\d+ with \d+ Axes>")


@pytest.fixture(scope="module", params=LESSONS)
def executed(request, graded_samples):
    """(lesson id, the complete submission as graded, outputs and all)."""
    root, _ = graded_samples
    lesson = request.param
    path = root / "course" / "autograded" / "complete" / lesson / f"{lesson}.ipynb"
    return lesson, nbformat.read(path, as_version=4)


def _code_cells(nb):
    return [(index + 1, cell) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def test_no_cell_raises(executed):
    lesson, nb = executed
    errors = [f"cell {n}: {out.ename}: {out.evalue}" for n, cell in _code_cells(nb)
              for out in cell.outputs if out.output_type == "error"]
    assert not errors, f"{lesson}: {errors}"


def test_every_graded_cell_passes(executed):
    """nbgrader's own rule (determine_grade): an error, or anything on stderr, scores 0."""
    from autograder.selfcheck import score_cells

    lesson, nb = executed
    failed = [f"{row['exercise']}: {row['message']}" for row in score_cells(nb) if not row["passed"]]
    assert not failed, f"the instructor version of {lesson} fails its own tests: {failed}"


def test_every_figure_cell_shows_an_image(executed):
    lesson, nb = executed
    figure_cells = [(n, cell) for n, cell in _code_cells(nb) if FIGURE_CALL.search(cell.source)]
    assert figure_cells, f"{lesson}: no figure-making cell found; is FIGURE_CALL out of date?"
    blank = [n for n, cell in figure_cells
             if not any("image/png" in out.get("data", {}) for out in cell.outputs)]
    assert not blank, f"{lesson}: figure cells {blank} have no image/png output"


def test_no_figure_shows_as_text(executed):
    lesson, nb = executed
    as_text = [f"cell {n}: {out['data']['text/plain']!r}" for n, cell in _code_cells(nb)
               for out in cell.outputs
               if FIGURE_TEXT.search(out.get("data", {}).get("text/plain", ""))
               and "image/png" not in out["data"]]
    as_text += [f"cell {n} printed {m[0]!r}" for n, cell in _code_cells(nb)
                for out in cell.outputs if out.output_type == "stream"
                for m in [FIGURE_TEXT.search(out.text)] if m]
    assert not as_text, f"{lesson}: figures shown as text, not images: {as_text}"
