"""Running `python -m autograder ...` the way a user does, and reading what the user sees.

Shared by tests/test_bad_commands.py and tests/test_bad_gradebooks.py.
"""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.build import lesson_sources

LESSON, OTHER = "01_finetune_resnet", "02_gradcam_tutorial"
LESSONS = [source.stem for source in lesson_sources()]
ROOT = Path(__file__).resolve().parent.parent


def autograder(*args, cwd=ROOT, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def snapshot(folder: Path) -> dict:
    """Every file and folder under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
            for p in sorted(Path(folder).rglob("*"))}


def one_paragraph_error(run: subprocess.CompletedProcess) -> str:
    """The message of a refused command: exit code 2, one line on stderr, no traceback."""
    assert run.returncode == 2, (run.returncode, run.stdout[-2000:], run.stderr[-3000:])
    assert "Traceback" not in run.stderr + run.stdout, run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def write(path: Path, nb) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
