"""Lesson 06's visible tests catch the usual mistakes and say why (the runner of
tests/test_visible_tests.py, with this lesson's list of mistakes kept beside it)."""
import pytest

from test_visible_tests import _kernel, apply_mistake, kernel_for

LESSON = "06_trusting_explanations"
NOT_RESTORED = ("modes not restored", [("module.training = mode", "pass")], ["train mode"])
MISTAKES = {
    "energy_shares": [
        ("overlaps counted twice", [("region = mask * (1 - taken)", "region = mask")],
         ["first mask only"]),
        ("elsewhere = outside the last mask only",
         [("shares.append(energy_pointing_game(maps, 1 - taken))",
           "shares.append(energy_pointing_game(maps, 1 - region))")], ["outside every mask"]),
    ],
    "to_saliency": [
        ("signed sum", [("attributions.abs().sum(dim=1)", "attributions.sum(dim=1)")],
         ["absolute value"]),
        ("maximum over channels", [("attributions.abs().sum(dim=1)",
                                    "attributions.abs().amax(dim=1)")], ["not take their maximum"]),
    ],
    "deletion_curve": [
        ("least salient first", [("descending=True, stable=True", "stable=True")],
         ["MOST salient"]),
        ("logits instead of probabilities",
         [("model(torch.where(replaced, baseline, images)).softmax(dim=1)",
           "model(torch.where(replaced, baseline, images))")], ["softmax probability"]),
        ("no column for the untouched image", [("range(steps + 1)", "range(1, steps + 1)")],
         ["column 0"]),
        ("image 0's target for every image", [("targets[:, None]", "targets[:1, None].expand(n, 1)")],
         ["own target"]),
        NOT_RESTORED,
    ],
    "insertion_curve": [
        ("deletion instead of insertion",
         [("deletion_curve(model, start, saliency, targets, steps, baseline=images)",
           "deletion_curve(model, images, saliency, targets, steps, baseline=start)")],
         ["column 0 is the baseline alone"]),
    ],
    "curve_auc": [
        ("x in steps", [("dx=1.0 / (curves.shape[1] - 1)", "dx=1.0")], ["not 1"]),
        ("mean of the points",
         [("torch.trapezoid(curves, dx=1.0 / (curves.shape[1] - 1), dim=1)",
           "curves.mean(dim=1)")], ["not the mean"]),
    ],
    "spearman": [
        ("values, not ranks", [("return map_correlation(average_ranks(maps_a), average_ranks(maps_b))",
                                "return map_correlation(maps_a.flatten(1), maps_b.flatten(1))")],
         ["not the values"]),
        ("ties get the lower rank", [("(below + at_most + 1).double() / 2",
                                      "(below + 1).double()")], ["expected"]),
    ],
    "cascading_randomisation": [
        ("randomises the caller's model", [("working = copy.deepcopy(model)", "working = model")],
         ["copy.deepcopy"]),
        ("one model object for every stage", [("copies.append(copy.deepcopy(working))",
                                               "copies.append(working)")], ["own deep copy"]),
        ("global seed", [("with torch.random.fork_rng(devices=[]):", "if True:")], ["fork_rng"]),
        ("not cumulative", [("working.get_submodule(name)",
                             "copy.deepcopy(model).get_submodule(name)")], ["not re-initialised"]),
    ],
}
CASES = [pytest.param(exercise, mistake, id=f"{exercise}-{mistake[0]}")
         for exercise, mistakes in MISTAKES.items() for mistake in mistakes]


@pytest.fixture(scope="module", autouse=True)
def _shutdown_kernel():
    yield
    for kernel in _kernel.values():
        kernel.shutdown()
    _kernel.clear()


def test_solution_passes_every_visible_test_quietly(plants):
    kernel = kernel_for(LESSON)
    assert set(kernel.tests) == set(MISTAKES), "every exercise needs listed mistakes"
    for exercise, (error, stderr) in kernel.results.items():
        assert error is None, f"the solution of {exercise} fails its visible test: {error}"
        assert stderr == "", f"the visible test of {exercise} writes to stderr: {stderr}"


@pytest.mark.parametrize("exercise, mistake", CASES)
def test_visible_test_catches_the_mistake(exercise, mistake, plants):
    name, replacements, words = mistake
    kernel = kernel_for(LESSON)
    wrong = apply_mistake(kernel.solutions[exercise], replacements)
    try:
        error, _ = kernel.run(wrong)
        assert error is None, f"the mistaken solution does not even define {exercise}: {error}"
        error, _ = kernel.run(kernel.tests[exercise])
    finally:
        restored, _ = kernel.run(kernel.solutions[exercise])
        assert restored is None, restored
    assert error is not None, f"{exercise}: the visible test passes with '{name}'"
    missing = [word for word in words if word.lower() not in error.lower()]
    assert not missing, f"{exercise}, '{name}': the message lacks {missing}:\n{error}"
