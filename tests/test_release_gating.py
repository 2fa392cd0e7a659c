"""Lesson-by-lesson release: a bundle made for lessons 01..N gives away no answer of lesson N or later.

Later lessons' "Given" cells hold earlier lessons' reference answers (``# include:``), so only a
bundle whose earlier lessons are past their deadline may hold them. The check here reads every
file of real bundles itself (every line of every lesson file, prose included) rather than trusting
the release command's own scan, and the controls show that it finds the leaks it is there for.
"""
import shutil

import nbformat
import pytest

from autograder.gating import answer_lines, lesson_ids, select
from autograder.release import ReleaseError, _runs_of_answer_lines, write_release

LESSONS = lesson_ids()
TEXT_SUFFIXES = (".py", ".ipynb", ".md", ".txt", ".toml", ".json")


def leaked_answers(bundle, from_lesson):
    """{file: lessons whose answers it holds}, for the answers of ``from_lesson`` and later."""
    answers = {lesson: lines for lesson, lines in answer_lines().items() if lesson >= from_lesson}
    found = {}
    for path in sorted(p for p in bundle.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES):
        relative = path.relative_to(bundle).as_posix()
        if path.suffix == ".ipynb":
            text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
        else:
            text = path.read_text(errors="ignore")
        lines = {line.strip() for line in text.splitlines()}
        for lesson, secret in answers.items():
            if relative.startswith("course/"):
                hit = lines & secret
            else:
                # Helpers share single lines with answers by doing the same job (utils/models.py
                # also replaces model.fc); the release's rule: three answer lines in a row leak.
                hit = _runs_of_answer_lines(text, secret, 3)
            if hit:
                found.setdefault(relative, set()).add(lesson)
    return found


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """bundles[N]: a bundle made with --lessons for lessons 01..N (each made once, when first
    asked for, so that a lesson that cannot be released fails only the tests that need it)."""
    root = tmp_path_factory.mktemp("bundles")

    class Bundles(dict):
        def __missing__(self, n):
            target = root / f"up_to_{n:02d}"
            write_release(target, lessons=",".join(lesson[:2] for lesson in LESSONS[:n]),
                          log=lambda line: None)
            self[n] = target
            return target

    return Bundles()


def test_every_lesson_has_answers_to_look_for():
    assert all(len(answer_lines()[lesson]) >= 5 for lesson in LESSONS), answer_lines()


@pytest.mark.parametrize("n", range(1, len(LESSONS) + 1))
def test_bundle_up_to_n_holds_no_answer_of_lesson_n_or_later(bundles, n):
    bundle = bundles[n]
    assert sorted(p.name for p in (bundle / "course").iterdir() if p.is_dir()) == LESSONS[:n]
    readme = (bundle / "course" / "README.md").read_text()
    assert all((lesson in readme) == (lesson in LESSONS[:n]) for lesson in LESSONS)
    assert leaked_answers(bundle, LESSONS[n - 1]) == {}


def test_control_a_bundle_with_every_lesson_gives_earlier_answers_away(bundles):
    # Checked as if lesson 02 were still open: lessons 03, 04 and 05 hold its answers.
    found = leaked_answers(bundles[len(LESSONS)], "02_gradcam_tutorial")
    holders = {name.split("/")[1] for name, lessons in found.items()
               if "02_gradcam_tutorial" in lessons}
    assert {"03_gradcam_experiments", "04_guided_backprop", "05_guided_gradcam"} <= holders


def test_control_a_bundle_of_lesson_05_alone_leaks_and_the_command_refuses(bundles, tmp_path):
    alone = tmp_path / "only_05"
    shutil.copytree(bundles[LESSONS.index("05_guided_gradcam") + 1], alone)
    for lesson in LESSONS[:LESSONS.index("05_guided_gradcam")]:
        shutil.rmtree(alone / "course" / lesson)
    found = leaked_answers(alone, LESSONS[0])
    assert found["course/05_guided_gradcam/05_guided_gradcam.ipynb"] >= {
        "02_gradcam_tutorial", "04_guided_backprop"}
    with pytest.raises(ReleaseError, match=r"holds answers of 02_gradcam_tutorial.*--lessons"):
        write_release(tmp_path / "refused", lessons="05")


def test_lessons_are_named_by_number_or_id_and_unknown_ones_say_what_exists():
    assert select("01, 02_gradcam_tutorial") == LESSONS[:2]
    assert select(None) == LESSONS
    with pytest.raises(ValueError, match=r"--lessons: no lesson '07'.*01_finetune_resnet"):
        select("01,07")
