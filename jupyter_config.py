"""Jupyter server configuration for the course, passed in by `make lab`.

`jupyter lab` does not pick up a jupyter_config.py from the current folder by itself, so the
Makefile runs `jupyter lab --config=jupyter_config.py ...`. Every path below is computed from
this file's location, so the server behaves the same whatever folder it is started from.

What this file does not set, on purpose:
- the token: Jupyter's default token authentication stays on. Even on a single-user machine, a
  server without a token lets any local process or web page that can reach the port run code.
  Jupyter prints the URL with the token at start-up; open that one.
- the "open .py files as notebooks" setting: that is a JupyterLab (front-end) setting, not a
  server one. `make setup` writes it into the virtual environment (see utils/lab_settings.py).
"""

import sys
from pathlib import Path

c = get_config()  # noqa: F821 - traitlets defines get_config() when it loads this file

REPO_ROOT = Path(__file__).resolve().parent  # the repository, or the root of a student bundle
COURSE_DIR = REPO_ROOT / "course"

# The course's server extension (autograder/lab.py) is imported by name. The repository is
# installed in its venv, but a student bundle is not a package: put this folder on the server's
# import path so `autograder.lab` is found in both.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
from autograder.lab import NBGRADER_SERVER_EXTENSIONS, jupytext_settings  # noqa: E402

# --- What the server shows ------------------------------------------------------------------
# Students see the lessons and nothing else of the repository (solutions/, autograder/, ...).
# The server refuses to start if its root folder is missing, so create it in a fresh checkout.
COURSE_DIR.mkdir(exist_ok=True)
c.ServerApp.root_dir = str(COURSE_DIR)

# --- How the server is reached --------------------------------------------------------------
# Do not try to open a browser: the course often runs in a container, over SSH or in CI, where
# there is none. The URL to open (with its token) is printed in the terminal instead.
c.ServerApp.open_browser = False
# Listen on the loopback interface only, so the server is not reachable from the network, and
# the printed URL is http://127.0.0.1:<port>/lab?token=..., which can be copied and opened as is.
# (`make lab` passes the same value on the command line, along with the port.)
c.ServerApp.ip = "127.0.0.1"

# No keep-alive pings on the kernels' websockets. They detect clients that vanish behind a proxy
# or VPN, which cannot happen on loopback; and jupyter_server 2.21 hands its interval, in
# milliseconds, to tornado 6.5, which reads seconds and logs a websocket_ping_timeout warning
# at every connection.
c.ServerApp.tornado_settings = {"ws_ping_interval": 0}

# --- Jupytext: lessons are .ipynb/.py pairs ------------------------------------------------
# Jupytext's server extension replaces the contents manager so that .py scripts open as
# notebooks and saving a notebook also writes its paired script. It is enabled by default
# when jupytext is installed; enable it explicitly so the course does not depend on that.
c.ServerApp.jpserver_extensions.update({"jupyterlab_jupytext": True})

# Jupytext's contents manager looks for jupytext.toml only inside the folder the server serves
# (course/), so it cannot see the repository's jupytext.toml one level up. Hand its settings
# (pairing formats, metadata filters that keep nbgrader's cell metadata) to the contents
# manager, so the server, the build and the `jupytext` command line write the same bytes.
for option, value in jupytext_settings().items():
    c.JupytextConfiguration[option] = value

# --- nbgrader: the Validate button, and nothing of the instructor's -------------------------
# autograder/lab.py serves Validate for a lesson opened from its .ipynb or its .py and hides
# the formgrader, Create Assignment and the assignment/course lists (they need the instructor's
# course folder or an exchange; see docs/student_guide.md). `make lab-instructor` has them.
c.ServerApp.jpserver_extensions.update({"autograder.lab": True})
c.ServerApp.jpserver_extensions.update({name: False for name in NBGRADER_SERVER_EXTENSIONS})

# --- Quieter start for an offline course ----------------------------------------------------
# No "check for updates" requests: the course machines may have no internet access. (The
# "Jupyter news" pop-up is a front-end setting: `make setup` turns it off in
# utils/lab_settings.py.)
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
