"""Reference implementations, exported from the lesson sources in this folder (see README.md).

`from solutions import GradCAM, GuidedBackprop, GuidedGradCAM` is the course's reference API.
"""
from solutions.gradcam_tutorial import GradCAM
from solutions.guided_backprop import GuidedBackprop
from solutions.guided_gradcam import GuidedGradCAM

__all__ = ["GradCAM", "GuidedBackprop", "GuidedGradCAM"]
