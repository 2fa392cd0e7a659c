"""The Dask cluster that grades a class: an embedded LocalCluster, or an existing one.

By default `grade` starts a LocalCluster sized to this machine: one worker process per core,
one thread each (a grading kernel is a process of its own; more threads per worker would only
fight over the cores). With ``--scheduler tcp://HOST:PORT`` it sends the work to a cluster
started elsewhere (`dask scheduler`, then `dask worker tcp://HOST:PORT` on any machine, or
dask-jobqueue / Kubernetes: see docs/instructor_guide.md).

A worker that dies while grading (killed, out of memory, a submission that kills its parent)
has its submission regraded by another one; after ALLOWED_FAILURES such deaths the scheduler
gives up on that submission (`KilledWorker`) and the class goes on.
"""
from __future__ import annotations

import logging
import os
import uuid
from contextlib import contextmanager

# deaths of a worker while it graded one submission before it is given up (Dask's default: 3);
# an embedded cluster uses this, an existing scheduler its own setting
ALLOWED_FAILURES = 2
CONNECT_TIMEOUT_S = 15


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def connected(scheduler: str | None = None, workers: int | None = None, log=print):
    """A `distributed.Client` for grading: to ``scheduler``, or to a new LocalCluster of
    ``workers`` processes (default: one per core). Everything started here is stopped after."""
    import dask
    from distributed import Client, LocalCluster

    check_options(scheduler, workers)
    if scheduler:
        client = _remote(Client, scheduler)
        cluster = None
    else:
        # The embedded scheduler reads these as it starts; an existing one has its own
        # settings. A saturation of 1 hands a worker its next submission only when it is
        # free (Dask's default, 1.1, queues a second one on it early), so the batch's order
        # holds (see `autograder.grading`).
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                              "distributed.scheduler.worker-saturation": 1.0}):
            cluster = LocalCluster(n_workers=workers or cores(), threads_per_worker=1,
                                   processes=True, silence_logs=logging.ERROR,
                                   dashboard_address=":0")  # any free port, never a clash
        client = Client(cluster)
    try:
        client.register_plugin(WarmUp(), name="autograder-warm-up")
        if _has_bokeh():
            log(f"Dask dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_options(scheduler: str | None, workers: int | None) -> None:
    """Raise ValueError, naming the option, for a cluster that cannot be asked for."""
    if scheduler and workers:
        raise ValueError("--workers sizes the embedded cluster; with --scheduler the cluster's "
                         "own workers grade (start more with `dask worker "
                         f"{scheduler}`): give one of the two")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers {workers}: give at least 1 (default: one per core, "
                         f"{cores()} here)")
    if scheduler is not None and "://" not in scheduler:
        raise ValueError(f"--scheduler {scheduler!r}: write the scheduler's address as "
                         "tcp://HOST:PORT (what `dask scheduler` prints)")


def _remote(client_type, scheduler: str):
    try:
        return client_type(scheduler, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler} ({err}): is "
                           "`dask scheduler` running there, and is its port open from this "
                           "machine?") from None


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def wait_for_workers(client, timeout: int = CONNECT_TIMEOUT_S) -> int:
    """The number of workers, once there is at least one (raise after ``timeout`` seconds)."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise RuntimeError(f"the Dask scheduler at {client.scheduler.address} has no worker "
                           f"after {timeout} s: start some with `dask worker "
                           f"{client.scheduler.address} --nthreads 1`") from None
    return len(client.scheduler_info(n_workers=-1)["workers"])


def host_threads(client) -> dict:
    """{host: worker threads on it}: how many grading kernels share each machine's cores."""
    threads: dict = {}
    for info in client.scheduler_info(n_workers=-1)["workers"].values():
        threads[info["host"]] = threads.get(info["host"], 0) + info["nthreads"]
    return threads


def results(client, tasks: list[dict], sources: dict):
    """Grade each task (`autograder.worker.grade_submission`) on the cluster, the first ones
    first; yield each result as it finishes, also for a task no worker could finish (then
    "refused" or "error").

    ``sources``: {lesson: its nbgrader source notebook's bytes}."""
    from autograder import worker

    # Each task carries its lesson's source notebook (tens of kB, like the submission itself)
    # and depends on nothing: a worker that dies loses no data another task needs, and the
    # scheduler hands the tasks out in the batch's order as workers come free (Dask:
    # the highest priority first).
    common = {"test_code": worker.test_code_digest(), "host_threads": host_threads(client)}
    futures = {client.submit(worker.grade_submission, {**common, **task},
                             sources[task["assignment"]], pure=False,
                             priority=len(tasks) - position,
                             key=f"grade-{task['student']}/{task['assignment']}-"
                                 f"{uuid.uuid4().hex[:8]}"): task
               for position, task in enumerate(tasks)}
    tries = client.run_on_scheduler(_allowed_failures) + 1
    for future in _progress(list(futures), len(futures)):
        yield _outcome(future, futures[future], tries)
        future.release()


def _allowed_failures(dask_scheduler) -> int:
    return dask_scheduler.allowed_failures


def _outcome(future, task: dict, tries: int) -> dict:
    """The task's result, or what stands for it when no worker could finish it."""
    from distributed import KilledWorker

    empty = {"student": task["student"], "assignment": task["assignment"], "worker": None,
             "notes": [], "notebook": None, "scores": {}, "comments": {}, "error": ""}
    try:
        return future.result()
    except KilledWorker:
        return {**empty, "refused": f"KILLS WORKERS: a grading worker's process died each "
                                    f"time it graded this submission ({tries} tries; the "
                                    "submission may kill its parent process or exhaust the "
                                    "machine's memory): not graded; look at it by hand"}
    except Exception as crash:  # the task itself failed: record it and go on with the batch
        return {**empty, "error": f"the grading worker crashed: {crash!r}"}


def _progress(futures, total: int):
    """Yield each future as it finishes, with a progress bar on a terminal."""
    from distributed import as_completed
    from tqdm import tqdm

    with tqdm(total=total, unit="submission", desc="grading", disable=None) as bar:
        for future in as_completed(futures):
            yield future
            bar.update(1)


try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - dask is a dependency; this keeps the bundle importable
    WorkerPlugin = object


class WarmUp(WorkerPlugin):
    """Runs `autograder.worker.warm_up` once in each worker process as it starts."""

    def setup(self, worker):
        from autograder.worker import warm_up

        warm_up()
