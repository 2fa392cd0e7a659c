"""`grade`, `export` and `feedback` given a gradebook (`--db`) that cannot be used: unreachable
servers, unknown drivers, paths that are folders or text files, another application's database.
Each is refused in one paragraph with exit code 2, and nothing the user has is changed.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from autograder.samples import make_submission
from cli_runs import LESSON, autograder, closed_port, one_paragraph_error, snapshot, write


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
