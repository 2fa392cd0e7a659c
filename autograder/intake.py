"""Taking in a submission: find its notebook, read it whatever state it is in, copy it to grade.

The student's folder is only read. What is graded is a normalised copy in nbgrader's
``submitted/`` folder: the notebook under the lesson's own name, in the current nbformat. A
submission that cannot be graded at all raises `Unreadable` with a reason the report and the
grades export show; everything else that was repaired is returned as a note.
"""
from __future__ import annotations

import functools
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

LAYOUT = "DIR/<student>/<lesson>/<lesson>.ipynb"
NO_LESSON = "(none)"  # the ledger's lesson name for a student folder with no lesson folder in it


class Unreadable(Exception):
    """The submission holds nothing gradable; the message says why and what was expected."""


class LayoutError(ValueError):
    """The submissions folder is not laid out as LAYOUT: nobody in it can be graded."""


@dataclass
class Batch:
    """What a submissions folder holds: what to grade, and each student's layout mistakes."""
    pairs: list = field(default_factory=list)      # (student, lesson) to grade
    mistakes: dict = field(default_factory=dict)   # (student, folder name) -> why not graded
    ignored: list = field(default_factory=list)    # files in no lesson folder, relative paths


@functools.lru_cache(maxsize=None)
def lesson_grade_ids() -> dict[str, frozenset]:
    """{lesson id: every grade id of its cells}, from the lesson sources, in lesson order."""
    from autograder.build import lesson_sources, read_source

    return {source.stem: frozenset(cell.metadata["nbgrader"]["grade_id"]
                                   for cell in read_source(source).cells
                                   if "grade_id" in cell.metadata.get("nbgrader", {}))
            for source in lesson_sources()}


def _visible(folder: Path) -> list[Path]:
    """A folder's entries without Jupyter's, the system's and unzip's hidden ones."""
    return sorted(p for p in Path(folder).iterdir()
                  if not p.name.startswith(".") and p.name != "__MACOSX")


def _listing(paths: list[Path], root: Path, most: int = 4) -> str:
    names = [str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in paths]
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def find_submissions(submissions_dir: Path) -> Batch:
    """Read the layout LAYOUT; raise `LayoutError` when nobody in it could be graded.

    A student's own mistakes (a lesson folder under a name that is not a lesson, a notebook
    outside any lesson folder) do not stop the batch: they are in ``Batch.mistakes``.
    """
    root = Path(submissions_dir)
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such submissions folder; expected {LAYOUT}")
    if not root.is_dir():
        raise LayoutError(f"{root} is a file; grade takes the folder that holds every "
                          f"student's folder, laid out as {LAYOUT}")
    entries, lessons = _visible(root), list(lesson_grade_ids())
    folders = [p for p in entries if p.is_dir()]
    as_lessons = [p for p in folders if p.name in lessons]
    if as_lessons:
        raise LayoutError(f"{root} holds lesson folders ({_listing(as_lessons, root)}), so it "
                          f"looks like one student's folder, not a class: expected {LAYOUT}. "
                          f"Give grade the folder that holds the students' folders (if "
                          f"{root.name} is a student, that is {root.parent}).")
    batch = Batch(ignored=[str(p.relative_to(root)) for p in entries if not p.is_dir()])
    for student in folders:
        _read_student(student, lessons, batch)
    if not any(p.is_dir() for s in folders for p in _visible(s)):
        inside = [p for entry in entries for p in (_visible(entry) if entry.is_dir() else [])
                  or [entry]]  # what each student folder holds, or the folder when it is empty
        hidden = sorted(p.name for p in root.iterdir())
        found = _listing(inside, root) or (f"only hidden files ({', '.join(hidden[:4])})"
                                           if hidden else "nothing (the folder is empty)")
        lesson = lessons[0]
        raise LayoutError(f"nothing to grade in {root}: expected {LAYOUT} (a folder per "
                          f"student, in it a folder per lesson, e.g. "
                          f"{root}/ada/{lesson}/{lesson}.ipynb); found {found}")
    return batch


def _read_student(folder: Path, lessons: list[str], batch: Batch) -> None:
    student, entries = folder.name, _visible(folder)
    subfolders = {p.name for p in entries if p.is_dir()}
    for path in entries:
        if path.is_dir() and path.name in lessons:
            batch.pairs.append((student, path.name))
        elif path.is_dir():
            batch.mistakes[student, path.name] = _not_a_lesson(path, lessons)
        elif path.suffix == ".ipynb" and path.stem in lessons and path.stem not in subfolders:
            batch.mistakes[student, path.stem] = (
                f"{path.name} is directly in {student}/, not in a lesson folder: hand it in "
                f"as {student}/{path.stem}/{path.name}")
        else:
            batch.ignored.append(f"{student}/{path.name}")
    if not any(key[0] == student for key in [*batch.pairs, *batch.mistakes]):
        found = _listing(entries, folder.parent) if entries else "nothing"
        batch.mistakes[student, NO_LESSON] = (f"no lesson folder in {folder}: expected "
                                              f"<lesson>/<lesson>.ipynb inside it; found {found}")


def _not_a_lesson(folder: Path, lessons: list[str]) -> str:
    reason = (f"{folder.name} is not a lesson of this course; the lessons are "
              f"{', '.join(lessons)}")
    notebooks = sorted(folder.glob("*.ipynb"))
    belongs = lesson_of(notebooks[0]) if len(notebooks) == 1 else None
    if belongs:
        reason += (f". Its notebook's exercises belong to {belongs}: rename the folder to "
                   f"{folder.parent.name}/{belongs}/")
    return reason


def lesson_of(notebook: Path) -> str | None:
    """The lesson whose grade ids a notebook shares most (None: not readable, or none)."""
    try:
        nb = json.loads(Path(notebook).read_bytes())
        ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb["cells"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return _owner(ids)


def _owner(ids: set) -> str | None:
    """The lesson that shares the most grade ids with ``ids`` (None: no lesson shares any)."""
    shared = {lesson: len(ids & known) for lesson, known in lesson_grade_ids().items()}
    best = max(shared, key=shared.get, default=None)
    return best if best and shared[best] else None


def fingerprint(folder: Path) -> str:
    """sha256 over every file's relative path and bytes: changes whenever the submission does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def take_in(folder: Path, assignment: str, target: Path) -> list[str]:
    """Copy ``folder`` (one student's lesson) into ``target`` ready for nbgrader; return notes."""
    folder, target = Path(folder), Path(target)
    notebook, notes = _find_notebook(folder, assignment)
    nb, converted = _read(notebook)
    notes += converted + _check_lesson(nb, assignment, folder) + _normalise_cells(nb)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    nbformat.write(nb, target / f"{assignment}.ipynb")
    return notes


def _find_notebook(folder: Path, assignment: str) -> tuple[Path, list[str]]:
    expected = folder / f"{assignment}.ipynb"
    if expected.is_file():
        return expected, []
    found = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if len(found) == 1:
        return found[0], [f"graded {found[0].name} as {expected.name} (the only notebook)"]
    if not found:
        raise Unreadable(f"no notebook: expected {expected.name} in {folder}")
    raise Unreadable(f"{len(found)} notebooks and none named {expected.name} in {folder}: "
                     "cannot tell which one to grade")


def _read(path: Path) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook in the current nbformat, and a note when it had to be converted."""
    try:
        raw = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Unreadable(f"{path.name} is not a notebook (not JSON: {err})") from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise Unreadable(f"{path.name} is JSON but not a notebook (no cells)")
    version = raw.get("nbformat")
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)  # upgrades v3 and older v4 files
    except Exception as err:  # nbformat raises several types for versions it cannot read
        raise Unreadable(f"{path.name}: saved as nbformat {version}, which cannot be read "
                         f"({type(err).__name__}: {err}); re-save it from Jupyter") from None
    current = nbformat.v4.nbformat_minor
    if nb.nbformat_minor < current:  # adds the cell ids that nbformat 4.5 requires
        nb = nbformat.v4.upgrade(nb, from_version=4, from_minor=nb.nbformat_minor)
    nb.nbformat_minor = current  # a newer 4.x only adds optional fields
    taken = {cell.get("id") for cell in nb.cells}
    for index, cell in enumerate(nb.cells):
        if not cell.get("id"):
            cell["id"] = next(f"cell-{index}-{n}" for n in range(len(nb.cells) + 1)
                              if f"cell-{index}-{n}" not in taken)
    if (version, raw.get("nbformat_minor")) == (4, current):
        return nb, []
    return nb, [f"notebook saved as nbformat {version}.{raw.get('nbformat_minor')}: "
                f"converted to 4.{current}"]


def _check_lesson(nb: nbformat.NotebookNode, assignment: str, folder: Path) -> list[str]:
    """Refuse another lesson's notebook; run cells pasted from another lesson as plain code.

    nbgrader fails the whole submission (``KeyError: 'grade_id'``) on any grade id that its
    source notebook does not have.
    """
    known = lesson_grade_ids()[assignment]
    ids = [cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") for cell in nb.cells]
    if not known & set(ids) and set(ids) - {None}:
        owner = _owner(set(ids))
        if owner:
            raise Unreadable(f"this notebook's exercises belong to {owner}, not {assignment}: "
                             f"hand it in as {folder.parent.name}/{owner}/{owner}.ipynb")
        raise Unreadable(f"none of this notebook's graded cells belong to {assignment} "
                         f"(it has {', '.join(sorted(set(ids) - {None})[:4])}): it is not "
                         "this lesson's notebook")
    notes = []
    for index, (cell, grade_id) in enumerate(zip(nb.cells, ids)):
        if grade_id is not None and grade_id not in known:
            del cell.metadata["nbgrader"]
            notes.append(f"cell {index + 1} has the grade id {grade_id!r}, which is not in "
                         f"{assignment} (pasted from another lesson?): ran it as ordinary code")
    return notes


def _normalise_cells(nb: nbformat.NotebookNode) -> list[str]:
    """Keep only the last of cells that share a grade id; return what was done."""
    notes = []
    last = {cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"): index
            for index, cell in enumerate(nb.cells)}
    for index, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id is not None and last[grade_id] != index:
            # nbgrader would blank this copy's metadata and then fail on the blank; drop it here
            del cell.metadata["nbgrader"]
            notes.append(f"cells {index + 1} and {last[grade_id] + 1} share the id {grade_id!r} "
                         "(a copied cell): graded the last one, ran the other as ordinary code")
    return notes
