"""The gradebook schema version the course writes into a new gradebook is nbgrader's own."""
import sqlite3
import subprocess
from pathlib import Path

import nbgrader.api
import nbgrader.dbutil

from autograder.nbgrader_api import Gradebook, alembic_head


def test_the_version_read_in_process_is_what_alembic_heads_prints(tmp_path):
    with nbgrader.dbutil._temp_alembic_ini(f"sqlite:///{tmp_path / 'x.db'}") as ini:
        printed = subprocess.run(["alembic", "-c", ini, "heads"], check=True,
                                 capture_output=True, text=True).stdout
    assert printed.split()[0] == alembic_head()
    assert nbgrader.api.get_alembic_version is alembic_head  # what a new Gradebook calls


def test_a_new_gradebook_records_that_version(tmp_path):
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}"):
        pass
    with sqlite3.connect(Path(tmp_path / "gradebook.db")) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == \
            [(alembic_head(),)]
