"""Installing a Debian package that a test needs (as root), one apt-get at a time: apt refuses
to run while another apt-get holds its lock (two test runs at once, each missing a package)."""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess

LOCK = "/tmp/gradcam-course-apt.lock"


def apt_install(package: str) -> str | None:
    """Install ``package`` with apt-get; return None, or why it could not be installed."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"it needs root and apt-get to install it (apt-get install {package})"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for command in (["apt-get", "update", "-qq"],
                        ["apt-get", "install", "-y", "-qq", package]):
            result = subprocess.run(command, env=env, capture_output=True, text=True,
                                    timeout=900)
            if result.returncode != 0:
                return f"{' '.join(command)} failed:\n{result.stderr[-1500:]}"
    return None
