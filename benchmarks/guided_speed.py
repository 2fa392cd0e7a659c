"""How fast are the reference Guided Backprop and one-pass Guided Grad-CAM? Side by side with a
forward pass plus a gradient w.r.t. the input, captum's GuidedBackprop and GuidedGradCam, and the
two-pass Guided Grad-CAM, on one batch of 8 at 3x224x224, random ResNet18, layer4.

    python benchmarks/guided_speed.py [--repeats 10] [--batch 8] [--size 224]

Methods take turns (round robin) after a warm-up; medians are printed, with each method's max
relative difference from the reference as a check. Nothing is asserted.
"""
from __future__ import annotations

import warnings

import torch

from solutions import GradCAM, GuidedBackprop, GuidedGradCAM
from timing import medians_ms, print_ratios, resnet18_setup, round_robin


def make_methods(model, x, targets):
    from captum.attr import GuidedBackprop as CaptumGuidedBackprop
    from captum.attr import GuidedGradCam as CaptumGuidedGradCam

    layer = model.layer4
    target_list = targets.tolist()
    captum_gb = CaptumGuidedBackprop(model)
    captum_ggc = CaptumGuidedGradCam(model, layer)

    def forward_and_input_gradient():
        pixels = x.detach().clone().requires_grad_(True)
        logits = model(pixels)
        return torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), pixels)[0]

    return {
        "forward + input gradient": forward_and_input_gradient,
        "reference GuidedBackprop": lambda: GuidedBackprop(model)(x, targets),
        "captum GuidedBackprop": lambda: captum_gb.attribute(x.clone().requires_grad_(),
                                                             target=target_list),
        "reference GuidedGradCAM": lambda: GuidedGradCAM(model, layer)(x, targets),
        "two-pass Guided Grad-CAM": lambda: GuidedBackprop(model)(x, targets)
        * GradCAM(model, layer)(x, targets)[:, None],
        "captum GuidedGradCam": lambda: captum_ggc.attribute(x.clone().requires_grad_(),
                                                             target=target_list),
    }


def main() -> None:
    args, model, x, targets = resnet18_setup(__doc__.split("\n")[0])
    warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")  # captum's notice

    outputs, times = round_robin(make_methods(model, x, targets), args.repeats)
    median = medians_ms(times)
    checks = {"reference GuidedBackprop": ("captum GuidedBackprop",),
              "reference GuidedGradCAM": ("two-pass Guided Grad-CAM",)}
    print(f"\n{'method':<28} {'median ms':>10}")
    for name in times:
        print(f"{name:<28} {median[name]:>10.1f}")
    print()
    for reference, others in checks.items():
        want = outputs[reference].double()
        for other in others:
            diff = (outputs[other].double() - want).abs().max() / want.abs().max()
            print(f"max |{other} - {reference}| / max |ref| = {diff:.1e}")
    print("(captum's GuidedGradCam upsamples with nearest and does not rescale to [0, 1], so its "
          "values differ by design;\n tests/test_guided_reference.py checks the reference against "
          "captum's parts instead)\n")
    base = median["forward + input gradient"]
    print_ratios([
        ("GuidedBackprop / (forward + input gradient)", median["reference GuidedBackprop"] / base,
         "<=", 1.15),
        ("GuidedGradCAM / (forward + input gradient)", median["reference GuidedGradCAM"] / base,
         "<=", 1.15),
        ("reference / captum GuidedBackprop",
         median["reference GuidedBackprop"] / median["captum GuidedBackprop"], "", None),
        ("reference / captum GuidedGradCam",
         median["reference GuidedGradCAM"] / median["captum GuidedGradCam"], "<=", 1.0),
        ("one pass / two passes",
         median["reference GuidedGradCAM"] / median["two-pass Guided Grad-CAM"], "", None),
    ])


if __name__ == "__main__":
    main()
