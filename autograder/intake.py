"""Taking in a submission: find its notebook, read it whatever state it is in, copy it to grade.

The student's folder is only read. What is graded is a normalised copy in nbgrader's
``submitted/`` folder: the notebook under the lesson's own name, in the current nbformat. A
submission that cannot be graded at all raises `Unreadable` with a reason the report and the
grades export show; everything else that was repaired is returned as a note.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nbformat


class Unreadable(Exception):
    """The submission holds nothing gradable; the message says why and what was expected."""


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
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    notes += converted + _normalise_cells(nb)
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
