"""Start a throw-away PostgreSQL server on loopback (for the shared-gradebook tests)."""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile

from system_packages import apt_install


class PostgresUnavailable(Exception):
    pass


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _install() -> None:
    why = apt_install("postgresql")
    if why:
        raise PostgresUnavailable(f"PostgreSQL is not installed and could not be: {why}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server():
    """Yield ``postgresql+psycopg2://grader@127.0.0.1:PORT/postgres``; stop and delete after."""
    try:
        import psycopg2  # noqa: F401  (the driver SQLAlchemy needs; in the dev extras)
    except ImportError:
        raise PostgresUnavailable("the psycopg2 driver is missing (pip install psycopg2-binary)")
    if not _binary("initdb"):
        _install()
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise PostgresUnavailable("initdb and pg_ctl not found after installing postgresql")
    folder = tempfile.mkdtemp(prefix="gradebook-pg-")
    # PostgreSQL refuses to run as root: as root, run it as Debian's `postgres` user
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    data, port = os.path.join(folder, "data"), _free_port()
    try:
        subprocess.run(as_user + [initdb, "-D", data, "-A", "trust", "-U", "grader"],
                       check=True, capture_output=True)
        subprocess.run(as_user + [pg_ctl, "-D", data, "-w", "-l", os.path.join(folder, "log"),
                                  "-o", f"-h 127.0.0.1 -p {port} -k {folder}", "start"],
                       check=True, capture_output=True)
    except subprocess.CalledProcessError as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresUnavailable(f"{err.cmd[len(as_user)]} failed: "
                                  f"{err.stderr.decode()[-500:]}") from None
    try:
        yield f"postgresql+psycopg2://grader@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
