"""Make JupyterLab open the course's .py lessons as notebooks.

Run by `make setup` as `python -m utils.lab_settings`.

Each lesson is a pair: an .ipynb and a py:percent script (see jupytext.toml). Jupytext's server
extension can serve either file as a notebook, but which editor JupyterLab opens on a
double-click is a front-end setting: the Document Manager's "defaultViewers", which maps a file
type to the name of a document factory. Jupytext registers its factory as "Jupytext Notebook",
so mapping the "python" file type to it makes .py files open as notebooks; .ipynb files
("notebook" file type) keep JupyterLab's own "Notebook" factory.

`jupytext-config set-default-viewer` would do the same, but in the user's home folder, where it
would leak into every other JupyterLab of that user. Instead this module writes the setting as
a default override for the JupyterLab installed in the course's virtual environment:
<app dir>/settings/overrides.json, where the app dir is `sys.prefix/share/jupyter/lab` (or
$JUPYTERLAB_DIR when that is set). JupyterLab reads that file at start-up and uses it to change
the settings' defaults, so a student's own choice in the Settings editor still wins.

The same file turns off JupyterLab's "get notified about official Jupyter news?" pop-up and its
update check (the notification plugin's fetchNews and checkForUpdates): the course runs offline,
and a pop-up on every page would hide the lesson. A server option (LabApp.news_url) does not
stop the pop-up, which the front end shows while fetchNews is still undecided.

Any other content of overrides.json is kept; running this module again changes nothing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

DOCMANAGER_PLUGIN = "@jupyterlab/docmanager-extension:plugin"
NOTIFICATION_PLUGIN = "@jupyterlab/apputils-extension:notification"
# "false" (a string in JupyterLab's schema: "true", "false" or "none" = ask) and no update check.
NOTIFICATION_SETTINGS = {"fetchNews": "false", "checkForUpdates": False}

# File type name (as JupyterLab's document registry knows it) -> document factory name.
DEFAULT_VIEWERS = {
    # Jupytext's factory; the name is the FACTORY constant of the jupyterlab-jupytext extension.
    "python": "Jupytext Notebook",
    # JupyterLab's own notebook editor: already the default, stated so that it stays that way.
    "notebook": "Notebook",
}


def lab_app_dir() -> Path:
    """The JupyterLab application folder of this Python environment."""
    try:
        from jupyterlab.commands import get_app_dir
    except ImportError:  # JupyterLab not installed (yet): use its default location
        return Path(os.environ.get("JUPYTERLAB_DIR") or Path(sys.prefix, "share", "jupyter", "lab"))
    return Path(get_app_dir())


def overrides_path(app_dir: Path | None = None) -> Path:
    """Where JupyterLab reads the default overrides of its settings."""
    return Path(app_dir if app_dir is not None else lab_app_dir()) / "settings" / "overrides.json"


def merged_overrides(existing: dict) -> dict:
    """A copy of `existing` with the course's settings added (ours win on conflicts)."""
    merged = json.loads(json.dumps(existing))  # deep copy of plain JSON data
    docmanager = merged.setdefault(DOCMANAGER_PLUGIN, {})
    viewers = docmanager.setdefault("defaultViewers", {})
    viewers.update(DEFAULT_VIEWERS)
    merged.setdefault(NOTIFICATION_PLUGIN, {}).update(NOTIFICATION_SETTINGS)
    return merged


def write_overrides(path: Path | None = None) -> tuple[Path, bool]:
    """Merge the course's settings into overrides.json; return its path and whether it changed."""
    path = Path(path) if path is not None else overrides_path()
    existing: dict = {}
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if text.strip():
            try:
                existing = json.loads(text)
            except json.JSONDecodeError as err:
                # Refuse rather than overwrite settings someone wrote by hand.
                raise SystemExit(f"{path} is not valid JSON ({err}); fix or remove it, then rerun.")
            if not isinstance(existing, dict):
                raise SystemExit(f"{path} should hold a JSON object; fix or remove it, then rerun.")

    merged = merged_overrides(existing)
    if merged == existing:
        return path, False

    # Write to a temporary file and rename it, so a JupyterLab starting meanwhile never reads
    # a half-written file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".overrides-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(merged, stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path, True


def main() -> None:
    path, changed = write_overrides()
    state = "updated" if changed else "already up to date"
    print(f"JupyterLab settings {state}: {path} (.py files open as notebooks via Jupytext; "
          "no news pop-up)")


if __name__ == "__main__":
    main()
