"""The gradebook's address: its default, and one check before nbgrader touches it.

nbgrader reports a database it cannot use with a long traceback (an unreachable server ends in
advice to run `nbgrader db upgrade`; an unknown URL scheme in "see the above traceback" with
nothing above). `check` connects first and turns each of those into one paragraph that says
what is wrong and what to do.
"""
from __future__ import annotations

from pathlib import Path

GRADEBOOK = "gradebook.db"
EXAMPLES = ("sqlite:///PATH/gradebook.db, or for PostgreSQL "
            "postgresql+psycopg2://USER@HOST:5432/DATABASE")
# a table every nbgrader gradebook has: where it is missing, nothing was ever graded into it
GRADEBOOK_TABLE = "submitted_assignment"
# any of them means an nbgrader gradebook (perhaps being created by another grader right now)
NBGRADER_TABLES = {GRADEBOOK_TABLE, "assignment", "student", "base_cell", "grade_cells"}


class DatabaseError(RuntimeError):
    """The gradebook cannot be used; the message says why and what to do."""


def default_db_url(workdir: Path) -> str:
    """The gradebook used when no --db is given: sqlite in the grading folder."""
    return f"sqlite:///{Path(workdir).resolve() / GRADEBOOK}"


def shown(db_url: str) -> str:
    """The URL as it may be printed (any password hidden)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except ArgumentError:
        return db_url


def check(db_url: str, graded: bool) -> None:
    """Raise `DatabaseError` unless ``db_url`` is a gradebook nbgrader can use.

    ``graded``: it must already hold grades (export, feedback); otherwise it may be new or
    empty (grade), but not another application's database.
    """
    engine = _engine(db_url)
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        _check_sqlite_file(Path(url.database), db_url, graded)
    from sqlalchemy import inspect
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
    except DBAPIError as err:
        raise DatabaseError(_connection_advice(db_url, err)) from None
    finally:
        engine.dispose()
    if graded and GRADEBOOK_TABLE not in tables:
        raise DatabaseError(f"{shown(db_url)} holds no grades yet (no nbgrader gradebook in it): "
                            "grade into it first (python -m autograder grade SUBMISSIONS "
                            "--db URL), or give the --db you graded with.")
    if tables and not tables & NBGRADER_TABLES:
        raise DatabaseError(f"{shown(db_url)} already holds tables of something else "
                            f"({', '.join(sorted(tables)[:5])}) and no nbgrader gradebook: "
                            "grade into a new, empty database (createdb NAME) or an existing "
                            "gradebook, so that nothing of the other application is changed.")


def _engine(db_url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(db_url)
    except ArgumentError:
        raise DatabaseError(f"--db {db_url!r} is not a database URL: write one like "
                            f"{EXAMPLES}.") from None
    scheme = url.drivername
    # SQLAlchemy has no `postgres` dialect, and a bare `postgresql://` wants psycopg 3; the
    # driver the project installs (dev extras) is psycopg2
    psycopg2_hint = (f"write postgresql+psycopg2://{_rest(url)} (the psycopg2 driver, "
                     "installed with the project's dev extras)")
    if scheme == "postgres":
        raise DatabaseError(f"postgres:// is not a driver SQLAlchemy knows: {psycopg2_hint}.")
    # a server that does not answer must not keep the user waiting minutes for the message
    options = {"connect_args": {"connect_timeout": 10}} if "psycopg2" in scheme else {}
    try:
        return create_engine(url, **options)
    except NoSuchModuleError:
        raise DatabaseError(f"{scheme}:// is not a database SQLAlchemy knows: write a URL like "
                            f"{EXAMPLES}.") from None
    except ImportError as err:
        hint = psycopg2_hint if url.get_backend_name() == "postgresql" else \
            f"install it, or use one of {EXAMPLES}"
        raise DatabaseError(f"the Python driver for {scheme}:// is not installed ({err}): "
                            f"{hint}.") from None


def _rest(url) -> str:
    """``user@host:port/db`` of a URL, password hidden."""
    return url.render_as_string(hide_password=True).split("://", 1)[1]


def _check_sqlite_file(path: Path, db_url: str, graded: bool) -> None:
    if path.is_dir():
        raise DatabaseError(f"{shown(db_url)}: {path} is a folder; the gradebook is a file "
                            f"in it, e.g. sqlite:///{path / GRADEBOOK}.")
    if graded and not path.is_file():
        raise DatabaseError(f"no gradebook at {path}: nothing has been graded with this "
                            "--workdir/--db yet. Grade first (python -m autograder grade "
                            "SUBMISSIONS, with the same --workdir and --db), or give the "
                            "--workdir or --db you graded with.")
    if not path.parent.is_dir():
        raise DatabaseError(f"{shown(db_url)}: the folder {path.parent} does not exist. Check "
                            "the --db path, or create the folder (grade makes the gradebook "
                            "in it).")


def _connection_advice(db_url: str, err) -> str:
    """One paragraph: the driver's own reason, then what to check."""
    lines = [line.strip() for line in str(getattr(err, "orig", err)).splitlines() if line.strip()]
    reason = lines[0] if lines else type(err).__name__  # the driver's own words; advice is ours
    lowered = reason.lower()
    if "does not exist" in lowered and "database" in lowered:
        advice = "Create the database on the server (createdb NAME) or fix its name in --db."
    elif "password" in lowered or "authentication" in lowered or "role" in lowered:
        advice = "Check the user name and password in --db, and that the server lets this user in."
    elif "not a database" in lowered:
        advice = "That file is not a gradebook: choose another --db path."
    else:
        advice = ("Is the server running, and reachable from this machine at that host and "
                  "port? Check the host, port and database in --db.")
    return f"cannot connect to {shown(db_url)}: {reason.rstrip('.')}. {advice}"
