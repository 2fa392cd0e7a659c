"""Hidden-test helpers: each compares a student function with the reference and says what differs.

A lesson's hidden-test block is one call into these, and every check is wrapped by
`hidden_check`, so a failure reaches the student as one message without this code's lines.
"""
import functools


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
