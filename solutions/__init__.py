"""The instructor side of the course (see solutions/README.md for what lives where).

`from solutions import GradCAM, GuidedBackprop, GuidedGradCAM` is the course's reference API; the
classes live in the generated reference package, solutions/reference/.
"""
from solutions.reference.gradcam_tutorial import GradCAM
from solutions.reference.guided_backprop import GuidedBackprop
from solutions.reference.guided_gradcam import GuidedGradCAM

__all__ = ["GradCAM", "GuidedBackprop", "GuidedGradCAM"]
