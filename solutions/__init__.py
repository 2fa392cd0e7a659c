"""Reference implementations, exported from the lesson sources in this folder (see README.md).

`from solutions import GradCAM` is the reference API of the course (see README.md).
"""
from solutions.gradcam_tutorial import GradCAM

__all__ = ["GradCAM"]
