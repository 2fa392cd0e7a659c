"""A real `jupyter lab`, started as the Makefile starts it, for tests/test_lab*.py.

Same Python, same command line (`--config=...`, run from the Makefile's folder); the test only
adds a free loopback port and a token it knows, and keeps what the server writes at run time
(cookie secret, connection files, workspaces, saved settings) out of the home folder.
Configuration is read as usual. Stopped by its process group id, kernels included.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from autograder.release import LAB_TEST_SCRATCH

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
# The Makefile runs the server with .venv/bin/python; fall back to the running interpreter
# where there is no such virtual environment (e.g. CI that installs into its own environment).
SERVER_PYTHON = VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 10
# Server log lines a student must never see: errors, critical lines, tracebacks, and the two
# warnings the course's configuration exists to prevent.
BAD_LOG_LINE = re.compile(r"^\[(E|C) |Traceback|No nbgrader_config\.py|websocket_ping_timeout",
                          re.MULTILINE)


@contextmanager
def course_scratch(owner: str):
    """course/_lab_test_tmp/<owner>/ (the lab serves course/), made empty and removed afterwards,
    even if a test fails. Each test module names its own folder: `make test` runs modules side
    by side, and one must never remove the lessons another has open."""
    path = REPO_ROOT / "course" / LAB_TEST_SCRATCH / owner
    shutil.rmtree(path, ignore_errors=True)  # left over from an interrupted run
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        with suppress(OSError):  # the shared parent goes once no module uses it
            path.parent.rmdir()


def lab_path(path: Path) -> str:
    """``path`` as the lab names it: relative to course/, with forward slashes."""
    return path.relative_to(REPO_ROOT / "course").as_posix()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabServer:
    """A running `jupyter lab` and a minimal client for its REST API."""

    def __init__(self, process: subprocess.Popen, port: int, token: str, log_path: Path):
        self.process = process
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.token = token
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def bad_log_lines(self) -> list[str]:
        return [line for line in self.log().splitlines() if BAD_LOG_LINE.search(line)]

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 30,
                raw: bool = False):
        """Send a request; return (HTTP status, decoded JSON body or None; text if raw)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, content = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, content = err.code, err.read()
        if raw:
            return status, content.decode(errors="replace")
        try:
            return status, (json.loads(content) if content.strip() else None)
        except ValueError:
            return status, content.decode(errors="replace")

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
            pytest.fail(f"jupyter lab exited with status {server.process.returncode} before "
                        f"answering.\n--- server log ---\n{server.log()}")
        try:
            status, _ = server.request("GET", "/api/status", timeout=2)
            if status == 200:
                return
            last_error = f"HTTP {status}"
        except (OSError, urllib.error.URLError) as err:  # not listening yet
            last_error = repr(err)
        time.sleep(0.25)
    pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT_S} s (last error: "
                f"{last_error}).\n--- server log ---\n{server.log()}")


@contextmanager
def running_lab(work: Path, config: str = "jupyter_config.py", cwd: Path = REPO_ROOT,
                env_extra: dict | None = None, python: Path = SERVER_PYTHON):
    """`make lab` (or, with cwd=autograder/ and its config, `make lab-instructor`; or, with a
    bundle's folder and a student's python, the lab of a student bundle)."""
    port, token = free_port(), secrets.token_hex(16)
    log_path = work / "server.log"
    command = [str(python), "-m", "jupyter", "lab",
               # as in the Makefile's `lab` and `lab-instructor` targets:
               f"--config={config}", "--allow-root", "--no-browser",
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               # test only: fail rather than silently move to another port; a known token
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(work / "runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(work / "workspaces"),
               JUPYTERLAB_SETTINGS_DIR=str(work / "user-settings"), **(env_extra or {}))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # own group: teardown stops kernels
    server = LabServer(process, port, token, log_path)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        server.stop()
