"""Every solution notebook passes all its tests, and every figure of it shows as an image.

Each solution notebook (the instructor version, hidden tests included) is executed once (fast
mode, as nbgrader's validate runs it, from its course folder as a student's would be) and the
assertions share it; the untouched student versions are proven to score 0 by the real grader in
tests/test_lessons.py. A figure that the inline backend never saw shows as the text
``<Figure size 1000x1000 with 16 Axes>``; no error is raised, so only the outputs tell.
The executed notebooks are kept under pytest's temporary folder, to look at after a failure.
"""
import re

import nbformat
import pytest

from autograder.build import COURSE_DIR, lesson_sources, read_source

LESSONS = [source.stem for source in lesson_sources()]
# A cell that draws: pyplot, or one of the figure helpers in utils/.
FIGURE_CALL = re.compile(r"plt\.show\(\)|\b(compare_grid|plot_training_curves|"
                         r"plot_confusion_matrix|display_imagenet_output)\(")
FIGURE_TEXT = re.compile(r"<\w*Figure size \d+x\d+ with \d+ Axes>")
CELL_TIMEOUT_S = 600  # a fast-mode cell needs seconds; this only stops a hung kernel


@pytest.fixture(scope="module", params=LESSONS)
def executed(request, tmp_path_factory, plants):
    """(lesson id, the solution notebook executed in fast mode)."""
    from nbclient import NotebookClient

    lesson = request.param
    nb = read_source(lesson_sources()[LESSONS.index(lesson)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_FAST", "1")
        patch.setenv("NBGRADER_EXECUTION", "validate")
        NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(COURSE_DIR / lesson)}}).execute()
    nbformat.write(nb, tmp_path_factory.mktemp("executed") / f"{lesson}.ipynb")
    return lesson, nb


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
