"""How fast is the reference GradCAM? Side by side with a forward pass, captum, pytorch-grad-cam
and the `.backward()` way, on one batch of 8 images at 3x224x224, random ResNet18, layer4.

    python benchmarks/gradcam_speed.py [--repeats 10] [--batch 8] [--size 224]

Every method runs once to warm up, then the methods take turns (round robin) for `--repeats`
rounds, so that a change in the machine's load affects all of them alike; the table gives each
one's median. Every Grad-CAM method explains the same explicit classes (each image's prediction)
and returns (N, H, W) maps in [0, 1]; their max |diff| from the reference is printed as a check.
torch's thread count is left as it is. Nothing is asserted: these machines are shared and noisy.
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from solutions import GradCAM
from timing import medians_ms, print_ratios, resnet18_setup, round_robin


def minmax_upsample(cam, size):
    """(N, h, w) -> bilinear (align_corners=False) to `size` -> per-image min-max, 0 if flat."""
    up = F.interpolate(cam[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]
    low = up.amin(dim=(1, 2), keepdim=True)
    span = up.amax(dim=(1, 2), keepdim=True) - low
    return torch.where(span > 0, (up - low) / torch.where(span > 0, span, 1.0), 0.0)


def backward_way(model, layer, x, targets):
    """The expensive way: a hook that keeps the live output, retain_grad, a full .backward()."""
    kept = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: kept.update(a=output))
    try:
        logits = model(x)
        kept["a"].retain_grad()
        logits.gather(1, targets[:, None]).sum().backward()
    finally:
        handle.remove()
    activations, gradients = kept["a"].detach(), kept["a"].grad
    model.zero_grad(set_to_none=True)
    cam = torch.relu((gradients.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1))
    return minmax_upsample(cam, x.shape[-2:])


def make_methods(model, x, targets):
    """name -> zero-argument callable; the Grad-CAM ones return (N, H, W) maps."""
    from captum.attr import LayerAttribution, LayerGradCam
    from pytorch_grad_cam import GradCAM as PGCGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    layer = model.layer4
    size = tuple(x.shape[-2:])
    target_list = targets.tolist()
    reference = GradCAM(model, layer)
    captum = LayerGradCam(model, layer)
    pgc = PGCGradCAM(model=model, target_layers=[layer])  # built once, as its users do
    pgc_targets = [ClassifierOutputTarget(t) for t in target_list]

    def forward():
        return model(x)

    def forward_no_grad():
        with torch.no_grad():
            return model(x)

    def captum_way():
        lowres = captum.attribute(x, target=target_list, relu_attributions=True)
        up = LayerAttribution.interpolate(lowres, size, interpolate_mode="bilinear")
        return minmax_upsample(up[:, 0], size)

    def pgc_way():
        maps = torch.from_numpy(pgc(input_tensor=x, targets=pgc_targets))
        model.zero_grad(set_to_none=True)  # it fills every parameter's .grad
        return maps

    methods = {
        "forward (grad enabled)": forward,
        "forward (no_grad)": forward_no_grad,
        "reference GradCAM": lambda: reference(x, targets),
        "captum LayerGradCam": captum_way,
        "pytorch-grad-cam": pgc_way,
        ".backward() way": lambda: backward_way(model, layer, x, targets),
    }
    return methods, pgc


def main() -> None:
    args, model, x, targets = resnet18_setup(__doc__.split("\n")[0])

    methods, pgc = make_methods(model, x, targets)
    try:
        outputs, times = round_robin(methods, args.repeats)
    finally:
        pgc.__exit__(None, None, None)  # removes its hooks

    median = medians_ms(times)
    reference_maps = outputs["reference GradCAM"]
    print(f"\n{'method':<24} {'median ms':>10} {'min ms':>8} {'max ms':>8}  max |diff| vs reference")
    for name, values in times.items():
        maps = outputs[name]
        check = ("" if maps.dim() != 3 else
                 f"{(maps.double() - reference_maps.double()).abs().max().item():.1e}")
        print(f"{name:<24} {median[name]:>10.1f} {min(values) * 1000:>8.1f} "
              f"{max(values) * 1000:>8.1f}  {check}")

    ref = median["reference GradCAM"]
    ratios = [
        ("reference / forward (grad enabled)", ref / median["forward (grad enabled)"], "<=", 1.1),
        ("reference / forward (no_grad)", ref / median["forward (no_grad)"], "", None),
        ("reference / captum", ref / median["captum LayerGradCam"], "<=", 1.0),
        ("pytorch-grad-cam / reference", median["pytorch-grad-cam"] / ref, ">=", 2.0),
        (".backward() way / reference", median[".backward() way"] / ref, "", None),
    ]
    print()
    print_ratios(ratios)


if __name__ == "__main__":
    main()
