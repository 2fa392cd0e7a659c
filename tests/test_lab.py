"""`make lab` starts a JupyterLab that serves the course with Jupytext pairing.

The server is started the way the Makefile's `lab` target starts it (same Python, same
`jupyter lab --config=jupyter_config.py ...` command line, run from the repository root); the
test only adds a free port and a known token (tests/lab_server.py). It then talks to the
server's REST API: the course folder is the root, .py scripts open as notebooks, saving a
notebook writes its paired py:percent script exactly as the build writes it, .py files open with
Jupytext's notebook editor by default, kernels start, Validate gives the same answer from a
lesson's .py and its .ipynb, the instructor's tools are not there, and the log stays clean.
`make lab-instructor` is started too, and serves the formgrader.
"""

from __future__ import annotations

import asyncio
import filecmp
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from lab_server import REPO_ROOT, SERVER_PYTHON, course_scratch, lab_path, running_lab

COURSE_DIR = REPO_ROOT / "course"
JUPYTEXT_FACTORY = "Jupytext Notebook"
LESSON = "01_finetune_resnet"


@pytest.fixture(scope="module")
def scratch_dir():
    """course/_lab_test_tmp/lab/: this module's scratch folder in what the lab serves."""
    with course_scratch("lab") as path:
        yield path


@pytest.fixture(scope="module")
def lab(tmp_path_factory, scratch_dir):
    with running_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


def test_root_is_the_course_folder(lab, scratch_dir):
    status, model = lab.request("GET", "/api/contents")
    assert status == 200, model
    assert model["type"] == "directory" and model["path"] == ""
    names = {entry["name"] for entry in model["content"]}
    assert lab_path(scratch_dir).split("/")[0] in names, names  # made under course/ by a test
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
    lesson = lab_path(scratch_dir / "lesson.py")
    status, model = lab.request("GET", f"/api/contents/{lesson}?type=notebook")
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
    status, model = lab.request("PUT", f"/api/contents/{lab_path(scratch_dir)}/paired.ipynb", body)
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


def test_no_news_pop_up_or_update_check(lab):
    status, model = lab.request("GET", "/lab/api/settings/@jupyterlab/apputils-extension:notification")
    assert status == 200, model
    defaults = {key: value.get("default") for key, value in model["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, (
        f"{defaults!r}: run `{SERVER_PYTHON} -m utils.lab_settings` (part of `make setup`)")


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


async def _kernel_info(lab, kernel_id: str) -> dict:
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels?token={lab.token}"
    socket = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    socket.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "kernel_info_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell"}))
    try:
        while True:
            reply = json.loads(await asyncio.wait_for(socket.read_message(), 60))
            if reply.get("parent_header", {}).get("msg_id") == msg_id \
                    and reply["msg_type"] == "kernel_info_reply":
                return reply["content"]
    finally:
        socket.close()


def test_kernel_starts(lab):
    status, kernel = lab.request("POST", "/api/kernels", {})
    assert status == 201, kernel
    try:
        assert kernel["id"]
        # It answers over its websocket, as the lab talks to it. (Also: a kernel shut down while
        # Python is still starting prints a traceback into the server log, read by a later test.)
        info = asyncio.run(_kernel_info(lab, kernel["id"]))
        assert info["language_info"]["name"] == "python", info
    finally:
        status, body = lab.request("DELETE", f"/api/kernels/{kernel['id']}")
        assert status == 204, body


@pytest.fixture(scope="module")
def validated_ipynb(lab, plants):
    """What nbgrader's Validate button gets for lesson 01's untouched .ipynb."""
    status, result = lab.request("POST", f"/assignments/validate?path={LESSON}/{LESSON}.ipynb",
                                 timeout=300)
    assert status == 200, result
    return result


def test_validate_button_runs_a_lessons_tests(validated_ipynb):
    """nbgrader's Validate button posts to /assignments/validate: on an untouched lesson it must
    answer with the failing test cells (NotImplementedError), not with a server error."""
    assert validated_ipynb["success"], validated_ipynb
    failed = validated_ipynb["value"].get("failed", [])
    assert len(failed) == 6 and all("NotImplementedError" in cell["raw_error"] for cell in failed)


def test_validate_from_the_py_gives_the_same_result_as_from_the_ipynb(lab, validated_ipynb):
    """The .py is what opens on a double-click: Validate there checks the paired notebook."""
    status, result = lab.request("POST", f"/assignments/validate?path={LESSON}/{LESSON}.py",
                                 timeout=300)
    assert status == 200 and result["success"], result
    assert result == validated_ipynb


def test_validate_on_a_py_without_its_notebook_says_what_to_do(lab, scratch_dir):
    (scratch_dir / "lone.py").write_text("# %%\nx = 1\n")
    lone = lab_path(scratch_dir / "lone.py")
    status, result = lab.request("POST", f"/assignments/validate?path={lone}")
    assert status == 200 and result["success"] is False, result
    assert "lone.ipynb is missing" in result["value"], result
    assert f"jupytext --set-formats ipynb,py:percent {lone}" in result["value"]


@pytest.mark.parametrize("opened", ["ipynb", "py"])
def test_saving_an_untouched_lesson_writes_exactly_what_the_build_wrote(lab, scratch_dir, opened):
    """Open a lesson from either file and save it: both files stay byte for byte the build's."""
    lesson = "02_gradcam_tutorial"
    folder = scratch_dir / f"save_{opened}"
    folder.mkdir()
    for ext in ("ipynb", "py"):
        shutil.copy(COURSE_DIR / lesson / f"{lesson}.{ext}", folder)
    path = f"{lab_path(folder)}/{lesson}.{opened}"
    status, model = lab.request("GET", f"/api/contents/{path}?type=notebook&content=1")
    assert status == 200, model
    status, saved = lab.request("PUT", f"/api/contents/{path}",
                                {"type": "notebook", "format": "json", "content": model["content"]})
    assert status in (200, 201), saved
    for ext in ("ipynb", "py"):
        assert filecmp.cmp(folder / f"{lesson}.{ext}", COURSE_DIR / lesson / f"{lesson}.{ext}",
                           shallow=False), f"saving the .{opened} changed the .{ext}"


@pytest.mark.parametrize("command", [["--sync", "{name}.ipynb"], ["--sync", "{name}.py"],
                                     ["--to", "ipynb", "--update", "{name}.py"]])
def test_the_jupytext_command_line_writes_what_the_build_wrote(tmp_path, command):
    """The CLI finds jupytext.toml in a parent folder, as it does for course/ in the repo."""
    lesson = "02_gradcam_tutorial"
    shutil.copy(REPO_ROOT / "jupytext.toml", tmp_path)
    folder = tmp_path / lesson
    folder.mkdir()
    for ext in ("ipynb", "py"):
        shutil.copy(COURSE_DIR / lesson / f"{lesson}.{ext}", folder)
    source = folder / command[-1].format(name=lesson)
    os.utime(source)  # the newer file of the pair is the one --sync reads
    result = subprocess.run([str(SERVER_PYTHON), "-m", "jupytext",
                             *[part.format(name=lesson) for part in command]],
                            cwd=folder, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for ext in ("ipynb", "py"):
        assert filecmp.cmp(folder / f"{lesson}.{ext}", COURSE_DIR / lesson / f"{lesson}.{ext}",
                           shallow=False), f"jupytext {' '.join(command)} changed the .{ext}"


def test_the_students_lab_has_no_instructor_tools(lab):
    from autograder.lab import INSTRUCTOR_PLUGINS

    status, page = lab.request("GET", "/lab", raw=True)
    assert status == 200
    config = json.loads(page.split('id="jupyter-config-data"', 1)[1].split(">", 1)[1]
                        .split("</script>", 1)[0])
    assert set(INSTRUCTOR_PLUGINS) <= set(config["disabledExtensions"]), config
    assert "@jupyter/nbgrader:validate-assignment" not in config["disabledExtensions"]
    for path in ("/formgrader", "/assignments", "/courses"):  # their server extensions are off
        status, _ = lab.request("GET", path)
        assert status == 404, path
    status, version = lab.request("GET", "/nbgrader_version?version=0.9.6")
    assert status == 200 and version == {"success": True}  # the Validate button checks this


def test_the_instructors_lab_serves_the_formgrader(tmp_path):
    """`make lab-instructor`: its own config, started from autograder/, every nbgrader tool."""
    with running_lab(tmp_path, config="jupyter_instructor_config.py",
                     cwd=REPO_ROOT / "autograder") as server:
        status, page = server.request("GET", "/formgrader", raw=True, timeout=60)
        assert status == 200, page[:500]
        assert "Manage Assignments" in page or "formgrader" in page.lower(), page[:500]
        status, page = server.request("GET", "/lab", raw=True)
        assert status == 200 and "@jupyter/nbgrader:formgrader" not in page.split(
            '"disabledExtensions"', 1)[1].split("]", 1)[0]
        assert not server.bad_log_lines(), server.log()


def test_the_students_server_log_has_no_error_or_warning_we_fixed(lab):
    """Last in this file, so it reads the log of everything above."""
    bad = lab.bad_log_lines()
    assert not bad, "\n".join(bad) + "\n--- server log ---\n" + lab.log()
