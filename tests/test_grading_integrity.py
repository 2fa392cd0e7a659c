"""Grading that can be trusted: broken and dishonest submissions, resuming a batch.

One batch of lesson-02 submissions, each broken or dishonest in one way, is graded with real
nbgrader into a real gradebook (2 workers, a 30 s per-cell limit so that endless loops end
sooner than the course's 120 s). Every case checks its exact score, the tests that lost points and the reason.
"""
import copy
import csv
import json

import nbformat
import pytest

from autograder.grading import REPORT, export, grade
from autograder.ledger import Ledger
from autograder.samples import make_submission

LESSON = "02_gradcam_tutorial"
FULL = 13  # capture_activations 3, channel_weights 1, weighted_combination 2,
#            upsample_and_normalise 2, resolve_targets 2, GradCAM 3


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


# student -> (notebook or raw text, expected score, {answer cell: kind of finding})
CASES = {
    "complete": (make_submission(LESSON, "all"), FULL, {}),
    "raises-after-def": (_with("channel_weights", "raise ValueError('left over')"), FULL - 1,
                         {"channel_weights": "broken"}),
    "loops-after-def": (_with("channel_weights", "while True:\n    pass"), FULL - 1,
                        {"channel_weights": "broken"}),
    # GradCAM calls the student's channel_weights too, so its test loops and scores 0 as well
    "loops-inside": (_with("channel_weights", "def channel_weights(gradients):\n"
                                              "    while True:\n        pass"), FULL - 1 - 3, {}),
    "exits": (_with("weighted_combination", "import sys\nsys.exit()"), FULL - 2,
              {"weighted_combination": "broken"}),
    "patches-allclose": (_with("resolve_targets", "torch.allclose = lambda *a, **k: True",
                               ["capture_activations", "channel_weights"], before=True), 4,
                         {"resolve_targets": "flagged"}),
    "kills-kernel": (_with("weighted_combination", "import os\nos._exit(1)"), FULL - 2 - 3,
                     {"weighted_combination": "broken"}),
    "kills-in-function": (_with("channel_weights", "import os\ndef channel_weights(g):\n"
                                                   "    os._exit(3)"), FULL - 1 - 3,
                          {"channel_weights": "broken"}),
    "patches-testing": (_with("capture_activations", "import numpy as np\n"
                              "np.testing.assert_allclose = lambda *a, **k: None\n"
                              "torch.testing.assert_close = lambda *a, **k: None"), 0,
                        {"capture_activations": "flagged"}),
    "imports-reference": (_with("GradCAM", "from solutions.gradcam_tutorial import GradCAM"),
                          FULL - 3, {"GradCAM": "flagged"}),
    "reads-reference": (_with("GradCAM", "exec(open('../../solutions/gradcam_tutorial.py')"
                                         ".read())"), FULL - 3, {"GradCAM": "flagged"}),
    "pretends-equal": (_pretend_tensor(), FULL - 1 - 9, {"channel_weights": "flagged"}),
    # passes the visible test with its one known answer; the hidden check's own inputs catch it
    "hard-codes-visible": (_with("channel_weights", "def channel_weights(gradients):\n"
                                 "    return torch.tensor([[3.5, 11.5]])"), FULL - 1 - 3, {}),
    "deleted-and-edited-tests": (_edited_test(), FULL, {}),
    "deleted-answer": (_without("channel_weights"), FULL - 1 - 3, {}),
    "duplicated-id": (_duplicated_answer(), FULL, {}),
    "nbformat-3": (nbformat.convert(make_submission(LESSON, "all"), 3), FULL, {}),
    "not-json": ("this is not a notebook", 0, {}),
    "empty-folder": (None, 0, {}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, plants):
    root = tmp_path_factory.mktemp("integrity")
    for student, (content, _, _) in CASES.items():
        folder = root / "submissions" / student / LESSON
        folder.mkdir(parents=True)
        path = folder / f"{LESSON}.ipynb"
        if isinstance(content, str):
            path.write_text(content)
        elif content is not None:
            nbformat.write(content, path, version=content.nbformat)
    before = {p: p.read_bytes() for p in (root / "submissions").rglob("*") if p.is_file()}
    lines = []
    scores = grade(root / "submissions", root / "work", workers=2, timeout=30, log=lines.append)
    return root, scores, lines, before


@pytest.mark.parametrize("student", list(CASES))
def test_each_case_gets_its_exact_score_and_findings(graded, student):
    root, scores, _, _ = graded
    _, expected, kinds = CASES[student]
    entry = Ledger(root / "work").get(student, LESSON)
    got = scores.get(student, {}).get(LESSON, {}).get("score", 0)
    assert got == expected, (entry, scores.get(student))
    assert {f["answer"]: f["kind"] for f in entry.get("findings", [])} == kinds, entry


def test_the_batch_never_modifies_a_submission(graded):
    _, _, _, before = graded
    assert all(path.read_bytes() == content for path, content in before.items())


def test_unreadable_submissions_are_reported_and_exported_with_a_reason(graded):
    root, _, lines, _ = graded
    ledger = Ledger(root / "work")
    assert ledger.get("not-json", LESSON)["reason"].startswith(f"{LESSON}.ipynb is not a notebook")
    assert ledger.get("empty-folder", LESSON)["reason"].startswith("no notebook: expected")
    assert any("not-json" in line and "not graded" in line for line in lines)
    export(f"sqlite:///{root / 'work' / 'gradebook.db'}", root / "work")
    with (root / "work" / "grades.csv").open() as stream:
        rows = {r["student"]: r for r in csv.DictReader(stream)}
    assert set(rows) == set(CASES)  # every student appears
    assert rows["empty-folder"]["score"] == "0" and rows["empty-folder"]["max_score"] == str(FULL)
    assert "no notebook" in rows["empty-folder"]["note"]
    assert "tampers with grading" in rows["patches-allclose"]["note"]
    assert rows["complete"]["note"] == ""


def test_the_report_names_every_broken_or_flagged_cell(graded):
    root, _, _, _ = graded
    report = (root / "work" / REPORT).read_text()
    for student, (_, _, kinds) in CASES.items():
        for answer, kind in kinds.items():
            assert f"{kind.upper()}: answer cell {answer!r}" in report, student
    assert "rebinds torch.allclose" in report and "imports from solutions" in report
    assert "share the id 'channel_weights'" in report and "graded the last one" in report
    assert "the kernel died while answer cell 'weighted_combination' ran" in report
    assert "converted to 4.5" in report


def test_feedback_tells_the_student_why_points_were_withdrawn(graded):
    from nbgrader.api import Gradebook

    root, _, _, _ = graded
    with Gradebook(f"sqlite:///{root / 'work' / 'gradebook.db'}") as gradebook:
        comment = gradebook.find_comment("channel_weights", LESSON, LESSON, "loops-after-def")
        assert "did not finish" in comment.manual_comment
        grade_cell = gradebook.find_grade("test_resolve_targets", LESSON, LESSON, "patches-allclose")
        assert grade_cell.needs_manual_grade  # listed in the formgrader for review


def test_a_rerun_skips_what_is_done_and_regrades_what_changed(graded, tmp_path):
    root, scores, _, _ = graded
    lines = []
    again = grade(root / "submissions", root / "work", workers=2, timeout=30, log=lines.append)
    assert again == scores
    assert any(line.startswith(f"grading 0 of {len(CASES)} ") for line in lines), lines
    # the student fixes the endless loop: only that submission is graded again
    fixed = root / "submissions" / "loops-after-def" / LESSON / f"{LESSON}.ipynb"
    nbformat.write(make_submission(LESSON, "all"), fixed)
    lines.clear()
    again = grade(root / "submissions", root / "work", timeout=30, log=lines.append)
    assert any(line.startswith(f"grading 1 of {len(CASES)} ") for line in lines), lines
    assert again["loops-after-def"][LESSON]["score"] == FULL  # the override was undone
    assert not Ledger(root / "work").get("loops-after-def", LESSON)["findings"]


def test_a_damaged_ledger_is_refused_with_advice(tmp_path):
    (tmp_path / "grading-ledger.json").write_text("{half a file")
    with pytest.raises(ValueError, match="move it aside"):
        Ledger(tmp_path)


def test_the_ledger_is_written_whole_after_each_submission(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record("ada", LESSON, status="graded", fingerprint="x")
    ledger.record("bo", LESSON, status="unreadable", reason="no notebook")
    on_disk = json.loads((tmp_path / "grading-ledger.json").read_text())
    assert set(on_disk) == {f"ada/{LESSON}", f"bo/{LESSON}"}
    assert not list(tmp_path.glob("*.tmp*"))


SHARED = ("complete", "raises-after-def", "patches-allclose", "kills-kernel", "not-json")


def test_parallel_workers_on_a_postgresql_gradebook_match_sqlite(graded, postgres_url, tmp_path):
    """Two workers grade into a real PostgreSQL server; scores and findings equal the sqlite run."""
    import shutil

    root, scores, _, _ = graded
    for student in SHARED:
        shutil.copytree(root / "submissions" / student, tmp_path / "submissions" / student)
    on_postgres = grade(tmp_path / "submissions", tmp_path / "work", db_url=postgres_url,
                        workers=2, timeout=30, log=print)
    assert on_postgres == {s: scores[s] for s in SHARED if s in scores}
    sqlite_ledger, postgres_ledger = Ledger(root / "work"), Ledger(tmp_path / "work")
    for student in SHARED:
        want, got = sqlite_ledger.get(student, LESSON), postgres_ledger.get(student, LESSON)
        assert got.get("findings") == want.get("findings") and got["status"] == want["status"]
    grades, _ = export(postgres_url, tmp_path / "work")
    assert grades.read_text().count(LESSON) == len(SHARED)
