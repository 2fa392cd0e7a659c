"""The student bundle works with nothing but the bundle, and a second release never loses work.

A student's Python here is a fresh virtual environment WITHOUT the project: the project's venv
has an editable install whose import hook maps `autograder`, `solutions`, ... to the repository
from any folder, so running the bundle with that Python would prove nothing. The fresh venv gets
the course's third-party packages through a .pth line naming the project venv's site-packages
(as `pip install -r requirements.txt` would give them; a .pth line adds a folder to the path but
runs no .pth file inside it, so the editable hook stays off). Everything of ours it imports comes
from the bundle, and the hidden checks and the solutions cannot be imported at all.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from autograder.__main__ import main
from autograder.build import COURSE_DIR, REPO_ROOT
from autograder.release import MANIFEST, ReleaseError, write_release

LESSON = "01_finetune_resnet"
NOTEBOOK = f"course/{LESSON}/{LESSON}.ipynb"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, plants):
    target = tmp_path_factory.mktemp("bundle") / "release"
    write_release(target)
    # The lessons generate the plant images on first use; the generator is tested on its own
    # (tests/test_data.py), so give the bundle the same images and save that minute here.
    shutil.copytree(REPO_ROOT / "data" / "plants", target / "data" / "plants")
    return target


@pytest.fixture(scope="module")
def student_python(tmp_path_factory) -> Path:
    """python of a fresh venv that has the course's packages but not the project."""
    home = tmp_path_factory.mktemp("student-venv")
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(home)
    site = next((home / "lib").glob("python3*/site-packages"))
    (site / "course_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return home / "bin" / "python"


def run(python: Path, *args: str, cwd: Path, timeout: int = 600, env=None):
    return subprocess.run([str(python), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_the_students_python_sees_the_bundle_and_nothing_of_the_instructors(bundle,
                                                                            student_python):
    probe = ("import autograder.selfcheck, autograder.execution, utils, data\n"
             "print(autograder.selfcheck.__file__, utils.__file__, data.__file__)\n"
             "for hidden in ('autograder.checks', 'autograder.grading', 'solutions'):\n"
             "    try:\n"
             "        __import__(hidden)\n"
             "    except ImportError:\n"
             "        print('missing', hidden)\n")
    result = run(student_python, "-c", probe, cwd=bundle)
    assert result.returncode == 0, result.stderr
    found, *missing = result.stdout.splitlines()
    assert all(path.startswith(str(bundle)) for path in found.split()), found
    assert missing == ["missing autograder.checks", "missing autograder.grading",
                       "missing solutions"], result.stdout
    assert not (bundle / "autograder" / "checks").exists()
    assert not (bundle / "solutions").exists() and not list(bundle.rglob("*.db"))


def test_self_check_from_the_bundle_root_lists_every_exercise(bundle, student_python):
    result = run(student_python, "-m", "autograder", "check", NOTEBOOK, cwd=bundle)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["exercise", "points", "result"], result.stdout
    rows = [line for line in lines if "FAILED" in line]
    assert len(rows) == 6 and all("not answered yet" in row for row in rows), result.stdout
    assert "total: 0 / 12 points" in result.stdout
    assert "ModuleNotFoundError" not in result.stdout + result.stderr


def test_the_bundles_check_verb_is_the_only_one_and_says_so(bundle, student_python):
    result = run(student_python, "-m", "autograder", "grade", "x", cwd=bundle)
    assert result.returncode == 2 and "invalid choice: 'grade'" in result.stderr
    result = run(student_python, "-m", "autograder", "check", "course/nope.ipynb", cwd=bundle)
    assert result.returncode == 2 and "course/nope.ipynb: no such notebook" in result.stderr


def test_a_lesson_runs_headless_with_nbclient_in_the_bundle(bundle, student_python):
    """As VS Code or a CI would run it: nbclient, fast mode, the bundle's own helpers. The only
    errors are the stubs' NotImplementedError, and the figures are real images."""
    lesson = LESSON
    script = (
        "import nbformat, os, sys\n"
        "from nbclient import NotebookClient\n"
        f"nb = nbformat.read('course/{lesson}/{lesson}.ipynb', as_version=4)\n"
        "os.environ['COURSE_FAST'] = '1'\n"
        "NotebookClient(nb, timeout=120, kernel_name='python3', allow_errors=True,\n"
        f"               resources={{'metadata': {{'path': 'course/{lesson}'}}}}).execute()\n"
        "errors = {o.ename for c in nb.cells if c.cell_type == 'code' for o in c.outputs\n"
        "          if o.output_type == 'error'}\n"
        "images = sum('image/png' in o.get('data', {}) for c in nb.cells\n"
        "             if c.cell_type == 'code' for o in c.outputs)\n"
        "print(sorted(errors), images)\n")
    result = run(student_python, "-c", script, cwd=bundle)
    assert result.returncode == 0, result.stderr[-3000:]
    errors, images = result.stdout.strip().rsplit(" ", 1)
    # The stubs raise NotImplementedError; a later cell that uses what a stub should have made
    # fails with NameError. An import or file error would mean the bundle lacks something.
    assert "NotImplementedError" in errors, result.stdout
    assert set(eval(errors)) <= {"NotImplementedError", "NameError"}, result.stdout
    assert int(images) >= 1, result.stdout


def test_the_bundles_lab_validates_a_lesson_from_its_py(bundle, student_python, tmp_path):
    """The bundle's README starts `jupyter lab --config=jupyter_config.py`: the course's lab
    extension comes from the bundle, and Validate on a .py checks the paired notebook."""
    from lab_server import running_lab

    with running_lab(tmp_path, cwd=bundle, python=student_python) as server:
        status, result = server.request(
            "POST", f"/assignments/validate?path={LESSON}/{LESSON}.py", timeout=300)
        assert status == 200 and result["success"], result
        failed = result["value"]["failed"]
        assert len(failed) == 6 and all("NotImplementedError" in c["raw_error"] for c in failed)
        status, page = server.request("GET", "/lab", raw=True)
        assert "@jupyter/nbgrader:formgrader" in page  # listed among the disabled plugins
        assert not server.bad_log_lines(), server.log()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_release_again_keeps_what_the_student_changed_or_added(tmp_path):
    target = tmp_path / "bundle"
    write_release(target, log=lambda line: None)
    worked = target / NOTEBOOK
    worked.write_bytes(worked.read_bytes().replace(b"raise NotImplementedError()",
                                                  b"return 42  # my answer", 1))
    notes = target / "course" / LESSON / "my_notes.md"
    notes.write_text("what I tried\n")
    own = target / "course" / LESSON / "outputs" / "my_model.pth"
    own.parent.mkdir()
    own.write_bytes(b"\x00weights")
    # An older release wrote this helper: the next release must update it (untouched by the
    # student). Simulate it by changing the file and the manifest's record together.
    helper = target / "utils" / "datasets.py"
    helper.write_text("# an older version of the helper\n")
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["files"]["utils/datasets.py"] = _sha(helper)
    (target / MANIFEST).write_text(json.dumps(manifest))
    deleted = target / "course" / "README.md"
    as_released = deleted.read_bytes()
    deleted.unlink()
    before = {path: path.read_bytes() for path in (worked, notes, own)}

    messages = []
    assert main_release(target, messages) == 0
    for path, content in before.items():
        assert path.read_bytes() == content, path
    assert helper.read_bytes() == (REPO_ROOT / "utils" / "datasets.py").read_bytes()
    assert deleted.read_bytes() == as_released  # a course file the student deleted comes back
    kept = [line for line in messages if line.startswith("kept ")]
    assert len(kept) == 1 and str(worked) in kept[0] and "changed or added" in kept[0], messages

    # Still the student's on the release after that, and still kept.
    messages.clear()
    assert main_release(target, messages) == 0
    assert worked.read_bytes() == before[worked]
    assert sum(line.startswith("kept ") for line in messages) == 1, messages


def main_release(target: Path, messages: list) -> int:
    """`python -m autograder release TARGET` in a subprocess: its exit code; output lines added."""
    result = subprocess.run([sys.executable, "-m", "autograder", "release", str(target)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    messages += (result.stdout + result.stderr).splitlines()
    return result.returncode


def test_release_into_a_folder_it_copies_is_refused_before_anything_is_written(capsys):
    inside = COURSE_DIR / "bundle_inside"
    assert not inside.exists()
    assert main(["release", str(inside)]) == 2
    err = capsys.readouterr().err
    assert str(inside) in err and "inside" in err and "give a folder outside it" in err
    assert not inside.exists()


def test_release_accepts_an_empty_folder_and_refuses_a_file(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    write_release(empty, log=lambda line: None)
    assert (empty / NOTEBOOK).is_file() and (empty / MANIFEST).is_file()

    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    with pytest.raises(ReleaseError, match="is a file, not a folder"):
        write_release(a_file)
    assert a_file.read_text() == "mine"

    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "essay.md").write_text("my essay")
    assert main(["release", str(folder)]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and "choose a new or empty folder" in err
    assert [p.name for p in folder.iterdir()] == ["essay.md"]
    assert (folder / "essay.md").read_text() == "my essay"
