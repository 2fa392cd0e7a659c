"""Shared fixtures. Tests that need the plant dataset ask for `plants`: it is generated once."""
import matplotlib
import pytest

matplotlib.use("Agg")  # tests draw figures without a display


@pytest.fixture(scope="session")
def plants():
    """The generated plant dataset folder (made on first use, about 15 s)."""
    from data.generate import ensure_dataset

    return ensure_dataset()
