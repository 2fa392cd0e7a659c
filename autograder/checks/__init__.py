"""Hidden-test helpers: each compares a student function with the reference and says what differs.

A lesson's hidden-test block is one call into these, and every check is wrapped by
`hidden_check`, so a failure reaches the student as one message without this code's lines.
"""
import functools

import torch


def hidden_check(check):
    """Report any failure as a single AssertionError whose traceback stops at the notebook."""
    @functools.wraps(check)
    def run(*args, **kwargs):
        try:
            check(*args, **kwargs)
        except AssertionError as failure:
            raise AssertionError(f"hidden test: {failure}") from None
        except Exception as error:  # the student's function crashed on the hidden inputs
            raise AssertionError(f"hidden test: your code raised {type(error).__name__}: "
                                 f"{error}") from None
    return run


def max_diff(got, want) -> float:
    """Largest absolute difference between a student's result and the reference's.

    ``got`` must be a plain ``torch.Tensor``: a subclass, or an object that only looks like a
    tensor, could override the very arithmetic (``-``, ``abs``, ``max``) this comparison uses.
    """
    if type(got) is not torch.Tensor:
        raise AssertionError(f"return a torch.Tensor, not a {type(got).__name__}")
    return (got.detach().double() - want.detach().double()).abs().max().item()


def relative_diff(got, want) -> float:
    """`max_diff` relative to the largest magnitude of the reference's result."""
    return max_diff(got, want) / max(want.abs().max().item(), 1e-12)
