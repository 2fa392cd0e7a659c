"""Lesson by lesson: which lessons a student bundle holds, and that it gives no answer away early.

Later lessons build on earlier ones: their "Given" cells hold the reference code of the earlier
functions they include (``# include:`` cells, autograder/build.py), i.e. earlier lessons' graded
answers. So a bundle is made for a list of lessons (``python -m autograder release DIR
--lessons 01,02,03``) read as: the last one is the lesson being opened, every other one is past
its deadline. Past-due answers may appear in the bundle; the answers of every other lesson (the
one being opened, and every lesson not in the bundle) must not appear in any file.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from autograder.build import lesson_sources
from autograder.markers import solution_blocks


def lesson_ids() -> list[str]:
    return [source.stem for source in lesson_sources()]


def select(lessons=None) -> list[str]:
    """The lesson ids named by ``lessons`` ("01,02", ["01", "02_gradcam_tutorial"]; None: all)."""
    known = lesson_ids()
    if lessons is None:
        return known
    names = lessons.split(",") if isinstance(lessons, str) else list(lessons)
    chosen = set()
    for name in (str(n).strip() for n in names):
        matches = [lesson for lesson in known if lesson == name or lesson.split("_")[0] == name]
        if not matches:
            raise ValueError(f"--lessons: no lesson {name!r}; name lessons by number or id, "
                             f"e.g. --lessons 01,02 (the lessons: {', '.join(known)})")
        chosen.update(matches)
    if not chosen:
        raise ValueError("--lessons: name at least one lesson, e.g. --lessons 01")
    return [lesson for lesson in known if lesson in chosen]


def past_due(selected: list[str]) -> list[str]:
    """The lessons of a bundle whose answers may be in it: all but the newest."""
    return sorted(selected)[:-1]


def answer_lines() -> dict[str, set[str]]:
    """{lesson: the lines of its graded solutions that no earlier lesson's answers contain}.

    A line belongs to the first lesson whose answers hold it: ``(x,) = ctx.saved_tensors`` is
    lesson 04's, also where lesson 05 repeats it. Lines that some lesson gives out in its own
    text or code outside a solution (``with torch.no_grad():``) are nobody's answer.
    """
    from autograder.release import _solution_lines  # the one rule of what an answer line is

    given, earlier, owned = set(), set(), {}
    for source in lesson_sources():
        text = source.read_text()
        for block in solution_blocks(text):
            text = text.replace(block, "")
        given |= {line.strip() for line in text.splitlines()}
    for source in lesson_sources():
        lines = _solution_lines(source) - given
        owned[source.stem] = lines - earlier
        earlier |= lines
    return owned


def answers(selected: list[str]) -> dict[str, set[str]]:
    """{lesson: its answer lines} for every lesson whose answers a bundle of ``selected`` hides."""
    return {lesson: lines for lesson, lines in answer_lines().items()
            if lesson not in past_due(selected)}


def copy_course(source: Path, target: Path, selected: list[str], ignore) -> None:
    """Copy course/ with only the selected lessons' folders, and a README that lists only them."""
    from autograder.lessons import all_lessons, course_readme

    def skip(folder, names):
        dropped = {n for n in names if Path(folder) == source and n[:2].isdigit()
                   and n not in selected}
        return set(ignore(folder, names)) | dropped

    shutil.copytree(source, target, ignore=skip)
    (target / "README.md").write_text(
        course_readme([lesson for lesson in all_lessons() if lesson.id in selected]))


def leaks(files: list[Path], root: Path, selected: list[str]) -> list[str]:
    """Files of the bundle under ``root`` that hold answers of a lesson not past its deadline."""
    from autograder.release import _runs_of_answer_lines, code_lines

    secret = answers(selected)
    problems = []
    for path in files:
        relative = path.relative_to(root).as_posix()
        if path.suffix not in (".py", ".ipynb", ".md", ".txt", ".toml", ".json"):
            continue
        if relative.startswith("course/"):
            found = {lesson: sorted(lines & code_lines(path)) for lesson, lines in secret.items()}
        else:
            # As in release.scan: a helper may share a single line with an answer by doing the
            # same job; a run of three answer lines is a copied answer.
            text = path.read_text(errors="ignore")
            found = {lesson: _runs_of_answer_lines(text, lines, 3)
                     for lesson, lines in secret.items()}
        problems += [f"{relative}: holds answers of {lesson}, e.g. {lines[0]!r}; "
                     f"{_remedy(lesson, selected)}" for lesson, lines in found.items() if lines]
    return problems


def _remedy(lesson: str, selected: list[str]) -> str:
    if lesson not in selected:
        return (f"a lesson in this bundle builds on {lesson}: add {lesson} to --lessons once "
                "its deadline has passed (listed before the newest, it counts as past due)")
    return f"{lesson} is the lesson being opened: no file may hold its answers"
