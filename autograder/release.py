"""The student bundle: ``python -m autograder release [DIR]`` (default ``release/``).

What a student receives: the lessons (course/), the helpers (utils/), the dataset generator
(data/, without generated images), the shipped classifier, jupytext.toml, a student README and a
minimal requirements file. Never solutions/, hidden tests, reference code or a gradebook. Every
file is scanned before the command reports success.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from autograder import gating
from autograder.build import REPO_ROOT, lesson_sources
from autograder.markers import leaked_markers, solution_blocks

DEFAULT_TARGET = REPO_ROOT / "release"
COPIED = ["course", "utils", "data", "jupytext.toml", "checkpoints/plant_classifier_final.pth",
          "checkpoints/README.md"]
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "outputs",
                                 "plants", "_lab_test_tmp")
REQUIREMENTS = """\
# The course's packages (install into a fresh virtual environment: pip install -r requirements.txt)
torch>=2.2
torchvision>=0.17
jupyterlab>=4,<5
jupytext>=1.16
numpy>=1.24
opencv-python>=5.0,<5.1
matplotlib>=3.7
tqdm>=4.60
pillow
"""
STUDENT_README = """\
# gradcam-course: your lessons

## Start

```bash
python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
.venv/bin/jupyter lab
```

Open `course/01_finetune_resnet/01_finetune_resnet.ipynb` (the `.py` beside each notebook is the
same lesson as plain text; saving one updates the other). The plant images are generated the first
time a lesson needs them (about 15 seconds).

## Work and check

In each exercise, replace `raise NotImplementedError()` with your code and run the test cell
below it. Visible tests catch common mistakes; hidden tests run when your work is graded. Set
`COURSE_FAST=1` before starting JupyterLab for a tiny training run when you only want to test
your code.

## Submit

Hand in the `.ipynb` of each lesson (e.g. `01_finetune_resnet.ipynb`) the way your instructor
says. Save first: the notebook is what gets graded.
"""


class ReleaseError(RuntimeError):
    """The bundle would contain something a student must not get."""


def write_release(target: Path = DEFAULT_TARGET, lessons=None) -> list[Path]:
    """Write the bundle into ``target`` (replacing an earlier bundle there); return its files.

    ``lessons``: the lessons to hold ("01,02", default all); the last is the one being opened,
    the others are taken as past their deadline (see autograder/gating.py).
    """
    selected = gating.select(lessons)
    target = Path(target).resolve()
    if target == REPO_ROOT or REPO_ROOT.is_relative_to(target):
        raise ReleaseError(f"{target}: the bundle needs a folder of its own, not the repository")
    if target.exists():
        if not (target / ".gradcam-release").exists():
            raise ReleaseError(f"{target} exists and is not a bundle made by this command; "
                               "choose an empty or new folder")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    (target / ".gradcam-release").write_text("made by python -m autograder release\n")
    for name in COPIED:
        source = REPO_ROOT / name
        if name == "course":
            gating.copy_course(source, target / name, selected, SKIPPED)
        elif source.is_dir():
            shutil.copytree(source, target / name, ignore=SKIPPED)
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / "requirements.txt").write_text(REQUIREMENTS)
    (target / "README.md").write_text(STUDENT_README)
    files = sorted(p for p in target.rglob("*") if p.is_file())
    problems = scan(files, target) + gating.leaks(files, target, selected)
    if problems:
        raise ReleaseError("the bundle would leak:\n  " + "\n  ".join(problems))
    return files


def _solution_lines(source: Path) -> set[str]:
    """Lines (longer than 20 characters) written between solution markers in a lesson source."""
    return {line.strip()
            for block in solution_blocks(source.read_text())
            for line in block.splitlines() if len(line.strip()) > 20}


def secret_lines(lesson: str | None = None) -> set[str]:
    """Solution lines that must not appear in ``lesson``'s files (None: in any file).

    A lesson may hold earlier lessons' reference code, which it includes on purpose (see
    INCLUDE in autograder/build.py), but never its own answers or a later lesson's.
    """
    by_lesson = {source.stem: _solution_lines(source) for source in lesson_sources()}
    if lesson is None:
        return set().union(*by_lesson.values())
    earlier = set().union(*(lines for other, lines in by_lesson.items() if other < lesson))
    return set().union(*(lines for other, lines in by_lesson.items() if other >= lesson)) - earlier


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
        if parts[0] in ("solutions", "autograder") or relative.endswith(".db"):
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
