"""Grading kernels forked from a process that has already imported what every lesson imports.

A fresh kernel spends about 4 s of CPU importing ipykernel, torch, torchvision (which pulls in
torch._dynamo), matplotlib, the hidden checks and the reference before the first cell runs: a
third of a fast-mode lesson's grading time. Each grading worker therefore keeps one *fork
server*: a process that imports all that once (`PRELOAD`) and then forks a child per kernel.
A child is a new process with its own memory (copy-on-write), its own session, the kernel's
environment and working folder, and runs ipykernel exactly as `python -m ipykernel_launcher`
would; nothing one submission does reaches the next. PyTorch's DataLoader forks after importing
torch in the same way.

`ForkingKernelManager` is the kernel manager nbgrader's execution uses while grading (see
`autograder.output_budget.BudgetedExecute`). A kernel command that is not ipykernel's is started
as Jupyter starts it. A kernel environment that differs from the server's (other than the
variables set anew for each kernel) starts a new server: libraries read some variables once, at
import (thread counts, malloc settings, matplotlib's backend), so a forked kernel must not
inherit the server's if they differ from its own.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

# and every module of autograder/checks/ (found there, so a new lesson's checks come too)
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "numpy", "PIL.Image", "torch",
           "torchvision", "matplotlib", "matplotlib.figure", "utils.checking", "utils.datasets",
           "utils.figures", "utils.models")
# matplotlib reads its backend from the environment when it is imported: the one ipykernel
# sets for its kernels, so that figures still show inline (pyplot itself is not preloaded)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
LAUNCHER = ["-m", "ipykernel_launcher"]
# Linux only (forking a process that has loaded system frameworks is unsafe on macOS);
# AUTOGRADER_KERNEL_FORKS=0 starts every kernel afresh, as Jupyter does
ENABLED = sys.platform.startswith("linux") and os.environ.get("AUTOGRADER_KERNEL_FORKS") != "0"
# variables a kernel's launch sets anew each time, which nothing reads at import time
PER_KERNEL = ("JPY_PARENT_PID", "JPY_SESSION_NAME", "PYDEVD_DISABLE_FILE_VALIDATION")


# ------------------------------------------------------------------ the server process itself
def serve(requests_fd: int, replies_fd: int) -> None:
    """Import `PRELOAD`, then fork one kernel per request line read from ``requests_fd``;
    write each kernel's pid to ``replies_fd``. Ends when the grader closes its end."""
    import importlib
    import pkgutil

    import autograder.checks

    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    checks = [f"autograder.checks.{module.name}"
              for module in pkgutil.iter_modules(autograder.checks.__path__)]
    for name in [*PRELOAD, *checks]:
        importlib.import_module(name)
    # children are reaped by the system; the grader watches them by pid
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    with open(requests_fd, "rb") as requests, open(replies_fd, "wb", buffering=0) as replies:
        for line in requests:
            pid = os.fork()
            if pid == 0:
                os.close(requests_fd)
                os.close(replies_fd)
                _become_kernel(json.loads(line))
            replies.write(f"{pid}\n".encode())


def _become_kernel(request: dict) -> None:
    """In the forked child: take the kernel's session, folder and environment, run ipykernel."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the kernel waits for its own children
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = request["cwd"]  # as `python -m` puts the working folder first
        sys.argv = [request["argv"][0]]
        _reseed()
        from ipykernel.kernelapp import launch_new_instance

        # The kernel's parent is this server, which ends with the grader: ipykernel then exits,
        # as a kernel that Jupyter started does when the process that started it ends. (Given
        # on the command line: ipykernel read JPY_PARENT_PID when the server imported it.)
        launch_new_instance(argv=[*request["argv"][1:],
                                  f"--IPKernelApp.parent_handle={os.getppid()}"])
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os._exit(code)


def _reseed() -> None:
    """A fresh process draws fresh random state; a forked one would repeat the server's."""
    import random

    import numpy

    random.seed()
    numpy.random.seed()


# ------------------------------------------------------------------ the grader's side
class ForkedKernel:
    """The little of `subprocess.Popen` that a kernel provisioner uses, for a forked kernel.

    The server ignores SIGCHLD, so a kernel that ends is gone at once: no exit status is
    kept, and -1 stands for it."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkServer:
    """One fork server process, started with the environment its kernels need."""

    def __init__(self, env: dict):
        self.env = env
        self.folder = tempfile.mkdtemp(prefix="kernel-forks-")
        requests_read, self._requests = os.pipe()
        self._replies, replies_write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from autograder.kernel_forks import serve; "
                                   f"serve({requests_read}, {replies_write})"],
            stdin=subprocess.DEVNULL, pass_fds=(requests_read, replies_write), cwd=self.folder,
            env=env)
        os.close(requests_read)
        os.close(replies_write)
        self.requests = os.fdopen(self._requests, "wb", buffering=0)
        self.replies = os.fdopen(self._replies, "rb")

    def fork(self, argv: list[str], env: dict, cwd: str) -> ForkedKernel:
        request = {"argv": argv, "env": env, "cwd": cwd}
        try:
            self.requests.write(json.dumps(request).encode() + b"\n")
            reply = self.replies.readline()
        except BrokenPipeError:
            reply = b""
        if not reply:
            raise RuntimeError(f"the kernel fork server stopped (exit {self.process.wait()})")
        return ForkedKernel(int(reply))

    def stop(self) -> None:
        self.requests.close()  # the server's loop ends; its kernels see their parent go
        self.replies.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_server: ForkServer | None = None
_lock = threading.Lock()


def fork_kernel(cmd: list[str], env: dict, cwd: str) -> ForkedKernel | None:
    """A kernel forked from this process's fork server, or None when ``cmd`` is not
    ipykernel's launcher run by this interpreter (then the caller starts it as usual)."""
    global _server
    ours = os.path.realpath(cmd[0]) == os.path.realpath(sys.executable)
    if not ENABLED or cmd[1:3] != LAUNCHER or not ours:
        return None
    settings = {k: v for k, v in env.items() if k not in PER_KERNEL}
    with _lock:
        if _server is None or _server.env != settings or _server.process.poll() is not None:
            if _server is not None:
                _server.stop()
            else:
                atexit.register(lambda: _server and _server.stop())
            _server = ForkServer(settings)
        return _server.fork(["ipykernel_launcher", *cmd[3:]], env, cwd)


class ForkingProvisioner(LocalProvisioner):
    """Jupyter's local provisioner, launching ipykernel kernels as forks (see `fork_kernel`)."""

    async def launch_kernel(self, cmd: list[str], **kwargs):
        cwd = str(kwargs.get("cwd") or os.getcwd())
        kernel = fork_kernel(cmd, dict(kwargs.get("env") or os.environ), cwd)
        if kernel is None:
            return await super().launch_kernel(cmd, **kwargs)
        self.process, self.pid, self.pgid, self.cwd = kernel, kernel.pid, kernel.pid, cwd
        return self.connection_info


class ForkingKernelManager(AsyncKernelManager):
    """The async kernel manager nbgrader uses, with kernels launched by `ForkingProvisioner`."""

    async def _async_pre_start_kernel(self, **kw):
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = ForkingProvisioner(kernel_id=self.kernel_id,
                                                  kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)
