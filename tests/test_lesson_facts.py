"""Every table that quotes a lesson's points agrees with the one home of the points: the graded
test cells' nbgrader metadata in the lesson source (read by autograder.lessons)."""
import re

import pytest

from autograder.build import COURSE_DIR, REPO_ROOT, lesson_sources
from autograder.lessons import all_lessons, course_readme, intro_table, read_lesson

SOURCES = lesson_sources()


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_the_lessons_intro_table_quotes_its_test_cells(source):
    lesson = read_lesson(source)
    total, rows = intro_table(source)
    assert total == lesson.total, (
        f"{source.name}: the intro says '**Exercises** ({total} points)', the test cells give "
        f"{lesson.total}")
    assert rows == lesson.points, (
        f"{source.name}: the intro table {rows} differs from the test cells {lesson.points}")


def test_the_readme_lesson_table_quotes_the_lessons():
    readme = (REPO_ROOT / "README.md").read_text()
    for lesson in all_lessons():
        row = re.search(rf"^\| `{lesson.id}` \|.*\| (\d+) \((\d+) points\) \|$", readme,
                        flags=re.MULTILINE)
        assert row, f"README.md's lesson table has no row for {lesson.id}"
        assert (int(row[1]), int(row[2])) == (len(lesson.points), lesson.total), (
            f"README.md says {lesson.id} has {row[1]} exercises ({row[2]} points); its test cells "
            f"give {len(lesson.points)} ({lesson.total} points)")


def test_the_course_readme_lists_every_lesson_with_its_points():
    text = (COURSE_DIR / "README.md").read_text()
    assert text == course_readme(all_lessons())
    for lesson in all_lessons():
        assert f"`{lesson.id}/{lesson.id}.ipynb` | {lesson.title} | {len(lesson.points)} " \
               f"({lesson.total} points)" in text
