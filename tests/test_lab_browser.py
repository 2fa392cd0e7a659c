"""The student's path through `make lab` in a real browser: open, read, run, Validate, save.

Debian's chromium (installed here with apt when it is missing and the test runs as root; else
the test is skipped and says why), driven by Playwright from the package index with the system
browser (Playwright's own browser download does not work here). The server is `make lab`'s
(tests/lab_server.py: same command line and config) in fast mode. The lessons are copies under
course/_lab_test_tmp/browser/, so the committed lessons are never touched; screenshots (and
failure.png, where a step failed) are kept under the test's temporary folder. The test fails on
any browser console error or bad server log line.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import time
from pathlib import Path

import pytest

from lab_server import BAD_LOG_LINE, REPO_ROOT, course_scratch, lab_path, running_lab
from system_packages import apt_install

CHROMIUM = Path("/usr/bin/chromium")
COURSE_DIR = REPO_ROOT / "course"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
VALIDATE_TIMEOUT_MS = 240_000
EDIT = "# edited in the browser"


def _chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    why = apt_install("chromium")
    if why:
        pytest.skip(f"{CHROMIUM} is missing and could not be installed, so there is no "
                    f"browser to test with: {why}")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install -e '.[dev]')")
    executable = _chromium()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True,
                                             args=BROWSER_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def lessons():
    """Copies of lessons 01 and 02 under course/_lab_test_tmp/browser/, removed afterwards."""
    with course_scratch("browser") as root:
        for lesson in ("01_finetune_resnet", "02_gradcam_tutorial"):
            shutil.copytree(COURSE_DIR / lesson, root / lesson,
                            ignore=shutil.ignore_patterns("outputs", ".ipynb_checkpoints"))
        yield root


def _open(page, server, path: Path):
    page.goto(f"{server.base_url}/lab/tree/{lab_path(path)}?token={server.token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    # the kernel is connected when the status says Idle
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) "
                           ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)


def _assert_not_dirty(page, what: str):
    tab = page.locator(".lm-TabBar-tab.lm-mod-current")
    assert "jp-mod-dirty" not in (tab.first.get_attribute("class") or ""), (
        f"{what}: the untouched lesson shows the unsaved-changes dot")


def _run_first_cells(page, count: int):
    """Shift+Enter from the first cell: runs (or renders) the first ``count`` cells."""
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    notebook.locator(".jp-Cell").first.locator(".jp-InputPrompt").click()
    for _ in range(count):
        page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
        ".jp-CodeCell .jp-InputPrompt')].slice(0, 3).every(p => /\\[\\d+\\]/.test(p.textContent))",
        timeout=120_000)


@contextlib.contextmanager
def _screenshot_on_failure(page, shots: Path):
    """Keep what the page showed when a step failed (failure.png), and say where it is."""
    try:
        yield
    except Exception as error:  # any failed step, assertion or timeout
        page.screenshot(path=str(shots / "failure.png"))
        print(f"{type(error).__name__}: the page at that moment: {shots / 'failure.png'}")
        raise


def _validate(page, shots: Path, name: str) -> str:
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=VALIDATE_TIMEOUT_MS)
    text = dialog.inner_text()
    page.screenshot(path=str(shots / f"validate_{name}.png"))
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    dialog.wait_for(state="detached")
    return text


def test_student_path_in_a_real_browser(browser, lessons, tmp_path, plants):
    started = time.monotonic()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    console_errors: list[str] = []
    with running_lab(tmp_path, env_extra={"COURSE_FAST": "1"}) as server:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
        page.on("pageerror", lambda err: console_errors.append(str(err)))

        with _screenshot_on_failure(page, shots):
            # Lesson 01 from its notebook: no news pop-up, no unsaved dot, Validate lists the work.
            _open(page, server, lessons / "01_finetune_resnet" / "01_finetune_resnet.ipynb")
            page.wait_for_timeout(2000)  # time for a pop-up or a metadata change to show up
            assert page.locator(".jp-toast-container :text('Jupyter news')").count() == 0
            _assert_not_dirty(page, "lesson 01 .ipynb")
            assert page.locator("#jp-mainmenu-nbgrader").count() == 0  # no instructor menu
            assert page.locator(".jp-SideBar [title*='Create Assignment']").count() == 0
            page.screenshot(path=str(shots / "lesson01_open.png"))
            _run_first_cells(page, 4)
            result_01 = _validate(page, shots, "lesson01_ipynb")
            assert "Validation Results" in result_01
            assert result_01.count("NotImplementedError") >= 1, result_01

            # Lesson 02 from its script (the default viewer): math renders, setup runs, Validate
            # checks the paired notebook instead of failing on the .py.
            _open(page, server, lessons / "02_gradcam_tutorial" / "02_gradcam_tutorial.py")
            # MathJax 3 typesets each formula into an <mjx-container> (with an SVG or CHTML inside)
            page.wait_for_function(
                "() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) "
                ".jp-RenderedMarkdown mjx-container').length >= 3", timeout=60_000)
            page.wait_for_timeout(2000)
            _assert_not_dirty(page, "lesson 02 .py")
            _run_first_cells(page, 4)
            result_02 = _validate(page, shots, "lesson02_py")
            assert "Validation Results" in result_02 and "NotImplementedError" in result_02
            assert "NotJSONError" not in result_02 and "error running the validate" not in result_02

            # Edit an answer cell and save: both files change by that one line, metadata kept.
            folder = lessons / "02_gradcam_tutorial"
            before = (folder / "02_gradcam_tutorial.py").read_text()
            answer = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").filter(
                has_text="def capture_activations").first
            answer.locator(".cm-content").click()
            page.keyboard.press("Control+End")
            page.keyboard.type("\n" + EDIT)
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 30
            while EDIT not in (folder / "02_gradcam_tutorial.py").read_text():
                assert time.monotonic() < deadline, "saving did not write the .py"
                time.sleep(0.25)
            page.screenshot(path=str(shots / "lesson02_saved.png"))
            _check_saved_pair(folder, before)
        page.close()
        bad = [line for line in server.log().splitlines() if BAD_LOG_LINE.search(line)]
    assert not console_errors, "browser console errors:\n" + "\n".join(console_errors)
    assert not bad, "server log:\n" + "\n".join(bad)
    print(f"browser path: {time.monotonic() - started:.0f} s; screenshots in {shots}")


def _check_saved_pair(folder: Path, before: str) -> None:
    import nbformat

    after = (folder / "02_gradcam_tutorial.py").read_text()
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    # one line more (indented by the editor, inside the function), nothing else changed
    assert [line.strip() for line in added] == [EDIT], added
    assert after.replace(added[0] + "\n", "", 1) == before
    nb = nbformat.read(folder / "02_gradcam_tutorial.ipynb", as_version=4)
    edited = [cell for cell in nb.cells if EDIT in cell.source]
    assert len(edited) == 1
    meta = edited[0].metadata
    assert meta["nbgrader"]["grade_id"] == "capture_activations" and meta["deletable"] is False
    header = next(line for line in after.splitlines()
                  if '"grade_id": "capture_activations"' in line)
    assert re.match(r"# %% deletable=false nbgrader=", header), header
