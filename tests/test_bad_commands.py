"""`grade`, `export` and `feedback` on bad and unusual input, run the way a user runs them.

Each case runs `python -m autograder ...` as a subprocess and checks the exit code, the message
the user sees (one paragraph, no traceback) and that the submissions folder is byte-for-byte as
it was. Grading is real and costs seconds per notebook, so every student-mistake case is one
student of a single batch, which grades only two notebooks.
"""
from __future__ import annotations

import csv
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.build import lesson_sources
from autograder.samples import make_submission

LESSON, OTHER = "01_finetune_resnet", "02_gradcam_tutorial"
LESSONS = [source.stem for source in lesson_sources()]
ROOT = Path(__file__).resolve().parent.parent


def autograder(*args, cwd=ROOT, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def snapshot(folder: Path) -> dict:
    """Every file and folder under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(Path(folder).rglob("*"))}


def one_paragraph_error(run: subprocess.CompletedProcess) -> str:
    """The message of a refused command: exit code 2, one line on stderr, no traceback."""
    assert run.returncode == 2, (run.returncode, run.stdout[-2000:], run.stderr[-3000:])
    assert "Traceback" not in run.stderr + run.stdout, run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def write(path: Path, nb) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------- a folder nobody can be graded in

def _layout(root: Path, shape: str) -> Path:
    """A submissions folder of the given bad ``shape``; returns the path given to `grade`."""
    complete = make_submission(LESSON, "all")
    if shape == "empty":
        root.mkdir()
    elif shape == "only hidden files":
        (root / ".ipynb_checkpoints").mkdir(parents=True)
        (root / ".DS_Store").write_bytes(b"\0\1")
        write(root / "__MACOSX" / "ada" / LESSON / f"._{LESSON}.ipynb", complete)
    elif shape == "notebook at the top":
        write(root / f"{LESSON}.ipynb", complete)
    elif shape == "one student's folder":
        write(root / "ada" / LESSON / f"{LESSON}.ipynb", complete)
        return root / "ada"
    elif shape == "one lesson folder":
        write(root / "ada" / LESSON / f"{LESSON}.ipynb", complete)
        return root / "ada" / LESSON
    elif shape == "notebooks in the student folders":
        write(root / "ada" / f"{LESSON}.ipynb", complete)
        write(root / "bo" / "homework.ipynb", complete)
    elif shape == "a notebook file":
        return write(root / "ada" / LESSON / f"{LESSON}.ipynb", complete)
    elif shape == "missing":
        root.mkdir()
        return root / "submisions"
    return root


@pytest.mark.parametrize("shape, words", [
    ("empty", ["nothing to grade in", "expected DIR/<student>/<lesson>/<lesson>.ipynb",
               "found nothing (the folder is empty)"]),
    ("only hidden files", ["nothing to grade in", "found only hidden files", ".DS_Store"]),
    ("notebook at the top", ["nothing to grade in", f"found {LESSON}.ipynb",
                             f"/ada/{LESSON}/{LESSON}.ipynb"]),
    ("one student's folder", ["looks like one student's folder", f"({LESSON}/)",
                              "if ada is a student, that is"]),
    ("one lesson folder", ["nothing to grade in", f"found {LESSON}.ipynb"]),
    ("notebooks in the student folders", ["nothing to grade in",
                                          f"found ada/{LESSON}.ipynb, bo/homework.ipynb"]),
    ("a notebook file", ["is a file", "the folder that holds every student's folder"]),
    ("missing", ["no such submissions folder", "submisions"]),
])
def test_grade_refuses_a_folder_that_is_not_a_class(tmp_path, shape, words):
    target = _layout(tmp_path / "submissions", shape)
    before = snapshot(tmp_path)
    run = autograder("grade", target, "--workdir", tmp_path / "work", timeout=300)
    message = one_paragraph_error(run)
    assert str(target) in message
    for word in words:
        assert word in message, message
    assert "Every submission was graded" not in run.stdout + run.stderr
    assert snapshot(tmp_path) == before  # nothing written anywhere, the working folder included


# ---------------------------------------------------------------- one batch of student mistakes

@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """One real grading of a class where most students made a layout mistake."""
    root = tmp_path_factory.mktemp("class")
    submissions = root / "submissions"
    complete = make_submission(LESSON, "all")
    write(submissions / "good" / LESSON / f"{LESSON}.ipynb", complete)
    write(submissions / "good" / ".ipynb_checkpoints" / f"{LESSON}-checkpoint.ipynb", complete)
    write(submissions / "typo" / "Lesson01" / f"{LESSON}.ipynb", complete)
    write(submissions / "caps" / "01_FineTune_ResNet" / "notebook.ipynb", complete)
    write(submissions / "swapped" / LESSON / f"{LESSON}.ipynb", make_submission(OTHER, "all"))
    write(submissions / "loose" / f"{LESSON}.ipynb", complete)
    write(submissions / "stranger" / LESSON / f"{LESSON}.ipynb", nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("1", metadata={"nbgrader": {
            "grade_id": "q1", "grade": True, "solution": False, "points": 1}})]))
    pasted = make_submission(LESSON, [])
    pasted.cells += [c for c in make_submission(OTHER, "all").cells
                     if c.metadata.get("nbgrader", {}).get("grade_id")][:2]
    write(submissions / "pasted" / LESSON / f"{LESSON}.ipynb", pasted)
    (submissions / ".ipynb_checkpoints").mkdir()
    (submissions / "README.txt").write_text("collected from the LMS\n")
    before = snapshot(submissions)
    run = autograder("grade", submissions, "--workdir", root / "work")
    with (root / "work" / "grades.csv").open() as stream:
        rows = {(r["student"], r["assignment"]): r for r in csv.DictReader(stream)}
    return {"root": root, "submissions": submissions, "before": before, "run": run,
            "rows": rows, "report": (root / "work" / "grading-report.txt").read_text()}


def test_one_students_mistake_never_stops_the_batch(graded_class):
    run, rows = graded_class["run"], graded_class["rows"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert "could not register" not in run.stdout + run.stderr
    assert rows["good", LESSON]["score"] == "12" and rows["pasted", LESSON]["score"] == "0"
    assert {student for student, _ in rows} == {"good", "typo", "caps", "swapped", "loose",
                                                "stranger", "pasted"}  # no ".ipynb_checkpoints"
    assert snapshot(graded_class["submissions"]) == graded_class["before"]


@pytest.mark.parametrize("student, folder, words", [
    ("typo", "Lesson01", [f"Lesson01 is not a lesson of this course; the lessons are "
                          f"{', '.join(LESSONS)}", f"rename the folder to typo/{LESSON}/"]),
    ("caps", "01_FineTune_ResNet", ["01_FineTune_ResNet is not a lesson of this course",
                                    f"rename the folder to caps/{LESSON}/"]),
    ("swapped", LESSON, [f"this notebook's exercises belong to {OTHER}",
                         f"hand it in as swapped/{OTHER}/{OTHER}.ipynb"]),
    ("loose", LESSON, [f"{LESSON}.ipynb is directly in loose/, not in a lesson folder",
                       f"loose/{LESSON}/{LESSON}.ipynb"]),
    ("stranger", LESSON, [f"none of this notebook's graded cells belong to {LESSON}", "q1"]),
])
def test_each_mistake_is_named_with_its_reason_in_the_report_and_the_csv(graded_class, student,
                                                                         folder, words):
    row = graded_class["rows"][student, folder]
    assert row["score"] == "0"
    section = graded_class["report"].split(f"{student}/{folder}\n", 1)[1].split("\n")[0]
    for word in words:
        assert word in row["note"], row["note"]
        assert word in section, section
        assert word in graded_class["run"].stdout
    assert "KeyError" not in row["note"]


def test_cells_pasted_from_another_lesson_run_as_plain_code(graded_class):
    section = graded_class["report"].split(f"pasted/{LESSON}\n", 1)[1]
    assert "'capture_activations', which is not in 01_finetune_resnet" in section
    assert "KeyError" not in graded_class["report"]
    assert "Every submission was graded" not in graded_class["report"]
    assert "README.txt" in graded_class["report"].split("Not in any lesson folder")[1]


def test_feedback_and_export_after_the_batch(graded_class):
    root, work = graded_class["root"], graded_class["root"] / "work"
    run = autograder("feedback", "--workdir", work, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "wrote 2 feedback files" in run.stdout  # good and pasted: the only graded ones
    run = autograder("export", "--workdir", work, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Lesson01 is not a lesson" in (work / "grades.csv").read_text()
    # the gradebook of this folder, but feedback asked for in a new folder: nothing graded there
    fresh = root / "elsewhere"
    run = autograder("feedback", "--workdir", fresh, "--db", f"sqlite:///{work / 'gradebook.db'}",
                     timeout=300)
    message = one_paragraph_error(run)
    assert "none of them was graded in" in message and "--workdir they were graded in" in message
    assert snapshot(graded_class["submissions"]) == graded_class["before"]


# ---------------------------------------------------------------- gradebooks that cannot be used

@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    submissions = tmp_path_factory.mktemp("small") / "submissions"
    write(submissions / "ada" / LESSON / f"{LESSON}.ipynb", make_submission(LESSON, "all"))
    return submissions


def _bad_gradebooks(tmp: Path) -> dict:
    """{case: (--db URL, words the message must hold)}; the files they name are in ``tmp``."""
    text = tmp / "notes.txt"
    text.write_text("my notes, not a database\n")
    return {
        "unreachable": (f"postgresql+psycopg2://grader@127.0.0.1:{closed_port()}/gradebook",
                        ["cannot connect to postgresql+psycopg2://grader@127.0.0.1:",
                         "Connection refused", "Is the server running"]),
        "postgres://": ("postgres://grader@127.0.0.1:5432/gradebook",
                        ["postgres:// is not a driver SQLAlchemy knows",
                         "write postgresql+psycopg2://grader@127.0.0.1:5432/gradebook"]),
        "postgresql://": ("postgresql://grader:secret@127.0.0.1:5432/gradebook",
                          ["postgresql:// is not installed",
                           "write postgresql+psycopg2://grader:***@"]),
        "mysql://": ("mysql://grader@127.0.0.1/gradebook",
                     ["driver for mysql:// is not installed", "MySQLdb"]),
        "not a URL": ("gradebook.db", ["is not a database URL", "sqlite:///PATH/gradebook.db"]),
        "no such folder": (f"sqlite:///{tmp / 'no-such-folder' / 'gradebook.db'}",
                           ["the folder", "no-such-folder does not exist"]),
        "a folder": (f"sqlite:///{tmp}", ["is a folder; the gradebook is a file in it"]),
        "a text file": (f"sqlite:///{text}", ["file is not a database",
                                              "choose another --db path"]),
    }


@pytest.mark.parametrize("verb, cases", [
    ("grade", ["unreachable", "postgres://", "postgresql://", "mysql://", "not a URL",
               "no such folder", "a folder", "a text file"]),
    ("export", ["unreachable", "postgres://", "not a URL", "a text file"]),
    ("feedback", ["unreachable", "postgres://", "a folder", "a text file"]),
])
def test_a_gradebook_that_cannot_be_used_is_one_paragraph(tmp_path, small_class, verb, cases):
    bad = _bad_gradebooks(tmp_path)
    before, user_files = snapshot(small_class), snapshot(tmp_path)
    for case in cases:
        db_url, words = bad[case]
        args = [verb] + ([small_class] if verb == "grade" else [])
        run = autograder(*args, "--workdir", tmp_path / "work", "--db", db_url, timeout=300)
        message = one_paragraph_error(run)
        assert "secret" not in message and "nbgrader db upgrade" not in message
        for word in words:
            assert word in message, (case, message)
    assert snapshot(small_class) == before
    after = snapshot(tmp_path)  # the user's files beside it too (grade may make its workdir)
    assert {k: v for k, v in after.items() if not k.startswith("work")} == user_files


@pytest.mark.parametrize("verb", ["export", "feedback"])
def test_export_and_feedback_before_grading_say_so_and_write_nothing(tmp_path, verb):
    run = autograder(verb, "--workdir", tmp_path / "new", timeout=300)
    message = one_paragraph_error(run)
    assert f"no gradebook at {tmp_path / 'new' / 'gradebook.db'}" in message
    assert "Grade first" in message
    assert not (tmp_path / "new").exists()  # no empty CSV, no empty gradebook


def _database(postgres_url: str, name: str, sql: str = "") -> str:
    """A new database ``name`` on the test server (with ``sql`` run in it); its URL."""
    import psycopg2

    server = postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    connection = psycopg2.connect(server)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    connection.close()
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    if sql:
        connection = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
        with connection, connection.cursor() as cursor:
            cursor.execute(sql)
        connection.close()
    return url


def test_postgresql_gradebooks_that_cannot_be_used(tmp_path, small_class, postgres_url):
    empty = _database(postgres_url, "bad_commands_empty")
    other = _database(postgres_url, "bad_commands_other",
                      "CREATE TABLE invoices (id int); INSERT INTO invoices VALUES (7)")
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    before = snapshot(small_class)
    for args, words in [
        (["export", "--db", empty], ["holds no grades yet", "grade into it first"]),
        (["feedback", "--db", empty], ["holds no grades yet"]),
        (["grade", small_class, "--db", other], ["already holds tables of something else",
                                                 "invoices", "nothing of the other"]),
        (["grade", small_class, "--db", missing], ['database "no_such_database" does not exist',
                                                   "createdb"]),
    ]:
        message = one_paragraph_error(autograder(*args, "--workdir", tmp_path / "work",
                                                 timeout=300))
        for word in words:
            assert word in message, message
    import sqlalchemy

    engine = sqlalchemy.create_engine(other)
    with engine.connect() as connection:  # the other application's data is as it was
        assert sqlalchemy.inspect(connection).get_table_names() == ["invoices"]
        assert connection.execute(sqlalchemy.text("SELECT id FROM invoices")).all() == [(7,)]
    engine.dispose()
    assert snapshot(small_class) == before
