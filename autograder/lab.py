"""The course's Jupyter server extension for the student lab (`make lab`, jupyter_config.py).

It does two things nbgrader's own extensions get wrong for this course:

- **Validate from either file of a lesson.** Lessons open from their ``.py`` (Jupytext's
  notebook view is the default viewer), and nbgrader's Validate button then posts the ``.py``
  path, which nbgrader reads as JSON (``NotJSONError``). Here ``/assignments/validate`` maps a
  paired ``.py`` to the ``.ipynb`` beside it (the button saves first, and saving writes both
  files), so both views give the same result; a ``.py`` without its notebook gets a message
  saying what to do. Validation runs with the course's cell time limit (autograder/execution.py)
  instead of looking for an nbgrader_config.py in the server's folder.
- **No instructor tools.** The formgrader, "Create Assignment" and the assignment and course
  lists need the instructor's course folder or an nbgrader exchange, which a student does not
  have; shown anyway they fail ("Error fetching courses!") and fill the log with critical
  lines. The page config hook below hides their front-end plugins; jupyter_config.py turns
  off their server extensions. `make lab-instructor` has them all.

Shipped in the student bundle with jupyter_config.py, so the bundle's lab behaves the same.
"""
from __future__ import annotations

from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # Python 3.10: Jupytext depends on tomli there
    import tomli as tomllib

from autograder.execution import CELL_TIMEOUT_S

ROOT = Path(__file__).resolve().parent.parent  # the repository, or the student bundle
JUPYTEXT_TOML = ROOT / "jupytext.toml"

# nbgrader front-end plugins a student lab hides; only "validate-assignment" (the button) stays.
INSTRUCTOR_PLUGINS = ["@jupyter/nbgrader:menu", "@jupyter/nbgrader:formgrader",
                      "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
                      "@jupyter/nbgrader:create-assignment"]
# nbgrader server extensions the student lab turns off (the course's handler replaces validate).
NBGRADER_SERVER_EXTENSIONS = ["nbgrader.server_extensions.formgrader",
                              "nbgrader.server_extensions.assignment_list",
                              "nbgrader.server_extensions.course_list",
                              "nbgrader.server_extensions.validate_assignment"]


def jupytext_settings(path: Path = JUPYTEXT_TOML) -> dict:
    """jupytext.toml's settings, for a server config (the server cannot see the file itself)."""
    if not path.is_file():
        return {}
    with path.open("rb") as stream:
        return tomllib.load(stream)


def notebook_to_validate(root: Path, path: str) -> tuple[str | None, str]:
    """(path of the .ipynb to validate, relative to ``root``, or None; message when None)."""
    relative = Path(path)
    if relative.suffix == ".ipynb":
        return path, ""
    if relative.suffix != ".py":
        return None, (f"{path} is not a lesson notebook: Validate checks a lesson's .ipynb "
                      "(or its paired .py); open one of those and press Validate again.")
    notebook = relative.with_suffix(".ipynb")
    if (root / notebook).is_file():
        return notebook.as_posix(), ""
    return None, (f"{path} has no notebook beside it ({notebook.name} is missing), and Validate "
                  f"checks the notebook. Pair the script with it: in a terminal, run\n\n"
                  f"    jupytext --set-formats ipynb,py:percent {path}\n\n"
                  f"(from the folder the lab shows), then press Validate again. Or run the "
                  f"self-check from the course's root folder:\n\n"
                  f"    python -m autograder check course/{path}")


def _handlers():
    from nbgrader.server_extensions.validate_assignment.handlers import (
        NbGraderVersionHandler, ValidateAssignmentHandler)
    from traitlets.config import Config

    class CourseValidateHandler(ValidateAssignmentHandler):
        """nbgrader's Validate, for the .ipynb of a lesson opened from either of its files."""

        def load_config(self):
            config = Config()
            config.Execute.timeout = CELL_TIMEOUT_S
            return config

        def validate_notebook(self, path):
            notebook, problem = notebook_to_validate(Path(self.root_dir), path)
            if notebook is None:
                return {"success": False, "value": problem}
            return super().validate_notebook(notebook)

    return [("/assignments/validate", CourseValidateHandler),
            ("/nbgrader_version", NbGraderVersionHandler)]


def hide_instructor_plugins(handler, page_config: dict) -> dict:
    """JupyterLab's page config hook: add the instructor's plugins to the disabled ones."""
    disabled = list(page_config.get("disabledExtensions", []))
    page_config["disabledExtensions"] = disabled + [p for p in INSTRUCTOR_PLUGINS
                                                   if p not in disabled]
    return page_config


def _jupyter_server_extension_points():
    return [{"module": "autograder.lab"}]


def _load_jupyter_server_extension(serverapp):
    from jupyter_server.utils import url_path_join

    web_app = serverapp.web_app
    web_app.settings["root_dir"] = serverapp.root_dir  # what nbgrader's handler reads
    web_app.settings["page_config_hook"] = hide_instructor_plugins
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [(url_path_join(base_url, pattern), handler)
                                 for pattern, handler in _handlers()])
    serverapp.log.info("course lab: Validate accepts a lesson's .py or .ipynb; instructor "
                       "tools hidden")
