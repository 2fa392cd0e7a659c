"""The comparisons behind the lessons' visible tests, written so that a failure teaches.

Each check raises AssertionError with a message that says what was checked, what was expected,
what came back and, where a known mistake explains the difference, what that mistake probably was
(in the style of CS231n: "expected [[3.5, 11.5]], got [[28.0, 92.0]]: did you sum instead of
taking the mean?"). Nothing here prints or warns, so a test cell that uses it writes nothing to
stderr (nbgrader scores a test cell that does as 0).

    expect_close(got, expected, what, causes={"did you ...?": wrong_value}, hint="...")
    expect_raises(ValueError, lambda: f(bad), what, why)
    expect_runs(lambda: f(x), what, hint)
    expect_no_hooks(model, hint)
"""
from __future__ import annotations

import torch

SHOWN_VALUES = 16  # tensors up to this size are printed in full, larger ones summarised


def show(value) -> str:
    """A short, readable form of a tensor (or anything else) for a message."""
    if isinstance(value, (tuple, list)) and any(isinstance(v, torch.Tensor) for v in value):
        return "(" + ", ".join(show(v) for v in value) + ")"
    if not isinstance(value, torch.Tensor):
        return repr(value)
    if value.numel() <= SHOWN_VALUES:
        if value.dtype == torch.bool or not value.is_floating_point():
            return str(value.tolist())
        # 4 decimals, and + 0.0 turns -0.0 into 0.0
        return str((torch.round(value.detach().double(), decimals=4) + 0.0).tolist())
    if value.numel() == 0:
        return f"an empty tensor of shape {tuple(value.shape)}"
    low, high = value.detach().double().min().item(), value.detach().double().max().item()
    return f"a tensor of shape {tuple(value.shape)} with values in [{low:.4g}, {high:.4g}]"


def relative_difference(got: torch.Tensor, expected: torch.Tensor) -> float:
    """max |got - expected| / max |expected| (the absolute difference if expected is all zero)."""
    got, expected = got.detach().double(), expected.detach().double()
    scale = expected.abs().max().item()
    difference = (got - expected).abs().max().item()
    return difference / scale if scale > 0 else difference


def _matches(got, expected, atol: float, rtol: float) -> bool:
    expected = torch.as_tensor(expected, dtype=torch.float64)
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
        return False
    return torch.allclose(got.detach().double(), expected, atol=atol, rtol=rtol)


def _because(got, causes: dict | None, hint: str, atol: float, rtol: float) -> str:
    for cause, wrong in (causes or {}).items():
        if _matches(got, wrong, atol, rtol):
            return f": {cause}"
    return f" ({hint})" if hint else ""


def expect_shape(got, shape, what: str, hint: str = "") -> None:
    """`got` is a tensor of shape `shape`."""
    if not isinstance(got, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor of shape {tuple(shape)}, "
                             f"got {type(got).__name__} {show(got)}")
    if tuple(got.shape) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got {tuple(got.shape)}"
                             + (f" ({hint})" if hint else ""))


def expect_close(got, expected, what: str, causes: dict | None = None, hint: str = "",
                 atol: float = 1e-5, rtol: float = 1e-5) -> None:
    """`got` equals `expected` up to atol + rtol * |expected|, element by element.

    causes: {cause: the value that mistake gives}; when `got` matches one of them, the message
    names that cause, otherwise it ends with `hint`.
    """
    if isinstance(expected, torch.Tensor):
        expected = expected.detach()
    expected = torch.as_tensor(expected, dtype=torch.float64)
    expect_shape(got, expected.shape, what, hint)
    if _matches(got, expected, atol, rtol):
        return
    message = f"{what}: expected {show(expected)}, got {show(got)}"
    if expected.numel() > SHOWN_VALUES:
        message += f" (relative difference {relative_difference(got, expected):.3g})"
    raise AssertionError(message + _because(got, causes, hint, atol, rtol))


def expect_raises(error: type[Exception], call, what: str, why: str) -> None:
    """`call()` raises `error`; `why` says why it should (shown when it does not)."""
    try:
        result = call()
    except error:
        return
    except NotImplementedError:
        raise
    except Exception as other:
        raise AssertionError(f"{what} should raise {error.__name__} ({why}), but it raised "
                             f"{type(other).__name__}: {other}") from None
    raise AssertionError(f"{what} should raise {error.__name__} ({why}), "
                         f"but it returned {show(result)}")


def expect_runs(call, what: str, hint: str):
    """`call()` returns without an error; otherwise the message names the call and the hint."""
    try:
        return call()
    except NotImplementedError:
        raise
    except Exception as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise AssertionError(f"{what} raised {type(error).__name__}: {first_line[:200]}: "
                             f"{hint}") from None


def hooks_left(model: torch.nn.Module) -> dict[str, int]:
    """{module name: number of forward, forward-pre and backward hooks} where any remain."""
    counts = {}
    for name, module in model.named_modules():
        count = (len(module._forward_hooks) + len(module._forward_pre_hooks)
                 + len(module._backward_hooks) + len(getattr(module, "_backward_pre_hooks", {})))
        if count:
            counts[name or "(the model itself)"] = count
    return counts


def expect_no_hooks(model: torch.nn.Module, hint: str) -> None:
    """No module of `model` keeps a hook."""
    left = hooks_left(model)
    if left:
        shown = ", ".join(f"{name}: {count}" for name, count in list(left.items())[:4])
        raise AssertionError(f"{sum(left.values())} hook(s) left on the model ({shown}"
                             f"{', ...' if len(left) > 4 else ''}): {hint}")
