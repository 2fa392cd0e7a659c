"""The student bundle: ``python -m autograder release [DIR]`` (default ``release/``).

What a student receives: the lessons (course/, those chosen with ``--lessons``, see
autograder/gating.py), the helpers (utils/), the dataset generator (data/, without generated
images), the shipped classifier, jupytext.toml, the student lab's configuration
(jupyter_config.py), the student side of the course's tools (the self-check ``python -m
autograder check``, the execution settings and the lab extension: STUDENT_TOOLS), a student
README and the requirements, derived from pyproject.toml. Never solutions/, hidden tests
(autograder/checks), reference code or a gradebook. The bundle is assembled and scanned in a
scratch folder first, so a leak never reaches the target.

A bundle remembers what the release wrote in it (``.gradcam-release``: each file's SHA-256).
Releasing again into a bundle a student worked in updates only the files still as the release
wrote them; a file the student changed or added is never overwritten or deleted, and the command
lists what it kept (see merge_into).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # Python 3.10: Jupytext depends on tomli there
    import tomli as tomllib

from autograder import gating
from autograder.build import REPO_ROOT
from autograder.markers import leaked_markers, solution_blocks

DEFAULT_TARGET = REPO_ROOT / "release"
MANIFEST = ".gradcam-release"
COPIED = ["course", "utils", "data", "jupytext.toml", "jupyter_config.py",
          "checkpoints/best_plant_classifier.pth", "checkpoints/README.md"]
# The student side of autograder/: what the self-check and the lab's Validate need, and no
# more (these modules import nothing of the instructor's).
STUDENT_TOOLS = ["autograder/__init__.py", "autograder/deferred_imports.py",
                 "autograder/execution.py", "autograder/selfcheck.py", "autograder/lab.py"]
# The bundle's `python -m autograder`: the self-check only (the instructor's verbs need files a
# student does not get).
STUDENT_MAIN = """\
\"\"\"`python -m autograder check NOTEBOOK`: the self-check of the course's student bundle.\"\"\"
import sys

from autograder.selfcheck import main

sys.exit(main())
"""
# The lab tests' scratch folder under course/ (tests/lab_server.py): never part of a bundle.
LAB_TEST_SCRATCH = "_lab_test_tmp"
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "outputs",
                                 "plants", LAB_TEST_SCRATCH)
STUDENT_README = """\
# gradcam-course: your lessons

## Start

```bash
python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
.venv/bin/python -m utils.lab_settings      # .py lessons open as notebooks; no news pop-up
.venv/bin/jupyter lab --config=jupyter_config.py
```

Open `course/01_finetune_resnet/01_finetune_resnet.ipynb` (the `.py` beside each notebook is the
same lesson as plain text; saving one updates the other). The plant images are generated the first
time a lesson needs them (about 15 seconds).

## Work and check

In each exercise, replace `raise NotImplementedError()` with your code and run the test cell
below it. Visible tests catch common mistakes; hidden tests run when your work is graded. Set
`COURSE_FAST=1` before starting JupyterLab for a tiny training run when you only want to test
your code.

Check a whole lesson the way the grader runs it (fast mode, the same time limit per cell): press
**Validate** in the lab, or run, from this folder,

```bash
.venv/bin/python -m autograder check course/01_finetune_resnet/01_finetune_resnet.ipynb
```

It prints one row per exercise and exits with 0 only when every visible test passes.

## Submit

Hand in the `.ipynb` of each lesson (e.g. `01_finetune_resnet.ipynb`) the way your instructor
says. Save first: the notebook is what gets graded.

## Getting a newer release

Your instructor may give you a newer bundle to unpack over this folder, or run the release into
it again: files you changed or added are kept (the command lists them), only untouched files are
updated.
"""


class ReleaseError(RuntimeError):
    """The bundle would contain something a student must not get, or cannot go where asked."""


def requirements() -> str:
    """requirements.txt of the bundle: pyproject.toml's [project].dependencies, at release time."""
    with (REPO_ROOT / "pyproject.toml").open("rb") as stream:
        dependencies = tomllib.load(stream)["project"]["dependencies"]
    return ("# The course's packages, from the course's pyproject.toml. Install them into a fresh\n"
            "# virtual environment: pip install -r requirements.txt\n"
            + "".join(f"{dependency}\n" for dependency in dependencies))


def check_target(target: Path) -> Path:
    """The resolved target, or a ReleaseError saying why it cannot hold a bundle and what to do."""
    target = Path(target).resolve()
    if target == REPO_ROOT or REPO_ROOT.is_relative_to(target):
        raise ReleaseError(f"{target}: the bundle needs a folder of its own, not the repository "
                           "or a folder above it; give a new folder, e.g. release/")
    for name in COPIED:
        source = REPO_ROOT / name
        if source.is_dir() and target.is_relative_to(source):
            raise ReleaseError(f"{target} is inside {source}, which the release copies (it would "
                               "copy itself into itself); give a folder outside it, e.g. release/")
    if target.exists() and not target.is_dir():
        raise ReleaseError(f"{target} is a file, not a folder; give a new or empty folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise ReleaseError(f"{target} already holds files and is not a bundle made by this "
                           f"command (it has no {MANIFEST}); choose a new or empty folder")
    return target


def assemble(folder: Path, selected: list[str]) -> None:
    """Write the whole bundle into ``folder`` (a scratch folder)."""
    for name in COPIED + STUDENT_TOOLS:
        source = REPO_ROOT / name
        if name == "course":
            gating.copy_course(source, folder / name, selected, SKIPPED)
        elif source.is_dir():
            shutil.copytree(source, folder / name, ignore=SKIPPED)
        else:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    (folder / "autograder" / "__main__.py").write_text(STUDENT_MAIN)
    (folder / "requirements.txt").write_text(requirements())
    (folder / "README.md").write_text(STUDENT_README)


def write_release(target: Path = DEFAULT_TARGET, lessons=None, log=print) -> list[Path]:
    """Write (or update) the bundle in ``target``; return its files. See the module's docstring.

    ``lessons``: the lessons to hold ("01,02", default all); the last is the one being opened,
    the others are taken as past their deadline (see autograder/gating.py).
    """
    selected = gating.select(lessons)
    target = check_target(target)
    with tempfile.TemporaryDirectory(prefix="gradcam-release-") as scratch:
        staged = Path(scratch)
        assemble(staged, selected)
        files = sorted(p for p in staged.rglob("*") if p.is_file())
        problems = scan(files, staged) + gating.leaks(files, staged, selected)
        if problems:
            raise ReleaseError("the bundle would leak:\n  " + "\n  ".join(problems))
        kept = merge_into(staged, target)
    for relative in kept:
        log(f"kept {target / relative}: changed or added since the last release, so the "
            "course's version was not written (move your file away and release again to get it)")
    return sorted(p for p in target.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _previous_manifest(target: Path) -> dict[str, str]:
    """{relative path: sha256} of what the last release wrote; {} for a new or old-style bundle."""
    try:
        files = json.loads((target / MANIFEST).read_text())["files"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return {}  # nothing is known to be the course's: every existing file is kept
    return files if isinstance(files, dict) else {}


def merge_into(staged: Path, target: Path) -> list[str]:
    """Copy the staged bundle into ``target`` without losing a student's work; return what was kept.

    A file is written when it is missing, or still exactly as the last release wrote it. A file
    the student changed, or one the release never wrote, is kept as it is. A file the course no
    longer ships is removed only if it is untouched.
    """
    previous = _previous_manifest(target)
    target.mkdir(parents=True, exist_ok=True)
    written, kept = {}, []
    for path in sorted(p for p in staged.rglob("*") if p.is_file()):
        relative = path.relative_to(staged).as_posix()
        new, dest = _sha256(path), target / relative
        current = _sha256(dest) if dest.is_file() else None
        if dest.exists() and current is None:  # a folder of the student's where a file goes
            kept.append(relative)
        elif current in (None, new) or current == previous.get(relative):
            if current != new:
                dest.parent.mkdir(parents=True, exist_ok=True)
                partial = dest.with_name(dest.name + ".release-partial")
                shutil.copy2(path, partial)
                os.replace(partial, dest)  # never a half-written file
            written[relative] = new
        else:
            kept.append(relative)
            if relative in previous:  # it stays the student's on the next release too
                written[relative] = previous[relative]
    for relative, digest in previous.items():
        dest = target / relative
        if relative not in written and relative not in kept and dest.is_file():
            if _sha256(dest) == digest:
                dest.unlink()  # the course no longer ships it, and the student never touched it
            else:
                kept.append(relative)
    (target / MANIFEST).write_text(json.dumps(
        {"made_by": "python -m autograder release", "files": written}, indent=1, sort_keys=True)
        + "\n")
    return kept


def _solution_lines(source: Path) -> set[str]:
    """Lines (longer than 20 characters) written between solution markers in a lesson source."""
    return {line.strip()
            for block in solution_blocks(source.read_text())
            for line in block.splitlines() if len(line.strip()) > 20}


def secret_lines(lesson: str | None = None) -> set[str]:
    """Answer lines that must not appear in ``lesson``'s files (None: in any file).

    A lesson may hold earlier lessons' reference code, which it includes on purpose (see
    INCLUDE in autograder/build.py), but never its own answers or a later lesson's. What counts
    as a lesson's answer line is autograder.gating.answer_lines (lines some lesson gives out in
    its own code are nobody's answer).
    """
    from autograder.gating import answer_lines

    owned = answer_lines()
    return set().union(*(lines for other, lines in owned.items()
                         if lesson is None or other >= lesson))


def code_lines(path: Path) -> set[str]:
    """Stripped lines of a file's code: the code cells of a lesson notebook or its paired script."""
    path = Path(path)
    if path.suffix == ".ipynb" or (path.suffix == ".py" and "# %%" in path.read_text()):
        import jupytext
        text = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code")
    else:
        text = path.read_text(errors="ignore")
    return {line.strip() for line in text.splitlines()}


def scan(files: list[Path], root: Path) -> list[str]:
    """Problems in a bundle: instructor-only files, solution or hidden-test markers, answers."""
    problems = []
    for path in files:
        relative = path.relative_to(root).as_posix()
        parts = relative.split("/")
        student_tool = relative in STUDENT_TOOLS or relative == "autograder/__main__.py"
        if (parts[0] in ("solutions", "autograder") and not student_tool) \
                or relative.endswith(".db"):
            problems.append(f"{relative}: instructor-only file")
            continue
        if path.suffix not in (".py", ".ipynb", ".md", ".txt", ".toml", ".json"):
            continue
        text = path.read_text(errors="ignore")
        problems += [f"{relative}: contains {m!r}" for m in leaked_markers(text)]
        if parts[0] == "course" and len(parts) > 2:
            leaked = sorted(secret_lines(parts[1]) & code_lines(path))
        else:
            # Helpers (utils/, data/) may share a line with an answer by doing the same job
            # (utils.datasets also reads labels from file names); three answer lines in a row
            # would be a copied answer.
            leaked = _runs_of_answer_lines(path.read_text(errors="ignore"), secret_lines(), 3)
        if leaked:
            problems.append(f"{relative}: contains solution code, e.g. {leaked[0]!r}")
    return problems


def _runs_of_answer_lines(text: str, answers: set[str], length: int) -> list[str]:
    """Lines that belong to a run of at least ``length`` consecutive answer lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found, run = [], []
    for line in lines + [""]:
        if line in answers:
            run.append(line)
            continue
        if len(run) >= length:
            found += run
        run = []
    return found
