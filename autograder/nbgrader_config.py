"""nbgrader settings for the course. The grading commands (`python -m autograder ...`) load this
file and set the course folder and the gradebook themselves; nbgrader's own command line finds it
when run from this folder."""
c = get_config()  # noqa: F821 - defined by traitlets when it loads this file

import os  # noqa: E402

from autograder.execution import CELL_TIMEOUT_S  # noqa: E402

c.CourseDirectory.course_id = "gradcam-course"
# nbgrader's exchange (for JupyterHub set-ups) defaults to a system folder that a normal user
# cannot write; keep it beside this file so that no command complains about it.
c.Exchange.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange")
# The build writes only .ipynb into the source folder, but nbgrader copies every other file of a
# source folder into the student release: never let a paired solution script slip through.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py",
                            "outputs"]
# What an unanswered exercise looks like: it fails loudly when run.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Seconds per cell when grading: the one limit that Validate and the self-check use too.
c.Execute.timeout = CELL_TIMEOUT_S
# A deleted test cell is restored (and the log says so) instead of silently scoring zero.
c.OverwriteCells.add_missing_cells = True

# Feedback for students shows each exercise's result and message but never the hidden tests
# (their block in the notebook is one call into autograder/checks; a failure's traceback stops at
# that call, see autograder/checks/__init__.py).
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import ClearHiddenTests, GetGrades  # noqa: E402

c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
