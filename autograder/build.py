"""The single-source build: solutions/lessons/NN_topic.py -> everything else.

For each lesson source (py:percent, the instructor version with nbgrader cell metadata):

1. a source notebook for nbgrader (``.ipynb``, deterministic cell ids);
2. ``nbgrader generate_assignment`` -> the student notebook ``course/NN_topic/NN_topic.ipynb``
   (stubs, visible tests only, no outputs), paired by Jupytext with ``course/NN_topic/NN_topic.py``;
3. the reference module ``solutions/reference/<topic>.py`` from the cells tagged ``export``, each
   block headed by the source line it came from (``# from solutions/lessons/NN_topic.py:LINE``).

Files are written only when their content changes, so a second build changes nothing. Every
student file is scanned for solution and hidden-test markers before it is written.
"""
from __future__ import annotations

import ast
import copy
import shutil
import tempfile
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # Python 3.10: Jupytext depends on tomli there
    import tomli as tomllib

import jupytext
import nbformat
from traitlets.config import Config, PyFileConfigLoader

from autograder.execution import KERNELSPEC
from autograder.markers import (BEGIN_HIDDEN, BEGIN_SOLUTION, leaked_markers,
                               without_solution_markers)

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
LESSONS_DIR = SOLUTIONS_DIR / "lessons"      # hand-edited: the one source of each lesson
REFERENCE_DIR = SOLUTIONS_DIR / "reference"  # generated: the reference package
COURSE_DIR = REPO_ROOT / "course"
NBGRADER_CONFIG = Path(__file__).resolve().parent / "nbgrader_config.py"
# The one Jupytext configuration of the course: the build, the lab and the CLI all use it.
JUPYTEXT_TOML = REPO_ROOT / "jupytext.toml"



class BuildError(RuntimeError):
    """A lesson source that cannot be built; the message names the file and what is wrong."""


def lesson_sources() -> list[Path]:
    """``solutions/lessons/NN_topic.py`` for every lesson, in lesson order."""
    return sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))


def module_name(lesson_id: str) -> str:
    """``01_finetune_resnet`` -> ``finetune_resnet`` (the reference module's name)."""
    return lesson_id.split("_", 1)[1]


def read_source(path: Path) -> nbformat.NotebookNode:
    """The lesson source as a notebook with stable cell ids and only the metadata we need."""
    try:
        nb = jupytext.read(path, fmt="py:percent")
    except Exception as err:
        raise BuildError(f"{path}: not a readable py:percent notebook ({err})") from err
    nb.metadata = nbformat.NotebookNode(kernelspec=KERNELSPEC)
    seen = set()
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id and grade_id in seen:
            raise BuildError(f"{path}: cell {index + 1} repeats grade_id {grade_id!r}")
        seen.add(grade_id)
        # ids derived from position and grade id: the same source always gives the same notebook
        cell.id = f"cell-{index:02d}" + (f"-{grade_id}" if grade_id else "")
        cell.metadata.pop("lines_to_next_cell", None)
        if cell.cell_type == "code" and cell.source.startswith(INCLUDE):
            cell.metadata["included"] = _include_names(path, index, cell.source)
            cell.source = _included_source(path, cell.metadata["included"])
    _check_markers(path, nb)
    return nb


# A later lesson that needs an earlier lesson's function says so in a cell of its own:
#     # include: gradcam_tutorial.capture_activations, gradcam_tutorial.resolve_targets
# The build pastes those functions' reference code into the notebooks (so each lesson runs on
# its own) and exports the cell as an import (so the code keeps one home).
INCLUDE = "# include:"


def _include_names(path: Path, index: int, source: str) -> list[str]:
    names = [n.strip() for n in source[len(INCLUDE):].split("\n")[0].split(",") if n.strip()]
    if not names or any(n.count(".") != 1 for n in names):
        raise BuildError(f"{path}: cell {index + 1}: write '# include: module.function, ...'")
    return names


def _included_source(path: Path, names: list[str]) -> str:
    parts = ["# Given: from earlier lessons (their reference solutions), so this lesson runs on "
             "its own."]
    for name in names:
        module, function = name.split(".")
        module_path = REFERENCE_DIR / f"{module}.py"
        if not module_path.exists():
            raise BuildError(f"{path}: includes {name}, but {module_path} does not exist")
        text = module_path.read_text()
        found = [node for node in ast.parse(text).body
                 if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == function]
        if not found:
            raise BuildError(f"{path}: includes {name}, which {module_path.name} does not define")
        parts.append(ast.get_source_segment(text, found[0]))
    return "\n\n\n".join(parts)


def _check_markers(path: Path, nb) -> None:
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        where = f"{path}: cell {index + 1}"
        if BEGIN_SOLUTION in cell.source and not meta.get("solution"):
            raise BuildError(f"{where} has a solution block but no nbgrader solution=true metadata")
        if BEGIN_HIDDEN in cell.source and not meta.get("grade"):
            raise BuildError(f"{where} has hidden tests but is not a graded (grade=true) cell")
        if meta.get("grade") and not meta.get("locked"):
            raise BuildError(f"{where}: graded test cells must be locked")


def export_reference(nb, source: Path) -> str:
    """Python source of the reference module: the ``export`` cells, solution markers removed.

    Like nbdev, every exported block starts with a comment naming the line of the lesson source
    where its cell begins, so a reader can jump to the one place to edit.
    """
    relative = source.relative_to(REPO_ROOT).as_posix()
    starts = cell_start_lines(source, len(nb.cells))
    parts = [f'"""Reference implementation exported from {relative}.\n\n'
             f"GENERATED by `python -m autograder build`: edit {relative}, not this file.\n"
             '"""\n']
    for index, cell in enumerate(nb.cells):
        origin = f"# from {relative}:{starts[index]}\n"
        if cell.metadata.get("included"):
            by_module: dict[str, list[str]] = {}
            for name in cell.metadata["included"]:
                module, function = name.split(".")
                by_module.setdefault(module, []).append(function)
            parts.append(origin + "".join(f"from solutions.reference.{m} import {', '.join(f)}\n"
                                          for m, f in by_module.items()))
        elif cell.cell_type == "code" and "export" in cell.metadata.get("tags", []):
            parts.append(origin + without_solution_markers(cell.source).strip() + "\n")
    return "\n\n".join(parts)


def cell_start_lines(source: Path, count: int) -> list[int]:
    """The 1-based line of each ``# %%`` cell marker in a py:percent source."""
    lines = [number for number, line in enumerate(source.read_text().splitlines(), start=1)
             if line.startswith("# %%")]
    if len(lines) != count:
        raise BuildError(f"{source}: {len(lines)} '# %%' markers for {count} cells; start every "
                         "cell with a '# %%' line")
    return lines


def generate_student_notebook(source_nb, lesson_id: str) -> nbformat.NotebookNode:
    """Run nbgrader's generate_assignment on the source notebook in a scratch course folder."""
    from autograder.nbgrader_api import CourseDirectory, NbGraderAPI

    with tempfile.TemporaryDirectory(prefix="gradcam-build-") as scratch:
        scratch = Path(scratch)
        source_dir = scratch / "source" / lesson_id
        source_dir.mkdir(parents=True)
        nbformat.write(source_nb, source_dir / f"{lesson_id}.ipynb")
        config = nbgrader_config()
        config.CourseDirectory.root = str(scratch)
        config.CourseDirectory.db_url = f"sqlite:///{scratch / 'gradebook.db'}"
        api = NbGraderAPI(CourseDirectory(config=config), config=config)
        result = api.generate_assignment(lesson_id, force=True, create=True)
        if not result["success"]:
            raise BuildError(f"nbgrader generate_assignment failed for {lesson_id}:\n"
                             f"{result.get('error') or result.get('log')}")
        released = scratch / "release" / lesson_id
        extra = sorted(p.name for p in released.iterdir() if p.name != f"{lesson_id}.ipynb")
        if extra:
            raise BuildError(f"{lesson_id}: the release would ship unexpected files {extra}")
        return nbformat.read(released / f"{lesson_id}.ipynb", as_version=4)


def nbgrader_config() -> Config:
    """The course's nbgrader settings, loaded from autograder/nbgrader_config.py."""
    loader = PyFileConfigLoader(NBGRADER_CONFIG.name, path=str(NBGRADER_CONFIG.parent))
    return copy.deepcopy(loader.load_config())


def jupytext_settings() -> dict:
    """The settings of jupytext.toml (pairing formats and metadata filters)."""
    with JUPYTEXT_TOML.open("rb") as stream:
        return tomllib.load(stream)


def student_files(student_nb, lesson_id: str) -> dict[str, str]:
    """The paired student files: {relative path: text} for the .ipynb and its py:percent twin.

    Both are written as Jupytext writes them with jupytext.toml, which is what the lab writes
    when a student saves an untouched lesson and what `jupytext --sync` writes: Jupytext records
    the pairing and the filters in the notebook's metadata, so the build records them too.
    """
    from jupytext.config import load_jupytext_configuration_file

    settings = jupytext_settings()
    nb = copy.deepcopy(student_nb)
    nb.metadata = nbformat.NotebookNode(kernelspec=KERNELSPEC, jupytext={
        key: settings[key] for key in ("cell_metadata_filter", "formats",
                                       "notebook_metadata_filter") if key in settings})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("included", None)  # build bookkeeping, not for students
        tags = [t for t in cell.metadata.get("tags", []) if t != "export"]  # instructor-only tag
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    config = load_jupytext_configuration_file(str(JUPYTEXT_TOML))
    base = f"{lesson_id}/{lesson_id}"
    files = {f"{base}.ipynb": nbformat.writes(nb) + "\n",
             f"{base}.py": jupytext.writes(nb, fmt="py:percent", config=config)}
    for name, text in files.items():
        leaked = leaked_markers(text)
        if leaked:
            raise BuildError(f"course/{name} would contain {leaked}: check the source's markers")
    return files


def _write_if_changed(path: Path, text: str, written: list[Path]) -> None:
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    written.append(path)


def build(lessons: list[str] | None = None, log=print) -> list[Path]:
    """Build every lesson (or those named); return the files that changed."""
    written: list[Path] = []
    sources = lesson_sources()
    if lessons:
        unknown = set(lessons) - {s.stem for s in sources}
        if unknown:
            raise BuildError(f"no lesson source for {sorted(unknown)} under {LESSONS_DIR}")
        sources = [s for s in sources if s.stem in lessons]
    for source in sources:
        lesson_id = source.stem
        source_nb = read_source(source)
        student_nb = generate_student_notebook(source_nb, lesson_id)
        for name, text in student_files(student_nb, lesson_id).items():
            _write_if_changed(COURSE_DIR / name, text, written)
        _write_if_changed(REFERENCE_DIR / f"{module_name(lesson_id)}.py",
                          export_reference(source_nb, source), written)
        log(f"built {lesson_id}")
    if not lessons:
        from autograder.lessons import all_lessons, course_readme

        _write_if_changed(COURSE_DIR / "README.md", course_readme(all_lessons()), written)
    for path in written:
        log(f"  wrote {path.relative_to(REPO_ROOT)}")
    if not written:
        log("  everything was up to date")
    return written


def write_source_notebooks(target_root: Path, lessons: list[str] | None = None) -> list[str]:
    """Write nbgrader's ``source/<id>/<id>.ipynb`` under ``target_root`` (used when grading)."""
    ids = []
    for source in lesson_sources():
        if lessons and source.stem not in lessons:
            continue
        folder = Path(target_root) / "source" / source.stem
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        nbformat.write(read_source(source), folder / f"{source.stem}.ipynb")
        ids.append(source.stem)
    return ids

