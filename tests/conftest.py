"""Shared fixtures. Tests that need the plant dataset ask for `plants`: it is generated once."""
import matplotlib
import pytest

matplotlib.use("Agg")  # tests draw figures without a display


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread while a module runs, restored afterwards. On the shared 2-core
    machine the explainer tests' small tensors ran about 30x slower with 2 OpenMP threads when
    another job was busy (measured 1.1 s vs 0.035 s per GradCAM call). Use it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def plants():
    """The generated plant dataset folder (made on first use, about 15 s)."""
    from data.generate import ensure_dataset

    return ensure_dataset()


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on loopback for the session, as an SQLAlchemy URL.

    Uses Debian's `postgresql` package (installed here with apt-get when it is missing and we are
    root); skipped, saying why, only where it cannot be had.
    """
    from pg_server import PostgresUnavailable, running_server

    try:
        with running_server() as url:
            yield url
    except PostgresUnavailable as why:
        pytest.skip(f"no PostgreSQL server: {why}")
