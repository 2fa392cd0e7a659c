"""Grading kernels forked from a server that has imported torch (autograder/kernel_forks.py)
behave as freshly started ones: their own folder, environment and random state, nothing left
over from the kernel before, figures inline, interrupted at the time limit, gone with the server.
Real ipykernel kernels run by nbclient, as nbgrader runs them."""
import asyncio
import os
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from autograder import kernel_forks
from autograder.execution import environment
from autograder.kernel_forks import ForkingKernelManager

pytestmark = pytest.mark.skipif(not kernel_forks.ENABLED,
                                reason="grading kernels are forked on Linux only")

PROBE = """import os, random, sys
print('preloaded' if 'torchvision' in sys.modules else 'fresh')
print(open(f'/proc/{os.getppid()}/cmdline', 'rb').read().count(b'kernel_forks'))
print(os.getcwd(), sys.path[0], os.environ.get('COURSE_PROBE'), random.random())
import torch
print(torch.allclose is None)
torch.allclose = None"""


# A server is started for each environment its kernels need; pytest names the running test in
# the environment, so kernels started without it share one server across these tests.
UNNAMED = {"PYTEST_CURRENT_TEST": None}


def run(folder, *cells, timeout=60):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    with environment(**UNNAMED):
        NotebookClient(nb, kernel_manager_class=ForkingKernelManager, kernel_name="python3",
                       timeout=timeout, interrupt_on_timeout=True, allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def printed(cell) -> list[str]:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream").split()


def test_each_kernel_is_a_fresh_fork_in_its_own_folder_and_environment(tmp_path):
    first, second = tmp_path / "ada", tmp_path / "bo"
    first.mkdir(), second.mkdir()
    ada = printed(run(first, PROBE).cells[0])
    bo = printed(run(second, PROBE).cells[0])
    assert ada[:2] == bo[:2] == ["preloaded", "1"]  # a child of the server, torch imported
    assert ada[2:5] == [str(first), str(first), "None"]
    assert bo[2:5] == [str(second), str(second), "None"]
    assert ada[5] != bo[5], "two kernels drew the same random number"
    assert ada[6] == bo[6] == "False", "a change made in one kernel reached the next"


def test_figures_show_inline(tmp_path):
    nb = run(tmp_path, "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()")
    assert any("image/png" in o.get("data", {}) for o in nb.cells[0].outputs)


def test_a_cell_past_the_time_limit_is_interrupted_and_the_next_runs(tmp_path):
    nb = run(tmp_path, "while True:\n    pass", "print('after')", timeout=3)
    assert [o.ename for o in nb.cells[0].outputs if o.output_type == "error"] == \
        ["KeyboardInterrupt"]
    assert printed(nb.cells[1]) == ["after"]


def test_a_kernel_that_exits_is_seen_to_die(tmp_path):
    with pytest.raises(DeadKernelError):
        run(tmp_path, "import os\nos._exit(3)", "print('never')")


def test_another_environment_gets_a_server_of_its_own(tmp_path):
    run(tmp_path, "pass")
    server = kernel_forks._server
    with environment(COURSE_PROBE="two"):
        seen = printed(run(tmp_path, PROBE).cells[0])
    assert seen[4] == "two" and kernel_forks._server is not server
    assert server.process.poll() is not None, "the replaced server still runs"


def test_kernels_end_with_their_server(tmp_path):
    async def start():
        manager = ForkingKernelManager(kernel_name="python3")
        await manager.start_kernel(cwd=str(tmp_path))
        assert await manager.is_alive()
        return manager.provisioner.process

    with environment(COURSE_PROBE="two", **UNNAMED):  # the test before's server
        kernel = asyncio.run(start())
    kernel_forks._server.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and kernel.poll() is None:
        time.sleep(0.2)
    assert kernel.poll() is not None, f"kernel {kernel.pid} outlived its server"


def test_a_command_that_is_not_ipykernel_is_left_to_jupyter():
    assert kernel_forks.fork_kernel(["/bin/sh", "-c", "true"], dict(os.environ), "/") is None
