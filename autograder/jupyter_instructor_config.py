"""Jupyter server configuration of the instructor's lab, passed in by `make lab-instructor`.

The student lab (jupyter_config.py) hides nbgrader's instructor tools; this one keeps them all:
the formgrader, Create Assignment, the assignment and course lists, and nbgrader's own Validate.
The formgrader works on the nbgrader course folder, which is this folder (autograder/: its
nbgrader_config.py, the gradebook and source/ written by `python -m autograder grade`), so the
server serves this folder and is started from it.
"""
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - traitlets defines get_config() when it loads this file

COURSE_FOLDER = Path(__file__).resolve().parent          # autograder/
sys.path.insert(0, str(COURSE_FOLDER.parent))
from autograder.lab import jupytext_settings  # noqa: E402

c.ServerApp.root_dir = str(COURSE_FOLDER)
# nbgrader's exchange (Exchange.root in nbgrader_config.py: autograder/exchange, git-ignored)
# must exist, or every panel that lists assignments logs a critical "Unwritable directory".
# The course hands lessons out as a bundle (`python -m autograder release`), so it stays empty
# unless the instructor uses nbgrader's own release.
(COURSE_FOLDER / "exchange").mkdir(exist_ok=True)
c.ServerApp.open_browser = False  # print the URL with its token instead (containers, SSH)
c.ServerApp.ip = "127.0.0.1"      # loopback only

# The same pairing and metadata filters as the build and the student lab (jupytext.toml).
c.ServerApp.jpserver_extensions.update({"jupyterlab_jupytext": True})
for option, value in jupytext_settings().items():
    c.JupytextConfiguration[option] = value

# Every nbgrader extension on, stated so that a change of defaults does not hide them.
c.ServerApp.jpserver_extensions.update({
    f"nbgrader.server_extensions.{name}": True
    for name in ("formgrader", "assignment_list", "course_list", "validate_assignment")})

# No keep-alive pings on loopback (see jupyter_config.py: they only add a warning here).
c.ServerApp.tornado_settings = {"ws_ping_interval": 0}
c.LabApp.news_url = None  # offline: no update check (the news pop-up: utils/lab_settings.py)
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
