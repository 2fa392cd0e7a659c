"""The student's and the instructor's commands: check, release, grade, feedback, export."""
import csv
import subprocess
import sys

import nbformat
import pytest

from autograder.__main__ import main
from autograder.build import COURSE_DIR, REPO_ROOT
from autograder.release import scan, write_release
from autograder.samples import make_submission

LESSON = "01_finetune_resnet"


def test_check_on_an_untouched_lesson_lists_every_exercise_as_to_do(capsys, plants):
    status = main(["check", str(COURSE_DIR / LESSON / f"{LESSON}.py")])
    out = capsys.readouterr().out
    assert status == 1
    for exercise in ("label_from_filename", "replace_head", "freeze_backbone", "train_one_epoch",
                     "evaluate", "confusion_matrix"):
        assert f"{exercise}" in out
    assert out.count("FAILED") == 6 and "not answered yet" in out
    assert "total: 0 / 12 points" in out


def test_check_on_a_complete_notebook_passes_and_leaves_it_unchanged(tmp_path, capsys, plants):
    path = tmp_path / f"{LESSON}.ipynb"
    nbformat.write(make_submission(LESSON, "all"), path)
    before = path.read_bytes()
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("passed") >= 6 and "FAILED" not in out and "total: 12 / 12" in out
    assert path.read_bytes() == before


@pytest.mark.parametrize("name, content, words", [
    ("missing.ipynb", None, "no such notebook"),
    ("broken.ipynb", "{not json", "cannot read this notebook"),
    ("notes.txt", "hello", "expected a lesson notebook"),
])
def test_check_rejects_bad_input_by_name(tmp_path, capsys, name, content, words):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and words in err


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    target = tmp_path_factory.mktemp("bundle") / "release"
    write_release(target)
    return target


def test_release_holds_what_a_student_needs_and_nothing_secret(bundle):
    for needed in ("README.md", "requirements.txt", "jupytext.toml", "utils/datasets.py",
                   "data/generate.py", "checkpoints/best_plant_classifier.pth",
                   f"course/{LESSON}/{LESSON}.ipynb", f"course/{LESSON}/{LESSON}.py"):
        assert (bundle / needed).is_file(), needed
    assert not (bundle / "solutions").exists()
    # autograder/ holds the student side only: the self-check and what it needs, no checks
    shipped = sorted(p.name for p in (bundle / "autograder").iterdir())
    assert shipped == ["__init__.py", "__main__.py", "deferred_imports.py", "execution.py", "lab.py",
                       "selfcheck.py"]
    assert not list(bundle.rglob("*.db")) and not (bundle / "data" / "plants").exists()
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert scan(files, bundle) == []
    import tomllib
    listed = [line for line in (bundle / "requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    with open(REPO_ROOT / "pyproject.toml", "rb") as stream:
        assert listed == tomllib.load(stream)["project"]["dependencies"]


def test_release_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine.txt").write_text("my notes")
    with pytest.raises(RuntimeError, match="not a bundle made by this command"):
        write_release(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "my notes"


def test_a_bundle_lesson_runs_on_its_own_copy_of_the_helpers(bundle):
    """In the bundle, the lesson's set-up finds the bundle's utils/ and data/, not the repo's;
    its visible tests then fail on the stubs with NotImplementedError, not with import errors."""
    lesson_dir = bundle / "course" / LESSON
    probe = ("import runpy, sys; from pathlib import Path\n"
             "for folder in [Path.cwd(), *Path.cwd().parents]:\n"
             "    if (folder / 'utils' / 'datasets.py').exists():\n"
             "        sys.path.insert(0, str(folder)); break\n"
             "import utils, data; print(utils.__file__); print(data.__file__)\n")
    found = subprocess.run([sys.executable, "-c", probe], cwd=lesson_dir, capture_output=True,
                           text=True, check=True).stdout.split()
    assert all(path.startswith(str(bundle)) for path in found), found
    run = subprocess.run([sys.executable, "-m", "autograder", "check", f"{LESSON}.ipynb"],
                         cwd=lesson_dir, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr[-2000:]
    assert run.stdout.count("not answered yet") == 6, run.stdout
    assert "ModuleNotFoundError" not in run.stdout and "ImportError" not in run.stdout


def test_grade_feedback_and_export_from_the_command_line(tmp_path, capsys, plants):
    submissions = tmp_path / "submissions"
    for student, answered in (("complete", "all"), ("untouched", [])):
        folder = submissions / student / LESSON
        folder.mkdir(parents=True)
        nbformat.write(make_submission(LESSON, answered), folder / f"{LESSON}.ipynb")
    workdir = tmp_path / "course"
    assert main(["grade", str(submissions), "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    assert "complete" in out and "12/12" in out and "0/12" in out
    with (workdir / "grades.csv").open() as stream:
        rows = {(r["student"], r["assignment"]): r["score"] for r in csv.DictReader(stream)}
    assert rows == {("complete", LESSON): "12", ("untouched", LESSON): "0"}
    assert main(["feedback", "--workdir", str(workdir)]) == 0
    pages = sorted((workdir / "feedback").glob("*/*/*.html"))
    assert [p.parent.parent.name for p in pages] == ["complete", "untouched"]
    for page in pages:
        html = page.read_text()
        assert "hidden_checks" not in html and "autograder.checks" not in html
        assert "BEGIN HIDDEN TESTS" not in html
    assert "NotImplementedError" in pages[1].read_text()
    assert main(["export", "--workdir", str(workdir)]) == 0
    assert (workdir / "exercises.csv").read_text().count(LESSON) == 12  # 2 students x 6 tests


def test_samples_verb_writes_every_lesson_in_nbgraders_layout_and_never_overwrites(tmp_path, capsys):
    from autograder.adversarial import CASES
    from autograder.build import lesson_sources

    target = tmp_path / "samples"
    assert main(["samples", str(target), "--adversarial"]) == 0
    lessons = [source.stem for source in lesson_sources()]
    for student in ("complete", "partial", "untouched"):
        for lesson in lessons:
            assert (target / student / lesson / f"{lesson}.ipynb").is_file()
    assert len(list(target.glob("adversarial-*"))) == len(CASES)
    assert f"wrote {3 * len(lessons) + len(CASES)} sample submissions" in capsys.readouterr().out
    before = (target / "complete" / LESSON / f"{LESSON}.ipynb").read_bytes()
    assert main(["samples", str(target)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (target / "complete" / LESSON / f"{LESSON}.ipynb").read_bytes() == before
