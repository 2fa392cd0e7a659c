"""The usual mistakes, per lesson and exercise, that the lessons' visible tests must catch.

Each entry: (name, [(text in the solution, what the mistake writes instead), ...], words the
visible test's message must contain). tests/test_visible_tests.py applies every entry to the
lesson's own solution cell and runs the exercise's visible test on it. The hidden checks
(autograder/checks/) keep checking what is not listed here.

One module per pair of lessons; MISTAKES maps each lesson to its exercises' mistakes.
"""

from visible_mistakes.gradcam import GRADCAM_EXPERIMENTS, GRADCAM_TUTORIAL
from visible_mistakes.guided import GUIDED_BACKPROP, GUIDED_GRADCAM
from visible_mistakes.trusting import TRUSTING_EXPLANATIONS

MISTAKES = {
    "02_gradcam_tutorial": GRADCAM_TUTORIAL,
    "03_gradcam_experiments": GRADCAM_EXPERIMENTS,
    "04_guided_backprop": GUIDED_BACKPROP,
    "05_guided_gradcam": GUIDED_GRADCAM,
    "06_trusting_explanations": TRUSTING_EXPLANATIONS,
}
