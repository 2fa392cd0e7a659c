"""The costliest lessons are handed out first (autograder.grading.expected_seconds): by the
seconds this grading folder's ledger recorded for each lesson, else by the lessons' sizes."""
from autograder.grading import expected_seconds
from autograder.ledger import Ledger

SOURCES = {"01_finetune_resnet": b"x" * 300, "06_trusting_explanations": b"x" * 700}


def test_without_a_history_the_larger_lesson_counts_as_costlier(tmp_path):
    cost = expected_seconds(Ledger(tmp_path), SOURCES)
    assert cost["06_trusting_explanations"] > cost["01_finetune_resnet"]


def test_the_seconds_recorded_here_decide_once_every_lesson_has_some(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.record("ada", "01_finetune_resnet", status="graded", seconds=12.0)
    ledger.record("bo", "01_finetune_resnet", status="graded", seconds=8.0)
    assert expected_seconds(ledger, SOURCES) == {lesson: len(data)
                                                 for lesson, data in SOURCES.items()}
    ledger.record("ada", "06_trusting_explanations", status="graded", seconds=6.0)
    ledger.record("cy", "06_trusting_explanations", status="unreadable", reason="not JSON")
    assert expected_seconds(ledger, SOURCES) == {"01_finetune_resnet": 10.0,
                                                 "06_trusting_explanations": 6.0}
