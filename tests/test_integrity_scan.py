"""The static reading behind the tampering flags: what it flags, and that honest code is clean."""
import nbformat
import pytest

from autograder.build import COURSE_DIR, lesson_sources
from autograder.integrity import scan_answer
from autograder.samples import solution_cells


@pytest.mark.parametrize("code, words", [
    ("torch.allclose = lambda *a, **k: True", "rebinds torch.allclose"),
    ("torch.testing.assert_close = print", "rebinds torch.testing.assert_close"),
    ("import numpy as np\nnp.testing.assert_allclose = print", "rebinds np.testing.assert_allclose"),
    ("import builtins\nbuiltins.abs = lambda x: 0", "imports builtins"),
    ("setattr(torch, 'allclose', max)", "calls setattr()"),
    ("del torch.equal", "rebinds torch.equal"),
    ("from solutions.reference.gradcam_tutorial import GradCAM", "imports from solutions.reference.gradcam_tutorial"),
    ("import autograder.checks.gradcam_tutorial as c\nc.TOLERANCE = 1e9", "imports autograder"),
    ("import importlib\nm = importlib.import_module('solu' + 'tions')", "imports importlib"),
    ("m = __import__('solu' + 'tions')", "calls __import__()"),
    ("exec(open('../../solutions/reference/gradcam_tutorial.py').read())", "calls exec()"),
    ("code = eval('1')", "calls eval()"),
    ("f = getattr(torch, 'all' + 'close')", "looks up torch attributes by name"),
    ("import sys\nsys.modules['torch'].allclose = max", "reaches into sys.modules"),
    ("import os\nfor r, d, f in os.walk('/work'):\n    if 'autograder' in r: pass",
     "mentions 'autograder'"),
    ("class T:\n    def __eq__(self, other):\n        return True", "defines __eq__"),
    ("class T:\n    def __torch_function__(self, *a):\n        return True",
     "defines __torch_function__"),
    ("g = globals()", "calls globals()"),
    ("import torch as t\nt.allclose = max", "rebinds t.allclose"),
    ("import numpy.testing as npt\nnpt.assert_allclose = print", "rebinds npt.assert_allclose"),
    ("from torch import testing\ntesting.assert_close = print", "rebinds testing.assert_close"),
    ("F.relu = torch.sigmoid", "rebinds F.relu"),
    ("t = torch\nt.allclose = max", "gives the module torch another name"),
    ("from unittest import mock\nmock.patch('torch.allclose', max).start()", "imports from unittest"),
    ("torch.__setattr__('allclose', max)", "reaches into torch.__setattr__"),
    ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))", "imports resource"),
    ("f = channel_weights.__globals__", "reaches into channel_weights.__globals__"),
    # a subtle patch: right on the visible test's values, lenient everywhere else
    ("_real = torch.allclose\ndef _near(a, b, *args, **kwargs):\n"
     "    return _real(a, b) or a.shape != (1, 2)\ntorch.allclose = _near",
     "rebinds torch.allclose"),
    ("import numpy\nnumpy.allclose = lambda *a, **k: True", "rebinds numpy.allclose"),
    # reading or editing the running test's inputs and expected answer
    ("import sys\ndef f(x):\n    return sys._getframe(1).f_locals['want']", "calls sys._getframe"),
    ("def f(x):\n    try:\n        raise ValueError\n    except ValueError as e:\n"
     "        return e.__traceback__.tb_frame.f_back", "reaches into e.__traceback__.tb_frame"),
    ("import sys\nsys.settrace(spy)", "calls sys.settrace"),
    ("class Fake(torch.Tensor):\n    def abs(self):\n        return torch.zeros(1)",
     "class Fake subclasses torch.Tensor"),
    ("from numpy import ndarray\nclass Fake(ndarray):\n    pass", "class Fake subclasses ndarray"),
])
def test_tampering_is_flagged_with_its_line_and_reason(code, words):
    reasons = scan_answer(code)
    assert any(words in reason for reason in reasons), reasons
    assert all(reason.startswith("line ") for reason in reasons)


@pytest.mark.parametrize("lesson", [source.stem for source in lesson_sources()])
def test_no_reference_solution_and_no_lesson_cell_is_flagged(lesson):
    for grade_id, code in solution_cells(lesson).items():
        assert scan_answer(code) == [], grade_id
    nb = nbformat.read(COURSE_DIR / lesson / f"{lesson}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert scan_answer(cell.source) == [], cell.source[:200]


def test_names_imported_elsewhere_in_the_notebook_are_guarded_too():
    assert scan_answer("fun.relu = max", modules={"fun"}) == [
        "line 1: rebinds fun.relu, which the tests use"]
    assert scan_answer("fun.relu = max") == []


def test_code_that_does_not_parse_is_left_to_the_tests():
    assert scan_answer("def broken(:\n    pass") == []


@pytest.mark.parametrize("lesson", [source.stem for source in lesson_sources()])
def test_a_complete_honest_submission_has_no_findings(lesson):
    from autograder.policy import findings
    from autograder.samples import make_submission

    assert findings(make_submission(lesson, "all")) == []
