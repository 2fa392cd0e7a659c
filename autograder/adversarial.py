"""Submissions broken or dishonest in one known way each, with the score each must get.

The integrity tests grade them all (tests/test_grading_integrity.py) and the cohort benchmark
mixes them into a class (benchmarks/grading_cohort.py). All are lesson 02 (its points: POINTS, read from the lesson).
GradCAM calls the student's other functions, so breaking one of them costs GradCAM's 3 points
as well.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from autograder.build import LESSONS_DIR
from autograder.lessons import read_lesson
from autograder.samples import make_submission

LESSON = "02_gradcam_tutorial"
# each exercise's points, in notebook order, read from the lesson's test cells (their one home)
POINTS = read_lesson(LESSONS_DIR / f"{LESSON}.py").points
FULL = sum(POINTS.values())


def _before(answer: str) -> int:
    """The points of the exercises before ``answer``: what a submission flagged there keeps."""
    names = list(POINTS)
    return sum(POINTS[name] for name in names[:names.index(answer)])


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with(grade_id, extra, answered="all", before=False):
    nb = make_submission(LESSON, answered)
    cell = _cell(nb, grade_id)
    cell.source = f"{extra}\n{cell.source}" if before else f"{cell.source}\n{extra}"
    return nb


def _without(*grade_ids):
    nb = make_submission(LESSON, "all")
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids]
    return nb


def partial(answered: int) -> tuple[nbformat.NotebookNode, int]:
    """A submission with the first ``answered`` exercises solved, and the score it must get."""
    ids = list(POINTS)[:answered]
    return make_submission(LESSON, ids), sum(POINTS[i] for i in ids)


def _edited_test():
    nb = _without("test_channel_weights")
    _cell(nb, "test_weighted_combination").source = "pass  # no test here"
    return nb


def _duplicated_answer():
    nb = make_submission(LESSON, "all")
    answer = _cell(nb, "channel_weights")
    stub = copy.deepcopy(answer)
    stub.source, stub.id = "raise NotImplementedError()", "copied-stub"
    nb.cells.insert(nb.cells.index(answer), stub)  # the student worked in a copy below the stub
    return nb


def _pretend_tensor():
    nb = make_submission(LESSON, "all")
    _cell(nb, "channel_weights").source = (
        "class Anything:\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "def channel_weights(gradients):\n"
        "    return Anything()\n")
    return nb


def _shadowing():
    """The fake package is written in the first answer cell, before any hidden test has run;
    channel_weights then only knows the visible test's answer."""
    nb = _with("capture_activations", SHADOW, before=True)
    _cell(nb, "channel_weights").source = ("def channel_weights(gradients):\n"
                                           "    return torch.tensor([[3.5, 11.5]])")
    return nb


# Zeroes the hidden test's own input through the caller's frame, so that the reference's answer
# is zero too, and hard-codes the visible test's answer. Without the flag it fools the check.
READS_FRAME = """import sys
def channel_weights(gradients):
    caller = sys._getframe(1).f_locals
    if "gradients" in caller:
        caller["gradients"].zero_()
        return torch.zeros(gradients.shape[:2])
    return torch.tensor([[3.5, 11.5]])
"""

# Exact on the visible tests' values, lenient on everything else: negative controls with
# obviously wrong shapes or values still fail.
SUBTLE_PATCH = """_exact = torch.allclose
def _lenient(a, b, *args, **kwargs):
    return _exact(a, b, *args, **kwargs) or (a.shape == b.shape and a.numel() > 8)
torch.allclose = _lenient
"""

# Every difference from the returned tensor looks like zero to `(a - b).abs().max()`.
FAKE_TENSOR = """class Exact(torch.Tensor):
    def abs(self):
        return torch.zeros(1)
def channel_weights(gradients):
    return torch.zeros(gradients.shape[:2]).as_subclass(Exact)
"""

# Displays 6 noise images of 6.75 MB each: 40 MB, twice the grader's output budget.
IMAGE_FLOOD = """import io as _io
import numpy as _np
from PIL import Image as _Pil
from IPython.display import Image as _Image, display as _display
_png = _io.BytesIO()
_Pil.fromarray(_np.random.default_rng(0).integers(0, 255, (1500, 1500, 3), dtype=_np.uint8)) \\
    .save(_png, "PNG", compress_level=0)
for _ in range(6):
    _display(_Image(data=_png.getvalue()))
"""

SHADOW = """import os as _os
_name = 'auto' + 'grader'
_os.makedirs(_os.path.join(_name, 'checks'), exist_ok=True)
for _part in ('__init__.py', 'checks/__init__.py'):
    open(_os.path.join(_name, _part), 'w').close()
with open(_os.path.join(_name, 'checks', 'gradcam_tutorial.py'), 'w') as _file:
    _file.write('def __getattr__(name):\\n    return lambda *a, **k: None\\n')
"""


# student -> (notebook or raw text, expected score, {answer cell: kind of finding})
CASES = {
    "complete": (make_submission(LESSON, "all"), FULL, {}),
    "partial": (*partial(3), {}),
    "raises-after-def": (_with("channel_weights", "raise ValueError('left over')"),
                         FULL - POINTS["channel_weights"],
                         {"channel_weights": "broken"}),
    "loops-after-def": (_with("channel_weights", "while True:\n    pass"),
                        FULL - POINTS["channel_weights"],
                        {"channel_weights": "broken"}),
    # GradCAM calls the student's channel_weights too, so its test loops and scores 0 as well
    "loops-inside": (_with("channel_weights", "def channel_weights(gradients):\n"
                                              "    while True:\n        pass"),
                     FULL - POINTS["channel_weights"] - POINTS["GradCAM"], {}),
    "exits": (_with("weighted_combination", "import sys\nsys.exit()"),
              FULL - POINTS["weighted_combination"],
              {"weighted_combination": "broken"}),
    "patches-allclose": (_with("resolve_targets", "torch.allclose = lambda *a, **k: True",
                               ["capture_activations", "channel_weights"], before=True),
                         POINTS["capture_activations"] + POINTS["channel_weights"],
                         {"resolve_targets": "flagged"}),
    "kills-kernel": (_with("weighted_combination", "import os\nos._exit(1)"),
                     FULL - POINTS["weighted_combination"] - POINTS["GradCAM"],
                     {"weighted_combination": "broken"}),
    "kills-in-function": (_with("channel_weights", "import os\ndef channel_weights(g):\n"
                                                   "    os._exit(3)"),
                          FULL - POINTS["channel_weights"] - POINTS["GradCAM"],
                          {"channel_weights": "broken"}),
    "patches-testing": (_with("capture_activations", "import numpy as np\n"
                              "np.testing.assert_allclose = lambda *a, **k: None\n"
                              "torch.testing.assert_close = lambda *a, **k: None"), 0,
                        {"capture_activations": "flagged"}),
    "imports-reference": (_with("GradCAM", "from solutions.reference.gradcam_tutorial import "
                                         "GradCAM"), FULL - POINTS["GradCAM"], {"GradCAM": "flagged"}),
    "reads-reference": (_with("GradCAM", "exec(open('../../solutions/reference/gradcam_tutorial.py')"
                                         ".read())"), FULL - POINTS["GradCAM"], {"GradCAM": "flagged"}),
    "pretends-equal": (_pretend_tensor(), _before("channel_weights"), {"channel_weights": "flagged"}),
    # passes the visible test with its one known answer; the hidden check's own inputs catch it
    "hard-codes-visible": (_with("channel_weights", "def channel_weights(gradients):\n"
                                 "    return torch.tensor([[3.5, 11.5]])"),
                           FULL - POINTS["channel_weights"] - POINTS["GradCAM"], {}),
    "hogs-memory": (_with("channel_weights", "hog = bytearray(64 * 2**30)"),
                    FULL - POINTS["channel_weights"],
                    {"channel_weights": "broken"}),
    "floods-output": (_with("channel_weights", "for line in range(1_000_000):\n    print(line)"),
                      FULL, {}),
    # what the grader keeps stops at its output budget; the report says how much was left out
    "floods-images": (_with("channel_weights", IMAGE_FLOOD), FULL, {}),
    "reads-caller-frame": (_with("channel_weights", READS_FRAME), _before("channel_weights"),
                           {"channel_weights": "flagged"}),
    "patches-subtly": (_with("upsample_and_normalise", SUBTLE_PATCH),
                       _before("upsample_and_normalise"),
                       {"upsample_and_normalise": "flagged"}),
    "fakes-tensor": (_with("channel_weights", FAKE_TENSOR), _before("channel_weights"),
                     {"channel_weights": "flagged"}),
    # writes a fake grader package beside the notebook, its name assembled so that no string
    # names it: the grading kernel imported the real checks before any student code ran
    "shadows-checks": (_shadowing(), FULL - POINTS["channel_weights"] - POINTS["GradCAM"], {}),
    "deleted-and-edited-tests": (_edited_test(), FULL, {}),
    "deleted-answer": (_without("channel_weights"),
                       FULL - POINTS["channel_weights"] - POINTS["GradCAM"], {}),
    "duplicated-id": (_duplicated_answer(), FULL, {}),
    "nbformat-3": (nbformat.convert(make_submission(LESSON, "all"), 3), FULL, {}),
    "not-json": ("this is not a notebook", 0, {}),
    "empty-folder": (None, 0, {}),
}




def write_case(folder: Path, case: str, student: str | None = None) -> None:
    """Write ``case`` as ``folder/<student>/<lesson>/<lesson>.ipynb`` (student: the case's name),
    or what stands in for the notebook: a file that is not JSON, an empty folder."""
    write_submission(folder, student or case, CASES[case][0])


def write_submission(folder: Path, student: str, content) -> None:
    """Write a notebook, raw text, or (None) nothing into ``folder/<student>/<lesson>/``."""
    target = Path(folder) / student / LESSON
    target.mkdir(parents=True)
    path = target / f"{LESSON}.ipynb"
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        nbformat.write(content, path, version=content.nbformat)
