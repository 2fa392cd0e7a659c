"""`make lab` starts a JupyterLab that serves the course with Jupytext pairing.

The server is started the way the Makefile's `lab` target starts it (same Python, same
`jupyter lab --config=jupyter_config.py ...` command line, run from the repository root); the
test only adds a free port and a known token. It then talks to the server's REST API:
the course folder is the root, .py scripts open as notebooks, saving a notebook writes its
paired py:percent script, .py files open with Jupytext's notebook editor by default, and
kernels start.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
COURSE_DIR = REPO_ROOT / "course"
TMP_NAME = "_lab_test_tmp"  # scratch folder under course/, removed after the tests
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
# The Makefile runs the server with .venv/bin/python; fall back to the running interpreter
# where there is no such virtual environment (e.g. CI that installs into its own environment).
SERVER_PYTHON = VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10
JUPYTEXT_FACTORY = "Jupytext Notebook"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer:
    """A running `jupyter lab` and a minimal client for its REST API."""

    def __init__(self, process: subprocess.Popen, port: int, token: str, log_path: Path):
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"
        self.token = token
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 30):
        """Send a request; return (HTTP status, decoded JSON body or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        return status, (json.loads(raw) if raw.strip() else None)

    def stop(self) -> None:
        """SIGTERM the server's process group, then SIGKILL it if it does not exit in time."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=STOP_TIMEOUT_S)


def _wait_until_ready(server: LabServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"jupyter lab exited with status {server.process.returncode} before answering.\n"
                f"--- server log ---\n{server.log()}"
            )
        try:
            status, _ = server.request("GET", "/api/status", timeout=2)
            if status == 200:
                return
            last_error = f"HTTP {status}"
        except (OSError, urllib.error.URLError) as err:  # not listening yet
            last_error = repr(err)
        time.sleep(0.25)
    pytest.fail(
        f"jupyter lab did not answer within {START_TIMEOUT_S} s (last error: {last_error}).\n"
        f"--- server log ---\n{server.log()}"
    )


@pytest.fixture(scope="module")
def scratch_dir():
    """course/_lab_test_tmp/, created empty and removed afterwards, even if a test fails."""
    path = COURSE_DIR / TMP_NAME
    shutil.rmtree(path, ignore_errors=True)  # left over from an interrupted run
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, scratch_dir) -> LabServer:
    port = _free_port()
    token = secrets.token_hex(16)
    work = tmp_path_factory.mktemp("lab")
    log_path = work / "server.log"
    command = [
        str(SERVER_PYTHON), "-m", "jupyter", "lab",
        # as in the Makefile's `lab` target:
        "--config=jupyter_config.py", "--allow-root", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        # test only: fail rather than silently move to another port; a token the test knows
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
    ]
    env = dict(os.environ)
    # Keep what the server writes at run time (cookie secret, connection files, workspaces,
    # saved settings) out of the user's home folder. Configuration is read as usual.
    env["JUPYTER_RUNTIME_DIR"] = str(work / "runtime")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(work / "workspaces")
    env["JUPYTERLAB_SETTINGS_DIR"] = str(work / "user-settings")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,  # `make lab` runs from the repository root
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, so teardown can stop kernels too
        )
    server = LabServer(process, port, token, log_path)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        server.stop()


def test_root_is_the_course_folder(lab, scratch_dir):
    status, model = lab.request("GET", "/api/contents")
    assert status == 200, model
    assert model["type"] == "directory" and model["path"] == ""
    names = {entry["name"] for entry in model["content"]}
    assert TMP_NAME in names, names  # the scratch folder this test made under course/
    assert names <= set(os.listdir(COURSE_DIR)), names
    # Not the repository root: students only see the lessons.
    assert not names & {"jupyter_config.py", "Makefile", "solutions", "autograder"}, names


def test_py_percent_script_opens_as_notebook(lab, scratch_dir):
    (scratch_dir / "lesson.py").write_text(
        "# %% [markdown]\n"
        "# # A lesson\n"
        "\n"
        "# %%\n"
        "x = 1 + 1\n",
        encoding="utf-8",
    )
    status, model = lab.request("GET", f"/api/contents/{TMP_NAME}/lesson.py?type=notebook")
    assert status == 200, model
    assert model["type"] == "notebook", model
    cells = model["content"]["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "code"], cells
    assert cells[0]["source"] == "# A lesson"
    assert cells[1]["source"] == "x = 1 + 1"


def test_saving_a_notebook_writes_its_py_percent_pair(lab, scratch_dir):
    grade_meta = {
        "grade": True, "grade_id": "q1", "locked": False, "points": 1,
        "schema_version": 3, "solution": True, "task": False,
    }
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Paired"},
            {
                "cell_type": "code", "id": "answer", "execution_count": None, "outputs": [],
                "metadata": {"nbgrader": grade_meta, "tags": ["exercise"], "collapsed": True},
                "source": "answer = 42",
            },
        ],
    }
    body = {"type": "notebook", "format": "json", "content": notebook}
    status, model = lab.request("PUT", f"/api/contents/{TMP_NAME}/paired.ipynb", body)
    assert status in (200, 201), model

    assert (scratch_dir / "paired.ipynb").is_file()
    paired = scratch_dir / "paired.py"
    assert paired.is_file(), sorted(os.listdir(scratch_dir))
    script = paired.read_text(encoding="utf-8")
    # The settings come from the repository's jupytext.toml: py:percent format, ...
    assert "format_name: percent" in script and "# %%" in script, script
    assert "answer = 42" in script, script
    # ... nbgrader's cell metadata and tags are kept, other cell metadata are filtered out.
    assert "nbgrader=" in script and '"grade_id": "q1"' in script, script
    assert 'tags=["exercise"]' in script, script
    assert "collapsed" not in script, script
    # ... and so is the kernelspec, while other notebook metadata stay in the .ipynb only.
    assert "kernelspec:" in script and "language_info" not in script, script


def test_python_files_open_with_jupytext_by_default(lab):
    status, model = lab.request("GET", "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    assert status == 200, model
    # Overrides from <app dir>/settings/overrides.json become the schema's defaults.
    viewers = model["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers.get("python") == JUPYTEXT_FACTORY, (
        f"{viewers!r}: run `{SERVER_PYTHON} -m utils.lab_settings` (part of `make setup`)"
    )
    assert viewers.get("notebook", "Notebook") == "Notebook", viewers


def test_jupytext_factory_name_matches_installed_extension():
    """The name in the overrides must be the one the installed Jupytext extension registers."""
    prefix = subprocess.run(
        [str(SERVER_PYTHON), "-c", "import sys; print(sys.prefix)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    static = Path(prefix, "share", "jupyter", "labextensions", "jupyterlab-jupytext", "static")
    bundles = list(static.glob("*.js"))
    assert bundles, f"Jupytext's JupyterLab extension is not installed under {static}"
    needle = json.dumps(JUPYTEXT_FACTORY)
    assert any(needle in js.read_text(encoding="utf-8", errors="replace") for js in bundles), (
        f"no {needle} in {static}: Jupytext renamed its notebook factory; update utils/lab_settings.py"
    )


def test_kernel_starts(lab):
    status, kernel = lab.request("POST", "/api/kernels", {})
    assert status == 201, kernel
    try:
        assert kernel["id"]
    finally:
        status, body = lab.request("DELETE", f"/api/kernels/{kernel['id']}")
        assert status == 204, body


def test_validate_button_runs_a_lessons_tests(lab, plants):
    """nbgrader's Validate button posts to /assignments/validate: on an untouched lesson it must
    answer with the failing test cells (NotImplementedError), not with a server error."""
    status, result = lab.request("POST", "/assignments/validate",
                                 {"path": "01_finetune_resnet/01_finetune_resnet.ipynb"},
                                 timeout=300)
    assert status == 200 and result["success"], result
    failed = result["value"].get("failed", [])
    assert len(failed) == 6 and all("NotImplementedError" in cell["raw_error"] for cell in failed)
