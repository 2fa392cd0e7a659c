"""Every lesson proven both ways with real nbgrader: complete, partial and untouched sample
submissions get exact grades (full marks, the answered exercises' points, 0). That the
instructor version passes every test of its own is tests/test_lesson_outputs.py."""
import pytest

from autograder.build import lesson_sources
from autograder.lessons import all_lessons
from autograder.samples import exercise_ids

# lesson: (total points, points of the "partial" sample = the first half of the exercises), from
# the points in the lesson source's test cells (their one home; tests/test_lesson_facts.py checks
# every table that quotes them)
EXPECTED = {lesson.id: (lesson.total, sum(list(lesson.points.values())[:len(lesson.points) // 2]))
            for lesson in all_lessons()}
LESSONS = [source.stem for source in lesson_sources()]


def test_every_lesson_has_expected_scores():
    assert sorted(EXPECTED) == LESSONS
    assert all(total > 0 and 0 < partial < total for total, partial in EXPECTED.values())


@pytest.fixture(scope="module")
def graded(graded_samples):
    """Complete, partial and untouched submissions of every lesson, graded into one gradebook
    once per session (tests/conftest.py)."""
    return graded_samples


@pytest.mark.parametrize("lesson", LESSONS)
def test_autograde_gives_full_partial_and_zero(lesson, graded):
    root, scores = graded
    total, partial = EXPECTED[lesson]
    complete = scores["complete"][lesson]
    assert complete["score"] == complete["max_score"] == total, complete
    assert all(points > 0 for points in complete["cells"].values())
    assert scores["partial"][lesson]["score"] == partial, scores["partial"][lesson]
    exercises = exercise_ids(lesson)
    answered = exercises[: len(exercises) // 2]
    cells = scores["partial"][lesson]["cells"]  # test cells are named test_<exercise>
    for exercise in exercises:
        assert (cells[f"test_{exercise}"] > 0) == (exercise in answered), (exercise, cells)
    untouched = scores["untouched"][lesson]
    assert untouched["score"] == 0 and not any(untouched["cells"].values()), untouched
    # submissions are read, never modified
    original = root / "submissions" / "complete" / lesson / f"{lesson}.ipynb"
    copied = root / "course" / "submitted" / "complete" / lesson / f"{lesson}.ipynb"
    assert original.read_text() == copied.read_text()
