"""Lesson 06's reference measurements against Quantus (0.6), a library nobody here wrote.

Where the definitions match, the numbers agree; where they differ on purpose, each test shows
that the difference is exactly the documented one:

- deletion: Quantus's PixelFlipping curve has no point for the untouched image; ours starts with
  it (column 0), so ours[:, 1:] is Quantus's curve. Its AUC is np.trapz with dx = 1 over the
  steps; ours runs x from 0 to 1 and includes column 0: ours = (Quantus's + (c0 + c1) / 2) / S.
- insertion: Quantus has no insertion metric; PixelFlipping's loop started from the baseline
  with a perturbation that puts the image's own values back is our insertion curve.
- randomisation: Quantus's MPRT re-initialises every module that has reset_parameters, one at a
  time from the head down, after torch.manual_seed(seed + 1) each time; ours re-initialises whole
  named layers with torch.manual_seed(seed + k) for the k-th. Applied one module at a time with
  our seed = Quantus's seed + 1, ours gives bit-identical models, and the Spearman correlations
  per layer equal Quantus's (which calls scipy.stats.spearmanr).
"""
import copy
import warnings

import numpy as np
import pytest
import torch
from torchvision.models import resnet18

from solutions.reference import trusting_explanations as reference

quantus = pytest.importorskip("quantus")
pytestmark = pytest.mark.usefixtures("one_thread")

# Quantus counts features per colour channel: a step of HW / S pixels is 3 HW / S features, and
# it asks that this divides H * W: 36 x 36 pixels in 12 steps of 108 pixels (324 features) does.
SIZE, STEPS = 36, 12


@pytest.fixture(scope="module")
def case():
    torch.manual_seed(0)
    model = resnet18(weights=None, num_classes=4).eval()
    g = torch.Generator().manual_seed(1)
    images = torch.randn(3, 3, SIZE, SIZE, generator=g)
    saliency = torch.rand(3, SIZE, SIZE, generator=g)  # no ties: every sort gives one order
    with torch.no_grad():
        targets = model(images).argmax(dim=1)
    return model, images, saliency, targets


def _pixel_flipping(model, images, saliency, targets, **options):
    metric = quantus.PixelFlipping(features_in_step=3 * SIZE * SIZE // STEPS, disable_warnings=True,
                                   **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = metric(model=model, x_batch=images.numpy(), y_batch=targets.numpy(),
                        a_batch=saliency[:, None].numpy(), channel_first=True, softmax=True,
                        device="cpu")
    return torch.tensor(np.asarray(scores), dtype=torch.float32)


def test_deletion_curve_is_quantus_pixel_flipping_plus_the_untouched_image(case):
    model, images, saliency, targets = case
    ours = reference.deletion_curve(model, images, saliency, targets, steps=STEPS)
    theirs = _pixel_flipping(model, images, saliency, targets, perturb_baseline=0.0)
    assert theirs.shape == (3, STEPS) and ours.shape == (3, STEPS + 1)
    torch.testing.assert_close(ours[:, 1:], theirs, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        untouched = model(images).softmax(dim=1).gather(1, targets[:, None])[:, 0]
    torch.testing.assert_close(ours[:, 0], untouched)


def test_curve_auc_differs_from_quantus_by_the_documented_rescaling(case, monkeypatch):
    # Quantus 0.6 computes the AUC with np.trapz, which NumPy 2 renamed to np.trapezoid (and 2.4
    # removed): give its own code the new name, so that its definition is the one measured.
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    model, images, saliency, targets = case
    ours = reference.deletion_curve(model, images, saliency, targets, steps=STEPS)
    theirs = _pixel_flipping(model, images, saliency, targets, perturb_baseline=0.0,
                             return_auc_per_sample=True)
    documented = (theirs.double() + (ours[:, 0] + ours[:, 1]).double() / 2) / STEPS
    torch.testing.assert_close(reference.curve_auc(ours).double(), documented, atol=1e-6,
                               rtol=1e-6)


def test_insertion_curve_is_pixel_flipping_from_the_baseline_putting_pixels_back(case):
    model, images, saliency, targets = case
    blurred = torch.nn.functional.avg_pool2d(images, 5, stride=1, padding=2)
    flat_images = images.numpy().reshape(len(images), -1)

    def put_back(arr, indices, **kwargs):  # PixelFlipping's loop, the image as the "baseline"
        arr = arr.copy()
        rows = np.arange(len(arr))[:, None]
        arr[rows, indices] = flat_images[rows, indices]
        return arr

    ours = reference.insertion_curve(model, images, saliency, targets, steps=STEPS,
                                     baseline=blurred)
    theirs = _pixel_flipping(model, blurred, saliency, targets, perturb_func=put_back)
    torch.testing.assert_close(ours[:, 1:], theirs, atol=1e-5, rtol=1e-5)


def test_spearman_equals_scipy_as_quantus_calls_it_with_ties():
    g = torch.Generator().manual_seed(2)
    a = torch.randint(0, 4, (4, 7, 6), generator=g).float()
    b = torch.randn(4, 7, 6, generator=g)
    b[1] = torch.randint(0, 3, (7, 6), generator=g).float()
    theirs = quantus.similarity_func.correlation_spearman(a.flatten(1).numpy(),
                                                          b.flatten(1).numpy(), batched=True)
    torch.testing.assert_close(reference.spearman(a, b).double(),
                               torch.tensor(theirs, dtype=torch.float64), atol=1e-6, rtol=1e-6)


def _quantus_stages(model, seed):
    """(name, state) after each step of Quantus's cascading (top-down) randomisation."""
    wrapped = quantus.helpers.model.pytorch_model.PyTorchModel(model, channel_first=True)
    return [(name, copy.deepcopy(net.state_dict()))
            for name, net in wrapped.get_random_layer_generator(order="top_down", seed=seed)]


def _our_stages(model, names, seed):
    """Our cascading_randomisation, one module at a time with the seed Quantus uses."""
    stages, current = [], model
    for name in names:
        current = reference.cascading_randomisation(current, [name], seed=seed + 1)[0]
        stages.append(current)
    return stages


def test_cascading_randomisation_matches_quantus_up_to_the_seed_per_layer():
    torch.manual_seed(3)
    model = resnet18(weights=None, num_classes=4).eval()
    theirs = _quantus_stages(model, seed=42)
    names = [name for name, _ in theirs]
    assert names[0] == "fc" and names[-1] == "conv1" and len(names) > 40
    ours = _our_stages(model, names, seed=42)
    for (name, state), mine in zip(theirs, ours):
        assert all(torch.equal(state[k], v) for k, v in mine.state_dict().items()), name
    # In one call our seeds are seed + k, so past the first module the random weights differ, and
    # exactly the same parameters have been re-initialised at every stage.
    one_call = reference.cascading_randomisation(model, names[:3], seed=43)
    assert [type(model.get_submodule(n)).__name__ for n in names[:3]] == [
        "Linear", "BatchNorm2d", "Conv2d"]
    assert torch.equal(one_call[0].state_dict()["fc.weight"], theirs[0][1]["fc.weight"])
    original = model.state_dict()
    for k in (1, 2):
        ours_changed = {p for p, v in one_call[k].state_dict().items()
                        if not torch.equal(v, original[p])}
        theirs_changed = {p for p, v in theirs[k][1].items() if not torch.equal(v, original[p])}
        assert ours_changed == theirs_changed
        weight = f"{names[k]}.weight"
        same_draw = torch.equal(one_call[k].state_dict()[weight], theirs[k][1][weight])
        # a batch norm resets to ones and zeros whatever the seed; a convolution draws its weights
        random = isinstance(model.get_submodule(names[k]), torch.nn.Conv2d)
        assert same_draw != random, (names[k], same_draw)


def _input_gradient_saliency(model, inputs, targets, **kwargs):
    x, y = torch.as_tensor(inputs), torch.as_tensor(targets)
    return reference.to_saliency(reference.input_gradient(model, x, y))[:, None].numpy()


def test_randomisation_correlations_equal_quantus_mprt(case):
    model, images, _, targets = case
    model = copy.deepcopy(model)
    metric = quantus.MPRT(layer_order="top_down", seed=42, disable_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = metric(model=copy.deepcopy(model), x_batch=images.numpy(),
                        y_batch=targets.numpy(), a_batch=None, channel_first=True,
                        explain_func=_input_gradient_saliency, device="cpu", batch_size=8)
    names = [name for name in theirs if name != "original"]
    original = reference.to_saliency(reference.input_gradient(model, images, targets))
    for name, stage in list(zip(names, _our_stages(model, names, seed=42)))[::7]:
        randomised = reference.to_saliency(reference.input_gradient(stage, images, targets))
        torch.testing.assert_close(reference.spearman(original, randomised).double(),
                                   torch.tensor(theirs[name], dtype=torch.float64),
                                   atol=1e-5, rtol=1e-5, msg=name)
